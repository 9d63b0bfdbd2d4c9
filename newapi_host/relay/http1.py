"""A lean HTTP/1.1 client: the relay's ordinary upstream sends (no proxy, no fetch guard).

Why it exists: a CPU profile of the in-process relay put aiohttp's request and response machinery
at 35-40% of the gateway's CPU per relayed request (session and request objects, header
preparation, response start, stream readers, timers). An upstream call needs far less: write one
request, parse one response with llhttp (``httptools``), hand the body over as it arrives. This
module does that and nothing else; :mod:`newapi_host.relay.client` keeps aiohttp for the rare
sends it does not cover (proxies, guarded sends, URLs with credentials) and maps the errors
raised here to its own.

What it promises (the client's docstrings are the contract):

* one keep-alive pool per (scheme, host, port); ``limit`` caps connections in use in all,
  ``limit_per_host`` per origin (0 = no cap), an idle connection stays ``keepalive`` seconds;
* a connection goes back to the pool only after a complete body and only when the response
  allows keep-alive; anything else (half-read, failed, HEAD, read-until-close) closes it;
* a request that finds its pooled connection closed by the server before any byte of the
  response arrived is sent once more on a new connection: for idempotent methods only, as
  aiohttp does (a POST that may have reached the upstream is never sent twice), unless nothing
  of it had been written yet;
* bodies framed by Content-Length, chunked or connection close; gzip and deflate decoded at the
  reader's pace; 1xx interim responses skipped; 204, 304 and HEAD answers have no body.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import zlib
from collections import deque
from collections.abc import Mapping
from typing import Any

import aiohappyeyeballs
import httptools
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

__all__ = [
    "IDEMPOTENT",
    "BadResponse",
    "ConnectFailed",
    "Connection",
    "Disconnected",
    "InvalidRequest",
    "Pool",
    "Target",
    "request_head",
]

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
ACCEPT_ENCODING = "gzip, deflate"  # what this module decodes
HIGH_WATER = 256 * 1024  # buffered body bytes that pause reading from the socket
HEAD_LIMIT = 256 * 1024  # bytes a response may send before its head is complete
MAX_HEADERS = 128  # as aiohttp
DNS_TTL = 300.0
HAPPY_EYEBALLS_DELAY = 0.25  # aiohttp's default: the next address is tried after 250 ms
_AI_ADDRCONFIG = socket.AI_ADDRCONFIG & getattr(socket, "AI_MASK", ~0)
_GET_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # get a default Content-Type, as aiohttp does
_FRAMING = frozenset({"content-length", "transfer-encoding"})  # always computed here
_TARGETS_MAX = 1024


class InvalidRequest(ValueError):
    """The URL or a header cannot be sent (not http(s), no host, a line break in a header)."""


class ConnectFailed(Exception):
    """No connection; ``kind`` says why: dns, refused, certificate, tls or other."""

    def __init__(self, kind: str, cause: BaseException | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.__cause__ = cause


class Disconnected(Exception):
    """The connection closed or broke before the response (or its body) was complete."""


class BadResponse(Exception):
    """The upstream's bytes are not a valid HTTP/1.1 response (or not valid gzip/deflate)."""


# -- requests -----------------------------------------------------------------------------------


class Target:
    """Where a URL is sent: the pool key, the address to connect to and the request line parts."""

    __slots__ = ("key", "host", "port", "tls", "host_header", "path")

    def __init__(self, url: URL) -> None:
        scheme = url.scheme
        host = url.raw_host
        if scheme not in ("http", "https") or not host:
            raise InvalidRequest("not an http(s) URL with a host")
        port = url.port or (443 if scheme == "https" else 80)
        self.key = (scheme, host, port)
        self.host = host.rstrip(".") or host
        self.port = port
        self.tls = scheme == "https"
        netloc = (url.host_subcomponent or host).rstrip(".")
        self.host_header = netloc if url.is_default_port() else f"{netloc}:{port}"
        self.path = url.raw_path_qs or "/"


_targets: dict[str, Target | None] = {}


def target_of(url: str) -> Target | None:
    """The parsed target of ``url`` (cached: relays send to few distinct URLs); None if it has
    credentials in it, which this module leaves to aiohttp. Raises :class:`InvalidRequest`."""
    target = _targets.get(url)
    if target is not None or url in _targets:
        return target
    try:
        parsed = URL(url)
    except (ValueError, TypeError) as exc:
        raise InvalidRequest(str(exc)) from exc
    target = None if parsed.raw_user is not None or parsed.raw_password is not None else Target(parsed)
    if len(_targets) >= _TARGETS_MAX:
        _targets.clear()
    _targets[url] = target
    return target


def request_head(method: str, target: Target, headers: Mapping[str, str], body_size: int | None, agent: str) -> bytes:
    """The request line and headers, as aiohttp would send them.

    The caller's headers win over the defaults (Accept, Accept-Encoding, User-Agent, Host);
    Content-Length is always computed from the body, never taken from the caller.
    """
    lines = [f"{method} {target.path} HTTP/1.1", f"Host: {target.host_header}"]
    seen: set[str] = set()
    for name, value in headers.items():
        lower = name.lower()
        if lower in _FRAMING:
            continue
        if lower == "host":
            lines[1] = f"Host: {value}"
            continue
        seen.add(lower)
        lines.append(f"{name}: {value}")
    if "accept" not in seen:
        lines.append("Accept: */*")
    if "accept-encoding" not in seen:
        lines.append(f"Accept-Encoding: {ACCEPT_ENCODING}")
    if "user-agent" not in seen:
        lines.append(f"User-Agent: {agent}")
    if body_size is not None:
        lines.append(f"Content-Length: {body_size}")
    elif method not in _GET_METHODS:
        lines.append("Content-Length: 0")
    if method in _BODY_METHODS and "content-type" not in seen:
        lines.append("Content-Type: application/octet-stream")
    text = "\r\n".join(lines) + "\r\n\r\n"
    breaks = len(lines) + 1
    if text.count("\n") != breaks or text.count("\r") != breaks:
        raise InvalidRequest("a header name or value contains a line break")
    return text.encode()


# -- one connection ----------------------------------------------------------------------------


class _Inflater:
    """Decodes a gzip or deflate body at the reader's pace, at most :data:`HIGH_WATER` bytes a
    call (as aiohttp bounds it), so a small compressed body cannot expand in memory all at once."""

    __slots__ = ("encoding", "done", "_zlib", "_tail")

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self.done = False  # the compressed body is complete and was decoded to its end
        # deflate is zlib-wrapped or raw, known from its first byte
        self._zlib: Any = None if encoding == "deflate" else zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._tail = b""  # compressed bytes not decoded yet

    def pending(self) -> bool:
        return bool(self._tail)

    def decode(self, data: bytes, *, last: bool) -> bytes:
        """Decode what is pending and then ``data``; ``last`` when no more compressed bytes come."""
        if self.done:
            return b""
        if self._tail:
            data = self._tail + data
        if self._zlib is None:
            if not data:
                self.done = last
                return b""
            raw = (data[0] & 0x0F) != 8
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
        try:
            out = self._zlib.decompress(data, HIGH_WATER)
            self._tail = self._zlib.unconsumed_tail
            if last and not self._tail and not self.done:
                self.done = True
                out += self._zlib.flush()
                if self.encoding == "deflate" and not self._zlib.eof:
                    raise BadResponse("the deflate body is truncated")
        except zlib.error as exc:
            raise BadResponse("the body is not valid gzip/deflate") from exc
        return out


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class Connection(asyncio.Protocol):
    """One TCP (or TLS) connection carrying one request and response at a time.

    The parser's callbacks fill in the response: ``status``/``headers`` when the head is complete,
    body bytes in ``_chunks`` until ``complete``; ``error`` is set when it cannot finish. Waiters
    are woken with a result and look at that state; only a timer sets an exception on one.
    """

    def __init__(self, key: tuple[str, str, int], loop: asyncio.AbstractEventLoop) -> None:
        self.key = key
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        # The leniencies aiohttp's parser uses for responses: real upstreams are not all strict.
        self.parser.set_dangerous_leniencies(
            lenient_headers=True, lenient_optional_cr_before_lf=True, lenient_spaces_after_chunk_size=True
        )
        self.open = False
        self.idle_since = 0.0
        self.lost_callback: Any = None
        self._begin(False)

    def _begin(self, head_only: bool) -> None:
        self.active = False
        self.head_only = head_only
        self.sent = False  # the request was handed to the transport
        self.received = False  # any byte of the response arrived
        self._head_size = 0
        self.final = False  # the final (non-1xx) head arrived
        self.complete = False
        self.keep_alive = False
        self.until_close = False
        self.error: BaseException | None = None
        self.status = 0
        self.headers: CIMultiDictProxy[str] | None = None
        self._raw: list[tuple[str, str]] = []
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._paused = False
        self._inflater: _Inflater | None = None
        self._waiter: asyncio.Future[None] | None = None

    # sending

    def send(self, data: bytes, body: Any, head_only: bool) -> None:
        """Write one request (``data`` is its head); the response is read as it arrives."""
        self._begin(head_only)
        self.active = True
        transport = self.transport
        assert transport is not None
        if transport.is_closing():  # closed between the pool's check and now: nothing is sent
            self._fail(Disconnected("the connection was closing"))
            return
        self.sent = True
        if body is None:
            transport.write(data)
        elif len(body) <= 65536:
            transport.write(data + body)  # one segment for the usual small JSON body
        else:
            transport.write(data)
            transport.write(body)

    async def wait(self, deadline: float) -> None:
        """Wait until the parser reports progress; TimeoutError at ``deadline`` (loop time).

        One future and one timer handle: far cheaper than a timeout context per wait.
        """
        waiter = self._waiter = self.loop.create_future()
        timer = self.loop.call_at(deadline, _expire, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None

    def take(self) -> bytes:
        """The body bytes available now, decoded (b"" when none); resumes reading if it was paused.

        Raises :class:`BadResponse` when the body does not decode.
        """
        chunks = self._chunks
        data = b""
        if chunks:
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            chunks.clear()
            self._buffered = 0
        inflater = self._inflater
        if inflater is not None:
            try:
                data = inflater.decode(data, last=self.complete)
            except BadResponse as exc:
                self._fail(exc)
                raise
            if inflater.pending():
                return data  # reading stays paused until the reader has caught up
        if self._paused:
            self._paused = False
            if self.transport is not None:
                self.transport.resume_reading()
        return data

    def drained(self) -> bool:
        """The whole body arrived and was taken."""
        return (
            self.complete
            and self.error is None
            and not self._chunks
            and (self._inflater is None or self._inflater.done)
        )

    def reusable(self) -> bool:
        return self.keep_alive and self.open and self.drained()

    def close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.open = True

    def data_received(self, data: bytes) -> None:
        if not self.active or self.complete or self.error is not None:
            self.close()  # bytes nobody asked for: this connection cannot be trusted again
            return
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # a 101: the connection no longer speaks HTTP
            if self.complete:
                self.keep_alive = False
            else:
                self._finish(keep_alive=False)
        except Exception as exc:  # noqa: BLE001 - a parser or decoder error, from inside a callback too
            if self.complete:
                self.close()  # bytes after a complete response: the response stands, the connection goes
            else:
                self._fail(BadResponse(str(exc)))
        if not self.final:  # all bytes so far belong to the head, which the parser is holding
            self._head_size += len(data)
            if self._head_size > HEAD_LIMIT:
                self._fail(BadResponse("the response head is too large"))

    def eof_received(self) -> bool:
        return False  # close the transport; connection_lost settles the response

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if self.active and not self.complete and self.error is None:
            if self.final and self.until_close and exc is None:  # the close is the end of this body
                self._finish(keep_alive=False)
            else:
                self._fail(Disconnected("connection closed before the response was complete"))
        if self.lost_callback is not None:
            self.lost_callback(self)

    def pause_writing(self) -> None:
        """The request is written at once from memory: nothing to hold back."""

    def resume_writing(self) -> None:
        """See :meth:`pause_writing`."""

    # parser callbacks

    def on_message_begin(self) -> None:
        if self.final:  # a second response to one request: stop parsing (data_received closes)
            raise BadResponse("unexpected data after the response")
        self._raw = []

    def on_header(self, name: bytes, value: bytes) -> None:
        raw = self._raw
        if len(raw) >= MAX_HEADERS:
            raise BadResponse("too many response headers")
        # llhttp strips the whitespace before a value, not after it (aiohttp strips both).
        raw.append((name.decode("utf-8", "surrogateescape"), value.rstrip(b" \t").decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            return  # an interim response (100 Continue, 103 Early Hints): the real one follows
        self.final = True
        self.status = status
        headers = self.headers = CIMultiDictProxy(CIMultiDict(self._raw))
        if self.head_only:
            self._finish(keep_alive=False)  # llhttp would wait for a body HEAD never gets
            return
        if status not in (204, 304):
            chunked = headers.get("Transfer-Encoding", "").lower().endswith("chunked")
            self.until_close = not chunked and "Content-Length" not in headers
            encoding = headers.get("Content-Encoding", "").strip().lower()
            if encoding in ("gzip", "x-gzip", "deflate"):
                self._inflater = _Inflater(encoding)
        _wake(self._waiter)

    def on_body(self, body: bytes) -> None:
        if self.error is not None or self.complete:
            return
        self._chunks.append(body)  # compressed bodies are decoded by take(), at the reader's pace
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        _wake(self._waiter)

    def on_message_complete(self) -> None:
        if not self.final or self.complete or self.error is not None:
            return  # the end of an interim response, or of one already settled
        self._finish(keep_alive=self.parser.should_keep_alive())

    # settling

    def _finish(self, *, keep_alive: bool) -> None:
        self.complete = True
        self.keep_alive = keep_alive
        _wake(self._waiter)

    def _fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self.close()
        _wake(self._waiter)


# -- the pool ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=2)
def _tls_context(verify: bool) -> ssl.SSLContext:
    """As aiohttp makes them: the system's CAs and host name checks, or no checks at all.

    Made once per process (as aiohttp does): loading the system's CAs takes about 50 ms.
    """
    if verify:
        context = ssl.create_default_context()
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.options |= ssl.OP_NO_COMPRESSION
        context.set_default_verify_paths()
    context.set_alpn_protocols(["http/1.1"])
    return context


def _connect_kind(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return "dns"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "certificate"
    if isinstance(exc, ssl.SSLError):
        return "tls"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    return "other"


class Pool:
    """Keep-alive connections per (scheme, host, port), with slots for ``limit``/``limit_per_host``.

    A slot is held from the moment a request picks a connection until its response is released;
    idle pooled connections hold none (as in aiohttp). A freed slot is handed straight to the
    oldest waiter that may use it, so waiting has no thundering herd and no lost wake-ups.
    """

    def __init__(self, *, limit: int, limit_per_host: int, keepalive: float, verify_tls: bool) -> None:
        self.loop = asyncio.get_running_loop()
        self.limit = limit
        self.limit_per_host = limit_per_host
        self.keepalive = keepalive
        self._tls = _tls_context(verify_tls)
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self._in_use = 0
        self._per_host: dict[tuple[str, str, int], int] = {}
        self._waiters: dict[tuple[str, str, int], deque[asyncio.Future[None]]] = {}
        self._all: set[Connection] = set()
        self._dns: dict[tuple[str, int], tuple[float, list[Any]]] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False

    # slots

    def _has_room(self, key: tuple[str, str, int]) -> bool:
        if self.limit and self._in_use >= self.limit:
            return False
        return not self.limit_per_host or self._per_host.get(key, 0) < self.limit_per_host

    def _take_slot(self, key: tuple[str, str, int]) -> None:
        self._in_use += 1
        self._per_host[key] = self._per_host.get(key, 0) + 1

    def _free_slot(self, key: tuple[str, str, int]) -> None:
        self._in_use -= 1
        left = self._per_host[key] - 1
        if left:
            self._per_host[key] = left
        else:
            del self._per_host[key]
        if self._waiters:
            self._hand_over()

    def _hand_over(self) -> None:
        for key in list(self._waiters):
            queue = self._waiters[key]
            while queue and self._has_room(key):
                waiter = queue.popleft()
                if not waiter.done():
                    self._take_slot(key)
                    waiter.set_result(None)
            if not queue:
                del self._waiters[key]

    async def _wait_for_slot(self, key: tuple[str, str, int]) -> None:
        if key not in self._waiters and self._has_room(key):
            self._take_slot(key)
            return
        waiter = self.loop.create_future()
        self._waiters.setdefault(key, deque()).append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._free_slot(key)  # it was handed a slot just as it gave up
            else:
                queue = self._waiters.get(key)
                if queue is not None and waiter in queue:
                    queue.remove(waiter)
                    if not queue:
                        del self._waiters[key]
            raise

    # connections

    def pooled(self, key: tuple[str, str, int]) -> Connection | None:
        """An idle pooled connection for ``key`` with its slot taken, without waiting; None if
        there is none or it would jump the queue for a slot (then :meth:`acquire`)."""
        if key not in self._idle or key in self._waiters or not self._has_room(key):
            return None
        conn = self._pop_idle(key)
        if conn is not None:
            self._take_slot(key)
        return conn

    def _pop_idle(self, key: tuple[str, str, int]) -> Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        oldest_usable = self.loop.time() - self.keepalive
        while idle:
            conn = idle.pop()  # the most recently used: the least likely to be stale
            if conn.open and conn.idle_since > oldest_usable:
                return conn
            conn.close()
        return None

    async def acquire(self, target: Target, *, fresh: bool = False) -> Connection:
        """A connection to ``target`` with its slot taken, waiting for the slot if needed: a pooled
        one if any (unless ``fresh``), else a new one.

        The caller bounds the wait; :class:`ConnectFailed` when no address answers.
        """
        if self._closed:
            raise ConnectFailed("other", RuntimeError("the client is closed"))
        key = target.key
        await self._wait_for_slot(key)
        conn = None if fresh else self._pop_idle(key)
        if conn is not None:
            return conn
        try:
            return await self._open(target)
        except BaseException:
            self._free_slot(key)
            raise

    async def _open(self, target: Target) -> Connection:
        """Connect (happy eyeballs over the host's addresses, as aiohttp does), then TLS if https."""
        addresses = await self._resolve(target.host, target.port)
        try:
            sock = await aiohappyeyeballs.start_connection(addresses, happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY)
        except OSError as exc:
            raise ConnectFailed(_connect_kind(exc), exc) from exc
        conn = Connection(target.key, self.loop)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await self.loop.create_connection(
                lambda: conn,
                sock=sock,
                ssl=self._tls if target.tls else None,
                server_hostname=target.host if target.tls else None,
            )
        except OSError as exc:  # ssl.SSLError is one
            sock.close()
            raise ConnectFailed(_connect_kind(exc), exc) from exc
        except BaseException:
            sock.close()
            raise
        conn.lost_callback = self._lost
        self._all.add(conn)
        return conn

    async def _resolve(self, host: str, port: int) -> list[Any]:
        """``host``'s address infos: an IP literal as it is, a name looked up as aiohttp does
        (only the families this machine has addresses for) and cached for :data:`DNS_TTL` seconds
        (as aiohttp's ttl_dns_cache=300 did)."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            socket.inet_pton(family, host)
        except OSError:
            pass
        else:
            address = (host, port, 0, 0) if family == socket.AF_INET6 else (host, port)
            return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)]
        now = self.loop.time()
        cached = self._dns.get((host, port))
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            infos = await self.loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=_AI_ADDRCONFIG)
        except OSError as exc:
            raise ConnectFailed("dns", exc) from exc
        addresses = [info for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]
        if not addresses:
            raise ConnectFailed("dns", None)
        self._dns[(host, port)] = (now + DNS_TTL, addresses)
        return addresses

    def release(self, conn: Connection) -> None:
        """Give back ``conn``'s slot: the connection is pooled if reusable, closed otherwise."""
        if conn.reusable() and not self._closed:
            conn.active = False
            conn.idle_since = self.loop.time()
            self._idle.setdefault(conn.key, []).append(conn)
            if self._sweeper is None:
                self._sweeper = self.loop.call_at(conn.idle_since + self.keepalive, self._sweep)
        else:
            conn.close()
        self._free_slot(conn.key)

    def _lost(self, conn: Connection) -> None:
        self._all.discard(conn)

    def _sweep(self) -> None:
        """Close connections idle for ``keepalive``; come back when the next one will be."""
        self._sweeper = None
        cutoff = self.loop.time() - self.keepalive
        next_due: float | None = None
        for key in list(self._idle):
            idle = self._idle[key]
            keep = [conn for conn in idle if conn.open and conn.idle_since > cutoff]
            for conn in idle:
                if conn.open and conn.idle_since <= cutoff:
                    conn.close()
            if keep:
                self._idle[key] = keep
                first = keep[0].idle_since
                next_due = first if next_due is None else min(next_due, first)
            else:
                del self._idle[key]
        if next_due is not None:
            self._sweeper = self.loop.call_at(next_due + self.keepalive, self._sweep)

    async def close(self) -> None:
        """Close every connection, pooled or in use; waiters for a slot get ConnectFailed."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._idle.clear()
        for queue in self._waiters.values():
            for waiter in queue:
                if not waiter.done():
                    waiter.set_exception(ConnectFailed("other", RuntimeError("the client is closed")))
        self._waiters.clear()
        await asyncio.sleep(0)  # let the transports finish closing
