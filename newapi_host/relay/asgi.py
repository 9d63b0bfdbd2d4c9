"""The relay's HTTP edge: plain ASGI, without per-request framework objects.

Relay endpoints are the hot path, so they skip Litestar's Request/Response machinery (Litestar
still routes to them and runs the app middleware). :class:`Incoming` is the little the
pipeline reads of a request; :class:`Reply` is what it answers, a body or a stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from litestar.types import Receive, Scope, Send

from newapi_host.body_depth import MESSAGE as TOO_DEEP
from newapi_host.body_depth import TooDeep, too_deep

from .errors import RelayError, invalid_request

MAX_BODY = 128 * 1024 * 1024  # New API's MAX_REQUEST_BODY_MB default


class Incoming:
    __slots__ = ("scope", "_receive", "headers", "_query")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self._receive = receive
        self.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self._query: dict[str, str] | None = None

    @property
    def client_ip(self) -> str:
        client = self.scope.get("client")
        return client[0] if client else ""

    @property
    def path_params(self) -> dict[str, Any]:
        return self.scope.get("path_params") or {}

    @property
    def query_params(self) -> dict[str, str]:
        if self._query is None:
            self._query = dict(parse_qsl(self.scope.get("query_string", b"").decode("latin-1")))
        return self._query

    @property
    def request_id(self) -> str | None:
        return (self.scope.get("state") or {}).get("request_id")

    async def body(self, limit: int = MAX_BODY) -> bytes:
        """The whole body, refused when over ``limit`` bytes or nested too deeply (see body_depth)."""
        declared = self.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise RelayError(413, f"request body is larger than {limit // (1024 * 1024)} MB", code="request_too_large")
        parts: list[bytes] = []
        size = 0
        while True:
            try:
                message = await self._receive()
            except TooDeep:
                raise invalid_request(TOO_DEEP, code="request_too_deep") from None
            if message["type"] == "http.disconnect":
                raise RelayError(499, "the client closed the connection", code="client_gone")
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise RelayError(
                        413, f"request body is larger than {limit // (1024 * 1024)} MB", code="request_too_large"
                    )
                parts.append(chunk)
            if not message.get("more_body", False):
                body = b"".join(parts)
                if too_deep(body):
                    raise invalid_request(TOO_DEEP, code="request_too_deep")
                return body


@dataclass(slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    media_type: str = "application/json"
    on_close: Callable[[], Awaitable[None]] | None = None  # always called once the reply is over


def _headers(reply: Reply) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", reply.media_type.encode())]
    headers.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers.items())
    if reply.stream is None:
        headers.append((b"content-length", str(len(reply.body)).encode()))
    return headers


async def send_reply(reply: Reply, receive: Receive, send: Send) -> None:
    try:
        await _send(reply, receive, send)
    finally:
        if reply.on_close is not None:
            await reply.on_close()


async def _send(reply: Reply, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": reply.status, "headers": _headers(reply)})
    if reply.stream is None:
        await send({"type": "http.response.body", "body": reply.body, "more_body": False})
        return
    stream = reply.stream

    async def pump() -> None:
        async for chunk in stream:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def watch(task: asyncio.Task[None]) -> None:
        # A client that hangs up cancels the relay, which closes the upstream call and settles.
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                task.cancel()
                return

    pumping = asyncio.ensure_future(pump())
    watching = asyncio.ensure_future(watch(pumping))
    try:
        await pumping
    except asyncio.CancelledError:
        if not watching.done():
            raise  # we are being cancelled ourselves
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watching
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
