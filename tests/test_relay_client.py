"""The upstream client against a real local aiohttp server on 127.0.0.1 (no external network)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from newapi_host.plugins.contracts import UpstreamRequest
from newapi_host.relay.client import (
    UpstreamClient,
    UpstreamConnectError,
    UpstreamDisconnected,
    UpstreamError,
    UpstreamTimeout,
)

from .conftest import free_port

RELEASE = web.AppKey("release", asyncio.Event)  # set at teardown: stalled handlers finish
LAST_CHUNK = web.AppKey("last_chunk", asyncio.Event)  # set just before /stream sends its last chunk


def peer_port(request: web.Request) -> int:
    return request.transport.get_extra_info("peername")[1]


async def hold(request: web.Request, seconds: float = 3) -> None:
    try:
        await asyncio.wait_for(request.app[RELEASE].wait(), seconds)
    except TimeoutError:
        pass


async def echo(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "method": request.method,
            "path": request.path,
            "body": (await request.read()).decode(),
            "user_agent": request.headers.get("User-Agent"),
            "port": peer_port(request),
        },
        headers={"X-Upstream-Id": "abc"},
        status=201,
    )


async def stream(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse()
    await resp.prepare(request)
    for i, part in enumerate((b"one", b"two", b"three")):
        if i:
            await asyncio.sleep(0.1)
        if i == 2:
            request.app[LAST_CHUNK].set()
        await resp.write(part)
    await resp.write_eof()
    return resp


async def stall(request: web.Request) -> web.StreamResponse:
    """Send the connection's port as a first chunk, then stall mid-body."""
    resp = web.StreamResponse()
    await resp.prepare(request)
    await resp.write(str(peer_port(request)).encode())
    await hold(request)
    return resp


async def drop_chunked(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse()
    await resp.prepare(request)
    await resp.write(b"partial")
    await asyncio.sleep(0.05)
    request.transport.close()
    return resp


async def drop_short(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse()
    resp.content_length = 100
    await resp.prepare(request)
    await resp.write(b"only ten b")
    await asyncio.sleep(0.05)
    request.transport.close()
    return resp


async def slow_headers(request: web.Request) -> web.Response:
    await hold(request)
    return web.Response(text="late")


async def big(request: web.Request) -> web.Response:
    return web.Response(body=b"x" * 1000)


async def gzipped(request: web.Request) -> web.Response:
    resp = web.Response(body=b"compressible " * 200)
    resp.enable_compression(web.ContentCoding.gzip)
    return resp


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    app = web.Application()
    app[RELEASE] = asyncio.Event()
    app[LAST_CHUNK] = asyncio.Event()
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/stream", stream)
    app.router.add_get("/stall", stall)
    app.router.add_get("/drop-chunked", drop_chunked)
    app.router.add_get("/drop-short", drop_short)
    app.router.add_get("/slow-headers", slow_headers)
    app.router.add_get("/big", big)
    app.router.add_get("/gzip", gzipped)
    srv = TestServer(app, host="127.0.0.1")
    await srv.start_server()
    yield srv
    app[RELEASE].set()
    await srv.close()


@pytest.fixture
async def client() -> AsyncIterator[UpstreamClient]:
    async with UpstreamClient(connect_timeout=1, response_timeout=5, idle_timeout=5) as c:
        yield c


def get(server: TestServer, path: str, **headers: str) -> UpstreamRequest:
    return UpstreamRequest("GET", str(server.make_url(path)), dict(headers))


async def test_status_headers_and_body(server, client):
    req = UpstreamRequest("POST", str(server.make_url("/echo")), {"Content-Type": "application/json"}, b'{"q": 1}')
    async with await client.send(req) as resp:
        assert resp.status == 201
        assert resp.headers["x-upstream-id"] == "abc"
        assert resp.headers["X-UPSTREAM-ID"] == "abc"
        assert resp.headers["Content-Type"].startswith("application/json")
        body = await resp.read()
    assert b'"method": "POST"' in body
    assert b'"body": "{\\"q\\": 1}"' in body
    assert b'"user_agent": "newapi-gateway"' in body


async def test_plugin_user_agent_wins(server, client):
    async with await client.send(get(server, "/echo", **{"User-Agent": "my-sdk/1.0"})) as resp:
        assert b'"user_agent": "my-sdk/1.0"' in await resp.read()


async def test_gzip_is_decompressed(server, client):
    async with await client.send(get(server, "/gzip")) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        assert await resp.read() == b"compressible " * 200


async def test_chunks_arrive_incrementally(server, client):
    last_chunk = server.app[LAST_CHUNK]
    received: list[bytes] = []
    async with await client.send(get(server, "/stream")) as resp:
        async for chunk in resp.iter_chunks():
            if not received:
                assert not last_chunk.is_set(), "first chunk arrived only after the last was sent"
            received.append(chunk)
    assert b"".join(received) == b"onetwothree"
    assert len(received) >= 2


async def test_idle_timeout_mid_body(server, client):
    started = time.monotonic()
    async with await client.send(get(server, "/stall"), idle_timeout=0.2) as resp:
        chunks = resp.iter_chunks()
        assert (await anext(chunks)).isdigit()
        with pytest.raises(UpstreamTimeout) as info:
            await anext(chunks)
    assert "0.2s" in info.value.message
    assert time.monotonic() - started < 1.5


async def test_client_default_idle_timeout_applies_to_read(server):
    async with UpstreamClient(idle_timeout=0.2) as client, await client.send(get(server, "/stall")) as resp:
        with pytest.raises(UpstreamTimeout):
            await resp.read()


@pytest.mark.parametrize("path", ["/drop-chunked", "/drop-short"])
async def test_connection_closed_mid_body(server, client, path):
    async with await client.send(get(server, path)) as resp:
        assert resp.status == 200
        with pytest.raises(UpstreamDisconnected) as info:
            await resp.read()
    assert info.value.message


async def test_connection_refused(client):
    req = UpstreamRequest("GET", f"http://127.0.0.1:{free_port()}/v1/chat", {})
    with pytest.raises(UpstreamConnectError) as info:
        await client.send(req)
    assert info.value.message == "upstream refused the connection"


async def test_response_timeout_before_headers(server, client):
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout) as info:
        await client.send(get(server, "/slow-headers"), response_timeout=0.2)
    assert time.monotonic() - started < 1.5
    assert "0.2s" in info.value.message
    # the client is still usable afterwards
    async with await client.send(get(server, "/echo")) as resp:
        assert resp.status == 201


async def test_read_limit(server, client):
    async with await client.send(get(server, "/big")) as resp:
        with pytest.raises(UpstreamError) as info:
            await resp.read(limit=100)
    assert "100 bytes" in info.value.message
    async with await client.send(get(server, "/big")) as resp:
        assert len(await resp.read(limit=1000)) == 1000


async def test_partial_read_does_not_poison_the_pool(server):
    # One connection in the pool: a leaked connection would make the next request wait for a slot.
    async with UpstreamClient(limit=1, connect_timeout=1) as client:
        resp = await client.send(get(server, "/stall"))
        stalled_port = int(await anext(resp.iter_chunks()))
        await resp.close()
        await resp.close()  # idempotent

        async with await client.send(get(server, "/echo")) as resp:
            first = await resp.read()
        async with await client.send(get(server, "/echo")) as resp:
            second = await resp.read()

    port = int(first.split(b'"port": ')[1].split(b"}")[0])
    assert port != stalled_port  # the half-read connection was closed, not reused
    assert f'"port": {port}'.encode() in second  # a fully read one goes back to the pool


async def test_socks_proxy_is_rejected_clearly(server, client):
    with pytest.raises(UpstreamConnectError) as info:
        await client.send(get(server, "/echo"), proxy="socks5://user:secret@127.0.0.1:1080")
    assert info.value.message.startswith("socks proxies are not supported yet")
    assert "secret" not in info.value.message


async def test_http_proxy_is_used(server, client):
    # The test server plays the proxy: aiohttp sends it the absolute URL of an unresolvable host.
    req = UpstreamRequest("GET", "http://upstream.invalid/echo", {})
    async with await client.send(req, proxy=str(server.make_url("/"))) as resp:
        assert resp.status == 201
        assert b'"path": "/echo"' in await resp.read()


async def test_unreachable_proxy(client):
    req = UpstreamRequest("GET", "http://upstream.invalid/echo", {})
    with pytest.raises(UpstreamConnectError) as info:
        await client.send(req, proxy=f"http://127.0.0.1:{free_port()}")
    assert "proxy" in info.value.message


async def test_send_requires_start(server):
    with pytest.raises(RuntimeError):
        await UpstreamClient().send(get(server, "/echo"))
