"""The lean HTTP/1.1 path of the upstream client against scripted servers on real local sockets.

Each test's server is a plain asyncio stream server that answers with bytes written out by hand,
so keep-alive, framing, compression, stale connections and timeouts are exercised exactly.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from newapi_host.plugins.contracts import UpstreamRequest
from newapi_host.relay.client import (
    UpstreamClient,
    UpstreamConnectError,
    UpstreamDisconnected,
    UpstreamError,
    UpstreamTimeout,
)

from .certs import make_certificate


class Seen:
    """One request as the server received it."""

    def __init__(self, conn: int, head: bytes, body: bytes, reader: asyncio.StreamReader) -> None:
        self.conn = conn
        self.reader = reader
        self.head = head
        self.body = body
        lines = head.decode().split("\r\n")
        self.line = lines[0]
        self.headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if line)}


Handler = Callable[[Seen, asyncio.StreamWriter], Awaitable[bool]]  # False: close the connection


class Upstream:
    """A scripted HTTP/1.1 server: ``handler`` writes each answer; connections are numbered."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.requests: list[Seen] = []
        self.connections = 0
        self.closed: set[int] = set()  # connections the client closed (EOF seen)
        self.release = asyncio.Event()  # set at teardown: stalled handlers finish
        self.port = 0
        self._hangups: dict[int, asyncio.Event] = {}
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Upstream:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release.set()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        conn = self.connections
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    self._hung_up(conn)
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                seen = Seen(conn, head, await reader.readexactly(length), reader)
                self.requests.append(seen)
                if not await self.handler(seen, writer):
                    return
        finally:
            writer.close()

    async def hold(self, seconds: float = 3) -> None:
        try:
            await asyncio.wait_for(self.release.wait(), seconds)
        except TimeoutError:
            pass

    async def until_hangup(self, seen: Seen, seconds: float = 3) -> None:
        """Stall (answering nothing more) until the client closes ``seen``'s connection."""
        try:
            if await asyncio.wait_for(seen.reader.read(), seconds) == b"":
                self._hung_up(seen.conn)
        except TimeoutError:
            pass

    async def wait_closed(self, conn: int, seconds: float = 2) -> bool:
        """Whether the client closes connection ``conn`` within ``seconds``."""
        try:
            await asyncio.wait_for(self._hangup(conn).wait(), seconds)
        except TimeoutError:
            return False
        return True

    def _hangup(self, conn: int) -> asyncio.Event:
        return self._hangups.setdefault(conn, asyncio.Event())

    def _hung_up(self, conn: int) -> None:
        self.closed.add(conn)
        self._hangup(conn).set()


def response(body: bytes = b"ok", status: str = "200 OK", *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts)


async def answer_ok(seen: Seen, writer: asyncio.StreamWriter) -> bool:
    writer.write(response(f"conn {seen.conn}".encode()))
    return True


def get(upstream: Upstream, path: str = "/", **headers: str) -> UpstreamRequest:
    return UpstreamRequest("GET", upstream.url(path), dict(headers))


@pytest.fixture
async def client() -> AsyncIterator[UpstreamClient]:
    async with UpstreamClient(connect_timeout=1, response_timeout=5, idle_timeout=5) as c:
        yield c


async def fetch(client: UpstreamClient, request: UpstreamRequest) -> tuple[int, bytes]:
    async with await client.send(request) as resp:
        return resp.status, await resp.read()


# -- requests and keep-alive ---------------------------------------------------------------------


async def test_request_head_and_keep_alive_reuse(client):
    async with Upstream(answer_ok) as up:
        body = b'{"q": 1}'
        post = UpstreamRequest(
            "post",
            up.url("/v1/chat?x=1"),
            {"Content-Type": "application/json", "Authorization": "Bearer k", "Content-Length": "999"},
            body,
        )
        assert await fetch(client, post) == (200, b"conn 1")
        assert await fetch(client, get(up, "/two", **{"User-Agent": "my-sdk/1.0"})) == (200, b"conn 1")
    first, second = up.requests
    assert first.line == "POST /v1/chat?x=1 HTTP/1.1"
    assert first.headers["host"] == f"127.0.0.1:{up.port}"
    assert first.headers["content-length"] == str(len(body))  # computed, the caller's is dropped
    assert first.body == body
    assert first.headers["user-agent"] == "newapi-gateway"
    assert first.headers["accept-encoding"] == "gzip, deflate"
    assert first.headers["authorization"] == "Bearer k"
    assert second.line == "GET /two HTTP/1.1"
    assert second.headers["user-agent"] == "my-sdk/1.0"
    assert "content-length" not in second.headers
    assert up.connections == 1


async def test_post_without_body_says_so_and_headers_are_case_insensitive(client):
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(b"{}", "201 Created", "X-Upstream-Id: abc", "Set-Cookie: a=1", "Set-Cookie: b=2"))
        return True

    async with Upstream(answer) as up, await client.send(UpstreamRequest("POST", up.url(), {})) as resp:
        assert resp.status == 201
        assert resp.headers["x-upstream-id"] == resp.headers["X-UPSTREAM-ID"] == "abc"
        assert resp.headers.getall("set-cookie") == ["a=1", "b=2"]  # type: ignore[attr-defined]
        assert await resp.read() == b"{}"
    assert up.requests[0].headers["content-length"] == "0"
    assert up.requests[0].headers["content-type"] == "application/octet-stream"


async def test_a_line_break_in_a_header_is_refused_before_sending(client):
    async with Upstream(answer_ok) as up:
        with pytest.raises(UpstreamConnectError) as info:
            await client.send(get(up, "/", **{"X-Evil": "a\r\nX-Injected: 1"}))
    assert "line break" in info.value.message
    assert up.requests == []


async def test_response_with_connection_close_is_not_pooled(client):
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(b"bye", "200 OK", "Connection: close"))
        return True

    async with Upstream(answer) as up:
        assert await fetch(client, get(up)) == (200, b"bye")
        assert await fetch(client, get(up)) == (200, b"bye")
        assert await up.wait_closed(1)
    assert up.connections == 2


async def test_idle_connection_expires_after_keepalive():
    async with Upstream(answer_ok) as up, UpstreamClient(keepalive=0.2) as client:
        assert await fetch(client, get(up)) == (200, b"conn 1")
        assert await up.wait_closed(1, seconds=2)  # closed by the client's sweep, not on next use
        assert await fetch(client, get(up)) == (200, b"conn 2")


# -- bodies --------------------------------------------------------------------------------------


async def test_chunked_body_arrives_incrementally_and_the_connection_is_reused(client):
    last_sent = asyncio.Event()

    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        if seen.line.startswith("GET /again"):
            writer.write(response(b"again"))
            return True
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n")
        for part in (b"one", b"two", b"three"):
            if part == b"three":
                last_sent.set()
            writer.write(chunked(part))
            await writer.drain()
            await asyncio.sleep(0.1)
        writer.write(b"0\r\n\r\n")
        return True

    async with Upstream(answer) as up:
        received: list[bytes] = []
        async with await client.send(get(up, "/stream")) as resp:
            async for chunk in resp.iter_chunks():
                if not received:
                    assert not last_sent.is_set(), "the first chunk was held back until the end"
                received.append(chunk)
        assert b"".join(received) == b"onetwothree"
        assert len(received) >= 2
        assert await fetch(client, get(up, "/again")) == (200, b"again")
    assert up.connections == 1


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate"])
async def test_compressed_bodies_are_decoded(client, coding):
    text = b"compressible " * 500
    wbits = {"gzip": 31, "deflate": 15, "raw-deflate": -15}[coding]
    packer = zlib.compressobj(wbits=wbits)
    packed = packer.compress(text) + packer.flush()
    encoding = "gzip" if coding == "gzip" else "deflate"

    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        if seen.line.startswith("GET /chunked"):
            writer.write(
                f"HTTP/1.1 200 OK\r\nContent-Encoding: {encoding}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            )
            writer.write(chunked(packed[:10], packed[10:]) + b"0\r\n\r\n")
        else:
            writer.write(response(packed, "200 OK", f"Content-Encoding: {encoding}"))
        return True

    async with Upstream(answer) as up:
        for path in ("/whole", "/chunked"):
            async with await client.send(get(up, path)) as resp:
                assert resp.headers["Content-Encoding"] == encoding
                assert await resp.read() == text


async def test_a_compressed_body_expands_at_the_readers_pace(client):
    size = 32 * 1024 * 1024
    packer = zlib.compressobj(wbits=31)
    bomb = packer.compress(bytes(size)) + packer.flush()  # 32 MiB of zeros in about 32 KiB

    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(bomb, "200 OK", "Content-Encoding: gzip"))
        return True

    async with Upstream(answer) as up:
        async with await client.send(get(up)) as resp:
            largest = total = 0
            async for chunk in resp.iter_chunks():
                largest, total = max(largest, len(chunk)), total + len(chunk)
        assert total == size
        assert largest <= 256 * 1024  # never the whole expansion at once
        async with await client.send(get(up)) as resp:
            with pytest.raises(UpstreamError) as info:
                await resp.read(limit=1024 * 1024)
        assert "larger than 1048576 bytes" in info.value.message


async def test_corrupt_gzip_is_a_broken_body(client):
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(b"not gzip at all", "200 OK", "Content-Encoding: gzip"))
        return True

    async with Upstream(answer) as up, await client.send(get(up)) as resp:
        with pytest.raises(UpstreamDisconnected):
            await resp.read()


async def test_body_until_close(client):
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst ")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"and last")
        return False  # the close ends the body

    async with Upstream(answer) as up:
        assert await fetch(client, get(up)) == (200, b"first and last")
        assert await fetch(client, get(up)) == (200, b"first and last")
    assert up.connections == 2


async def test_interim_head_and_bodiless_answers(client):
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        if seen.line.startswith("HEAD"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
        elif seen.line.startswith("GET /204"):
            writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        elif seen.line.startswith("GET /304"):
            writer.write(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
            writer.write(response(b"final", "200 OK", "X-Final: yes"))
        return True

    async with Upstream(answer) as up:
        async with await client.send(get(up, "/interim")) as resp:
            assert (resp.status, resp.headers.get("X-Final"), resp.headers.get("Link")) == (200, "yes", None)
            assert await resp.read() == b"final"
        async with await client.send(UpstreamRequest("HEAD", up.url("/"), {})) as resp:
            assert resp.headers["Content-Length"] == "1234"
            assert await resp.read() == b""
        for path in ("/204", "/304"):
            async with await client.send(get(up, path)) as resp:
                assert await resp.read() == b""
        assert await fetch(client, get(up, "/interim")) == (200, b"final")
    # the HEAD's connection is closed (its body framing cannot be trusted); 204 and 304 keep theirs
    assert [seen.conn for seen in up.requests] == [1, 1, 2, 2, 2]


async def test_large_body_with_flow_control(client):
    big = bytes(range(256)) * 8192  # 2 MiB: reading pauses and resumes the socket

    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(big))
        return True

    async with Upstream(answer) as up, await client.send(get(up)) as resp:
        parts = []
        async for chunk in resp.iter_chunks():
            parts.append(chunk)
            await asyncio.sleep(0)
        assert b"".join(parts) == big


@pytest.mark.parametrize("kind", ["not http", "too many headers", "endless head"])
async def test_invalid_response(client, kind):
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        if kind == "not http":
            writer.write(b"SMTP ready, not HTTP\r\n\r\n")
        elif kind == "too many headers":
            writer.write(response(b"", "200 OK", *(f"X-{i}: {i}" for i in range(200))))
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 300_000)
        return True

    async with Upstream(answer) as up:
        with pytest.raises(UpstreamError) as info:
            await client.send(get(up))
    assert info.value.message == "upstream sent an invalid HTTP response"


# -- broken and stale connections ----------------------------------------------------------------


def stale_after_first() -> Handler:
    """Answers connection 1's first request, then closes it on its next request unanswered
    (the race of a server closing an idle keep-alive connection just as the client reuses it)."""
    answered: list[int] = []

    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        if seen.conn == 1 and answered:
            return False
        answered.append(seen.conn)
        writer.write(response(f"conn {seen.conn}".encode()))
        return True

    return answer


async def test_stale_pooled_connection_is_retried_once_for_idempotent_methods(client):
    async with Upstream(stale_after_first()) as up:
        assert await fetch(client, get(up)) == (200, b"conn 1")
        assert await fetch(client, get(up)) == (200, b"conn 2")  # sent again on a new connection
    assert [s.conn for s in up.requests] == [1, 1, 2]


async def test_stale_pooled_connection_is_not_retried_for_post(client):
    async with Upstream(stale_after_first()) as up:
        assert await fetch(client, get(up)) == (200, b"conn 1")
        with pytest.raises(UpstreamDisconnected) as info:
            await client.send(UpstreamRequest("POST", up.url(), {}, b"{}"))  # it may have been acted on
        assert info.value.message == "upstream closed the connection before responding"
        assert await fetch(client, get(up)) == (200, b"conn 2")
    assert [s.conn for s in up.requests] == [1, 1, 2]


async def test_fresh_connection_closed_unanswered_is_not_retried(client):
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        return False

    async with Upstream(answer) as up:
        with pytest.raises(UpstreamDisconnected):
            await client.send(get(up))
    assert len(up.requests) == 1


async def test_server_closing_an_idle_connection_is_noticed_before_reuse(client):
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(f"conn {seen.conn}".encode()))
        await writer.drain()
        return False  # keep-alive promised, then closed while idle

    async with Upstream(answer) as up:
        assert await fetch(client, get(up)) == (200, b"conn 1")
        await asyncio.sleep(0.05)
        assert await fetch(client, UpstreamRequest("POST", up.url(), {}, b"x")) == (200, b"conn 2")
    assert [s.conn for s in up.requests] == [1, 2]


@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_connection_dropped_mid_body(client, framing):
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        if framing == "length":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"partial"))
        await writer.drain()
        await asyncio.sleep(0.05)
        return False

    async with Upstream(answer) as up, await client.send(get(up)) as resp:
        with pytest.raises(UpstreamDisconnected) as info:
            await resp.read()
    assert info.value.message == "upstream connection broke before the response was complete"


async def test_half_read_stream_closes_its_connection(client):
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        if seen.line.startswith("GET /stream"):
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"first"))
            await writer.drain()
            await up.until_hangup(seen)
            return False
        writer.write(response(f"conn {seen.conn}".encode()))
        return True

    async with Upstream(answer) as up:
        resp = await client.send(get(up, "/stream"))
        assert await anext(resp.iter_chunks()) == b"first"
        await resp.close()
        await resp.close()  # idempotent
        assert await up.wait_closed(1)
        assert await fetch(client, get(up)) == (200, b"conn 2")
        assert await fetch(client, get(up)) == (200, b"conn 2")


async def test_reading_after_close_never_reads_another_response(client):
    async with Upstream(answer_ok) as up:
        resp = await client.send(get(up))
        chunks = resp.iter_chunks()
        assert await anext(chunks) == b"conn 1"
        await resp.close()  # complete: the connection goes back to the pool
        assert await fetch(client, get(up)) == (200, b"conn 1")
        with pytest.raises(StopAsyncIteration):
            await anext(chunks)


# -- timeouts ------------------------------------------------------------------------------------


async def test_response_timeout_closes_the_connection(client):
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        if seen.line.startswith("GET /slow"):
            await up.until_hangup(seen)
            return False
        writer.write(response(f"conn {seen.conn}".encode()))
        return True

    async with Upstream(answer) as up:
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout) as info:
            await client.send(get(up, "/slow"), response_timeout=0.2)
        assert 0.2 <= time.monotonic() - started < 1.5
        assert info.value.message == "upstream sent no response within 0.2s"
        assert await up.wait_closed(1)
        assert await fetch(client, get(up)) == (200, b"conn 2")


async def test_idle_timeout_between_body_bytes(client):
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfive ")
        await up.hold()
        return False

    async with Upstream(answer) as up, await client.send(get(up), idle_timeout=0.2) as resp:
        chunks = resp.iter_chunks()
        assert await anext(chunks) == b"five "
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout) as info:
            await anext(chunks)
        assert 0.2 <= time.monotonic() - started < 1.5
        assert info.value.message == "upstream sent no data for 0.2s"


async def test_limit_makes_requests_wait_and_the_connect_timeout_bounds_the_wait():
    gate = asyncio.Event()  # set by the test: the held response's body may end

    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        if seen.line.startswith("GET /stream"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhal")
            await writer.drain()
            await gate.wait()
            writer.write(b"f.")
            return True
        writer.write(response(f"conn {seen.conn}".encode()))
        return True

    async with Upstream(answer) as up, UpstreamClient(limit=1, connect_timeout=0.5) as client:
        held = await client.send(get(up, "/stream"))
        started = time.monotonic()
        with pytest.raises(UpstreamConnectError) as info:
            await client.send(get(up))  # no slot within the connect timeout
        assert info.value.message == "timed out connecting to upstream after 0.5s"
        assert 0.5 <= time.monotonic() - started < 1.5

        waiting = asyncio.ensure_future(fetch(client, get(up)))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        gate.set()
        assert await held.read() == b"half."
        await held.close()  # its slot and connection go to the waiting request
        assert await asyncio.wait_for(waiting, 1) == (200, b"conn 1")
    assert up.connections == 1


async def test_limit_per_host_waits_per_origin():
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(seen.headers["host"].encode()))
        return True

    async with Upstream(answer) as up, UpstreamClient(limit_per_host=1, connect_timeout=0.3) as client:
        held = await client.send(get(up))
        other = UpstreamRequest("GET", up.url("/", host="localhost"), {})
        assert await fetch(client, other) == (200, f"localhost:{up.port}".encode())  # another origin
        with pytest.raises(UpstreamConnectError):
            await client.send(get(up))
        assert await held.read() == f"127.0.0.1:{up.port}".encode()
        await held.close()
        assert await fetch(client, get(up)) == (200, f"127.0.0.1:{up.port}".encode())


async def test_header_values_are_trimmed_and_credentials_in_the_url_still_work(client):
    async def answer(seen: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(response(seen.headers.get("authorization", "none").encode(), "200 OK", "X-Padded: value \t "))
        return True

    async with Upstream(answer) as up:
        async with await client.send(get(up)) as resp:
            assert resp.headers["X-Padded"] == "value"
        with_credentials = UpstreamRequest("GET", f"http://user:pass@127.0.0.1:{up.port}/", {})
        assert await fetch(client, with_credentials) == (200, b"Basic dXNlcjpwYXNz")  # sent by aiohttp


async def test_connect_errors(client):
    with pytest.raises(UpstreamConnectError) as info:
        await client.send(UpstreamRequest("GET", "http://upstream.invalid/v1", {}))
    assert info.value.message == "could not resolve the upstream host"
    with pytest.raises(UpstreamConnectError) as info:
        await client.send(UpstreamRequest("GET", "ftp://example.com/v1", {}))
    assert info.value.message == "the upstream URL is not a valid http(s) URL"


# -- TLS -----------------------------------------------------------------------------------------


def tls_server_context(folder: Path, names: list[str]) -> ssl.SSLContext:
    """A server context with a self-signed certificate for localhost and 127.0.0.1, noting SNI."""
    cert_file, key_file = make_certificate(folder, "127.0.0.1", stem="upstream")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    context.sni_callback = lambda sock, server_name, ctx: names.append(server_name)
    return context


async def test_tls_with_and_without_verification(tmp_path):
    names: list[str] = []
    async with Upstream(answer_ok, tls=tls_server_context(tmp_path, names)) as up:
        request = UpstreamRequest("GET", up.url("/", host="localhost"), {})
        async with UpstreamClient(verify_tls=False) as client:
            assert await fetch(client, request) == (200, b"conn 1")
            assert await fetch(client, request) == (200, b"conn 1")  # kept alive over TLS too
        assert names == ["localhost"]  # SNI is the URL's host
        async with UpstreamClient(verify_tls=True) as client:
            with pytest.raises(UpstreamConnectError) as info:
                await client.send(request)
        assert info.value.message == "the upstream TLS certificate failed verification"
