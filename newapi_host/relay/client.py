"""The host's one upstream HTTP client.

Every relayed request goes through :class:`UpstreamClient`: plugins only *build* an
:class:`~newapi_host.plugins.contracts.UpstreamRequest`; the host sends it, applies timeouts and
proxies, and hands back an :class:`UpstreamResponse` whose body can be read whole or relayed
chunk by chunk without buffering.

Two HTTP stacks, one behaviour. Ordinary sends (no proxy, no guard: the relay's traffic) go
through :mod:`newapi_host.relay.http1`, a lean HTTP/1.1 client on ``httptools``; proxied and
guarded sends, and a URL with credentials in it, go through aiohttp. Why: measured per relayed
request (``benchmarks/in_process.py``, docs/performance.md), aiohttp's request and response
machinery was 35-40% of the gateway's CPU; the lean client cut the relay's CPU per request by
about a third (non-streaming) and a quarter (streaming). aiohttp stays where its extra features
are needed (proxies, the guarded resolver); httpx was never an option: it costs 2-4x aiohttp's
CPU per request, up to 20x at high concurrency. Both stacks send the same default headers
(Accept, Accept-Encoding, User-Agent), decode the same encodings (gzip, deflate), follow no
redirects and raise the same errors with the same messages.

Why an interface: the HTTP libraries are this module's private choice. The rest of the host sees
only :class:`UpstreamClient`, :class:`UpstreamResponse` and the :class:`UpstreamError` family,
whose ``message`` is safe to show a client (no URLs, keys or internal addresses; the library's
exception stays chained as ``__cause__`` for logs). Swapping a library touches this package only.

There is no global state: the app creates one client per worker in its lifespan
(``await client.start()`` ... ``await client.close()``).

Guarded sends (``guard=`` a :class:`~newapi_host.relay.fetch_guard.FetchPolicy`: admin-initiated
fetches and forced channels) go through a second session whose resolver checks every address a
host name resolves to, so the address connected to is the address checked; it keeps no DNS cache
and no idle connections, so a policy change applies to the next request. Unguarded relay traffic
never pays for any of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ipaddress
import socket
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import aiohttp.abc
import aiohttp.connector
import aiohttp.resolver
from yarl import URL

from newapi_host.plugins.contracts import UpstreamRequest

from . import http1
from .fetch_guard import Blocked, FetchPolicy, ip_of

__all__ = [
    "UpstreamBlocked",
    "UpstreamClient",
    "UpstreamConnectError",
    "UpstreamDisconnected",
    "UpstreamError",
    "UpstreamResponse",
    "UpstreamTimeout",
]

USER_AGENT = "newapi-gateway"
DEFAULT_READ_LIMIT = 64 * 1024 * 1024

# aiohttp warns when asked to clean up closed TLS transports on Pythons that no longer need it.
_CLEANUP_CLOSED = getattr(aiohttp.connector, "NEEDS_CLEANUP_CLOSED", True)


class UpstreamError(Exception):
    """An upstream call failed; ``message`` is safe to show the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UpstreamConnectError(UpstreamError):
    """No connection: DNS, refused, connect timeout, TLS, proxy, or an unusable URL/proxy."""


class UpstreamBlocked(UpstreamConnectError):
    """A guarded send the SSRF settings refuse; nothing was sent.

    Unlike the other errors its ``message`` names the address and the rule: show it to root only.
    """


class UpstreamTimeout(UpstreamError):
    """No response headers within the response timeout, or no body bytes for the idle timeout."""


class UpstreamDisconnected(UpstreamError):
    """The connection closed or reset before the response was complete."""


class UpstreamResponse:
    """An upstream response whose headers have arrived; the body is read on demand.

    Always close it (or use ``async with``): a fully read body returns the connection to the pool,
    anything else closes the connection so a half-read stream never poisons the pool.
    """

    __slots__ = ("status", "headers", "_idle_timeout", "_eof", "_closed")

    def __init__(self, status: int, headers: Mapping[str, str], idle_timeout: float) -> None:
        self.status = status
        self.headers = headers  # case-insensitive (CIMultiDictProxy)
        self._idle_timeout = idle_timeout
        self._eof = False
        self._closed = False

    async def read(self, limit: int = DEFAULT_READ_LIMIT) -> bytes:
        """Read the whole (decompressed) body; raise :class:`UpstreamError` beyond ``limit`` bytes."""
        parts: list[bytes] = []
        size = 0
        async for chunk in self.iter_chunks():
            size += len(chunk)
            if size > limit:
                await self.close()
                raise _too_large(limit)
            parts.append(chunk)
        return b"".join(parts)

    def iter_chunks(self) -> AsyncIterator[bytes]:
        """Yield body bytes as they arrive, with arbitrary boundaries.

        Raises :class:`UpstreamTimeout` when no bytes arrive for the idle timeout and
        :class:`UpstreamDisconnected` when the connection breaks before the body is complete.
        """
        raise NotImplementedError

    async def close(self) -> None:
        """Release the connection: back to the pool after a complete body, closed otherwise."""
        raise NotImplementedError

    async def __aenter__(self) -> UpstreamResponse:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def _too_large(limit: int) -> UpstreamError:
    return UpstreamError(f"upstream response body is larger than {limit} bytes")


def _idle_timeout(idle: float) -> UpstreamTimeout:
    return UpstreamTimeout(f"upstream sent no data for {idle:g}s")


def _broken() -> UpstreamDisconnected:
    return UpstreamDisconnected("upstream connection broke before the response was complete")


class _LeanResponse(UpstreamResponse):
    """A response on a :mod:`~newapi_host.relay.http1` connection, which it owns until closed."""

    __slots__ = ("_conn", "_pool")

    def __init__(self, conn: http1.Connection, pool: http1.Pool, idle_timeout: float) -> None:
        super().__init__(conn.status, conn.headers, idle_timeout)  # type: ignore[arg-type]
        self._conn = conn
        self._pool = pool

    async def read(self, limit: int = DEFAULT_READ_LIMIT) -> bytes:
        conn = self._conn
        if self._closed or not conn.complete:
            return await super().read(limit)
        # All of it is here already: no generator, no timer (a compressed one comes in pieces).
        parts: list[bytes] = []
        size = 0
        while True:
            try:
                chunk = conn.take()
            except http1.BadResponse as exc:
                raise _broken() from exc
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                await self.close()
                raise _too_large(limit)
            parts.append(chunk)
        self._eof = True
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        conn = self._conn
        idle = self._idle_timeout
        while True:
            if self._closed:  # the connection may be serving another request by now
                if self._eof:
                    return
                raise _broken()
            try:
                chunk = conn.take()
            except http1.BadResponse as exc:
                raise _broken() from exc
            if chunk:
                yield chunk
                continue
            if conn.complete:
                self._eof = True
                return
            if conn.error is not None:
                raise _broken() from conn.error
            try:
                await conn.wait(conn.loop.time() + idle)
            except TimeoutError as exc:
                raise _idle_timeout(idle) from exc

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._eof = self._eof or self._conn.drained()
            self._pool.release(self._conn)

    def __del__(self) -> None:
        # Never closed (a caller's bug): give the slot back rather than shrink the pool for good.
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                self._pool.release(self._conn)


class _AiohttpResponse(UpstreamResponse):
    """A response on aiohttp (proxied and guarded sends)."""

    __slots__ = ("_resp",)

    def __init__(self, resp: aiohttp.ClientResponse, idle_timeout: float) -> None:
        super().__init__(resp.status, resp.headers, idle_timeout)
        self._resp = resp

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        content = self._resp.content
        idle = self._idle_timeout
        while True:
            try:
                # What has arrived already is taken without arming a timer: a small response is
                # usually whole by the time its headers are read, and a timer costs more than it.
                chunk = content.read_nowait()
                if not chunk and not content.at_eof():
                    async with asyncio.timeout(idle):
                        chunk = await content.readany()
            except TimeoutError as exc:
                raise _idle_timeout(idle) from exc
            except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, ConnectionError) as exc:
                raise _broken() from exc
            if not chunk:
                self._eof = True
                return
            yield chunk

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._eof:
            self._resp.release()
        else:
            self._resp.close()


# The policy of the guarded send in progress, read by its connector's resolver.
_active_guard: contextvars.ContextVar[FetchPolicy | None] = contextvars.ContextVar("upstream_guard", default=None)


class _RefusedAddress(OSError):
    """Raised by the guarded resolver; aiohttp hands it back as the connector error's ``os_error``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _GuardedResolver(aiohttp.abc.AbstractResolver):
    """Resolves as usual, then refuses the lot if any address breaks the active policy's IP rules."""

    def __init__(self) -> None:
        self._inner = aiohttp.resolver.DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        addresses = await self._inner.resolve(host, port, family)
        guard = _active_guard.get()
        if guard is not None and guard.check_resolved:
            for address in addresses:
                try:
                    guard.check_ip(ipaddress.ip_address(address["host"]), host)
                except Blocked as exc:
                    raise _RefusedAddress(exc.reason) from None
        return addresses

    async def close(self) -> None:
        await self._inner.close()


class UpstreamClient:
    """One pooled HTTP client for all upstream calls of a worker.

    ``connect_timeout`` bounds getting a connection (including waiting for a pool slot),
    ``response_timeout`` bounds the wait for response headers (from the start of the call),
    ``idle_timeout`` bounds each wait for body bytes. ``limit``/``limit_per_host`` cap pooled
    connections (0 = unlimited), ``keepalive`` is how long an idle connection stays pooled.
    Redirects are not followed: a 3xx is returned as is (a POST must not silently become a GET).
    """

    def __init__(
        self,
        *,
        connect_timeout: float = 10,
        response_timeout: float = 300,
        idle_timeout: float = 300,
        limit: int = 2048,
        limit_per_host: int = 0,
        keepalive: float = 30,
        verify_tls: bool = True,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.response_timeout = response_timeout
        self.idle_timeout = idle_timeout
        self.limit = limit
        self.limit_per_host = limit_per_host
        self.keepalive = keepalive
        self.verify_tls = verify_tls
        self._session: aiohttp.ClientSession | None = None
        self._guarded: aiohttp.ClientSession | None = None
        self._pool: http1.Pool | None = None

    async def start(self) -> None:
        if self._session is not None:
            return
        self._pool = http1.Pool(
            limit=self.limit, limit_per_host=self.limit_per_host, keepalive=self.keepalive, verify_tls=self.verify_tls
        )
        connector = aiohttp.TCPConnector(
            limit=self.limit,
            limit_per_host=self.limit_per_host,
            keepalive_timeout=self.keepalive,
            ttl_dns_cache=300,
            enable_cleanup_closed=_CLEANUP_CLOSED,
            ssl=bool(self.verify_tls),
        )
        self._session = self._new_session(connector)
        guarded = aiohttp.TCPConnector(
            limit=self.limit,
            resolver=_GuardedResolver(),
            use_dns_cache=False,
            force_close=True,
            enable_cleanup_closed=_CLEANUP_CLOSED,
            ssl=bool(self.verify_tls),
        )
        self._guarded = self._new_session(guarded)

    def _new_session(self, connector: aiohttp.BaseConnector) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None, connect=self.connect_timeout, sock_connect=self.connect_timeout, sock_read=None
            ),
            auto_decompress=True,
            trust_env=False,  # routing must not depend on the worker's environment
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": USER_AGENT},  # a plugin's own User-Agent replaces it
            skip_auto_headers=("User-Agent",),
            raise_for_status=False,
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        for session in (self._session, self._guarded):
            if session is not None:
                await session.close()
        self._session = self._guarded = None
        self._pool = None

    async def __aenter__(self) -> UpstreamClient:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def send(
        self,
        request: UpstreamRequest,
        *,
        proxy: str | None = None,
        response_timeout: float | None = None,
        idle_timeout: float | None = None,
        guard: FetchPolicy | None = None,
    ) -> UpstreamResponse:
        """Send ``request`` and return once the response headers arrived (body not read yet).

        ``proxy`` is the channel's http:// or https:// proxy URL (credentials in the URL are
        sent as Proxy-Authorization). Timeouts default to the client's. With ``guard``, the URL,
        the proxy and every address connected to must pass that policy, else
        :class:`UpstreamBlocked` and nothing is sent.
        """
        session = self._session if guard is None else self._guarded
        if session is None or self._pool is None:
            raise RuntimeError("UpstreamClient.start() has not been called")
        wait = self.response_timeout if response_timeout is None else response_timeout
        idle = self.idle_timeout if idle_timeout is None else idle_timeout
        if not proxy and guard is None:
            try:
                target = http1.target_of(request.url)
            except http1.InvalidRequest as exc:
                raise UpstreamConnectError("the upstream URL is not a valid http(s) URL") from exc
            if target is not None and isinstance(request.body, _LEAN_BODIES):
                return await self._send_lean(request, target, wait, idle)
        if proxy:
            _check_proxy(proxy)
        if guard is not None:
            await _check_guarded(guard, request.url, proxy)
        token = _active_guard.set(guard) if guard is not None else None
        try:
            async with asyncio.timeout(wait):
                resp = await session.request(
                    request.method,
                    request.url,
                    headers=request.headers,
                    data=request.body,
                    proxy=proxy or None,
                    allow_redirects=False,
                )
        except aiohttp.ConnectionTimeoutError as exc:  # before TimeoutError: it is one
            raise UpstreamConnectError(f"timed out connecting to upstream after {self.connect_timeout:g}s") from exc
        except aiohttp.ClientConnectorError as exc:
            raise _connect_error(exc) from exc
        except aiohttp.ClientHttpProxyError as exc:
            raise UpstreamConnectError(f"the channel's proxy refused the connection (status {exc.status})") from exc
        except TimeoutError as exc:
            raise UpstreamTimeout(f"upstream sent no response within {wait:g}s") from exc
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as exc:
            raise UpstreamConnectError("the upstream URL is not a valid http(s) URL") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, ConnectionError) as exc:
            raise UpstreamDisconnected("upstream closed the connection before responding") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError("upstream sent an invalid HTTP response") from exc
        finally:
            if token is not None:
                _active_guard.reset(token)
        return _AiohttpResponse(resp, idle)

    async def _send_lean(
        self, request: UpstreamRequest, target: http1.Target, wait: float, idle: float
    ) -> UpstreamResponse:
        """Send on the lean HTTP/1.1 pool.

        A pooled connection that turns out closed, with nothing of the response received, gets
        one retry on a new connection when the method is idempotent or nothing was written.
        """
        pool = self._pool
        assert pool is not None
        started = pool.loop.time()
        method = request.method.upper()
        body = request.body
        try:
            head = http1.request_head(method, target, request.headers, None if body is None else len(body), USER_AGENT)
        except http1.InvalidRequest as exc:
            raise UpstreamConnectError("the upstream request has a header with a line break in it") from exc
        idempotent = method in http1.IDEMPOTENT
        fresh = False
        while True:
            conn = None if fresh else pool.pooled(target.key)
            reused = conn is not None
            if conn is None:
                conn = await self._connect(pool, target, started, wait, fresh)
            conn.send(head, body, method == "HEAD")
            try:
                while not conn.final and conn.error is None:
                    await conn.wait(started + wait)
            except BaseException as exc:
                pool.release(conn)  # not complete: closed
                if isinstance(exc, TimeoutError):
                    raise UpstreamTimeout(f"upstream sent no response within {wait:g}s") from exc
                raise
            if conn.final:
                return _LeanResponse(conn, pool, idle)
            pool.release(conn)
            error = conn.error
            if isinstance(error, http1.Disconnected):
                if reused and not fresh and not conn.received and (idempotent or not conn.sent):
                    fresh = True  # the server had closed it while idle
                    continue
                raise UpstreamDisconnected("upstream closed the connection before responding") from error
            raise UpstreamError("upstream sent an invalid HTTP response") from error

    async def _connect(
        self, pool: http1.Pool, target: http1.Target, started: float, wait: float, fresh: bool
    ) -> http1.Connection:
        """A connection within the connect timeout (waiting for a slot included) and the response
        timeout, whichever ends first."""
        connect_at = started + self.connect_timeout
        response_at = started + wait
        try:
            async with asyncio.timeout_at(min(connect_at, response_at)):
                return await pool.acquire(target, fresh=fresh)
        except TimeoutError as exc:
            if connect_at <= response_at:
                raise UpstreamConnectError(f"timed out connecting to upstream after {self.connect_timeout:g}s") from exc
            raise UpstreamTimeout(f"upstream sent no response within {wait:g}s") from exc
        except http1.ConnectFailed as exc:
            raise UpstreamConnectError(_CONNECT_MESSAGES[exc.kind]) from exc


# What the lean path sends itself; any other body (none is used today) goes through aiohttp.
_LEAN_BODIES = (bytes, bytearray, memoryview, type(None))

_CONNECT_MESSAGES = {
    "dns": "could not resolve the upstream host",
    "certificate": "the upstream TLS certificate failed verification",
    "tls": "the TLS handshake with upstream failed",
    "refused": "upstream refused the connection",
    "other": "could not connect to upstream",
}


async def _check_guarded(guard: FetchPolicy, url: str, proxy: str | None) -> None:
    """The checks that need no connection: scheme, port and host of the URL and of the proxy.

    URLs are parsed with yarl, as aiohttp does, so the host checked is the host connected to.
    Behind a proxy the proxy resolves the upstream's name, so it is resolved here as well (as
    New API does) and its addresses checked; without one the resolver checks them on connecting.
    """
    try:
        target = URL(url)
        for where in (target, URL(proxy)) if proxy else (target,):
            guard.check_target(where.scheme, where.raw_host or "", where.port)
        host = target.raw_host or ""
        if proxy and guard.check_resolved and ip_of(host) is None:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, target.port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise UpstreamConnectError("could not resolve the upstream host") from exc
            for info in infos:
                guard.check_ip(ipaddress.ip_address(info[4][0]), host)
    except Blocked as exc:
        raise UpstreamBlocked(f"blocked by the SSRF protection: {exc.reason}") from None
    except ValueError as exc:
        raise UpstreamConnectError("the upstream URL is not a valid http(s) URL") from exc


def _check_proxy(proxy: str) -> None:
    try:
        scheme = urlsplit(proxy).scheme.lower()
    except ValueError as exc:
        raise UpstreamConnectError("the channel's proxy URL is not valid") from exc
    if scheme in ("http", "https"):
        return
    if scheme.startswith("socks"):
        raise UpstreamConnectError(
            f"socks proxies are not supported yet: the channel's proxy uses {scheme}://; "
            "configure an http:// or https:// proxy instead"
        )
    raise UpstreamConnectError(f"unsupported proxy scheme {scheme or '(none)'!r}: use an http:// or https:// proxy")


def _connect_error(exc: aiohttp.ClientConnectorError) -> UpstreamConnectError:
    if isinstance(exc.os_error, _RefusedAddress):
        return UpstreamBlocked(f"blocked by the SSRF protection: {exc.os_error.reason}")
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        message = "could not connect to the channel's proxy"
    elif isinstance(exc, aiohttp.ClientConnectorDNSError):
        message = "could not resolve the upstream host"
    elif isinstance(exc, aiohttp.ClientConnectorCertificateError):
        message = "the upstream TLS certificate failed verification"
    elif isinstance(exc, aiohttp.ClientSSLError):
        message = "the TLS handshake with upstream failed"
    elif isinstance(exc.os_error, ConnectionRefusedError):
        message = "upstream refused the connection"
    else:
        message = "could not connect to upstream"
    return UpstreamConnectError(message)
