"""Every response carries ``X-Oneapi-Request-Id`` (New API's header), for support and logs.

The relay's plain ASGI endpoints put it on their replies themselves (route opt
``SETS_REQUEST_ID``), which spares the hot path a wrapped ``send``.
"""

from __future__ import annotations

import random
import time
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from newapi_host.server_log import REQUEST_ID

REQUEST_ID_HEADER = "X-Oneapi-Request-Id"


def new_request_id() -> str:
    """New API's form: the time to the second, then 12 random hex digits.

    An identifier, not a secret: the random part comes from ``random`` (reseeded in every forked
    worker), which spares each request a ``getrandom`` system call.
    """
    return f"{time.strftime('%Y%m%d%H%M%S')}{random.getrandbits(48):012x}"


_HEADER = REQUEST_ID_HEADER.lower().encode()
SETS_REQUEST_ID = "sets_request_id"  # route opt: the handler makes its own id and puts it on every reply


class RequestIdMiddleware:
    """Pure ASGI (no per-request objects): stores the id in the scope state and adds the header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _sets_its_own(scope):
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        value = request_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers") or [])
                if not any(name.lower() == _HEADER for name, _ in headers):
                    headers.append((_HEADER, value))
                message["headers"] = headers
            await send(message)

        token = REQUEST_ID.set(request_id)  # for the log lines written while answering
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


def _sets_its_own(scope: Scope) -> bool:
    handler = scope.get("route_handler")
    return handler is not None and bool(handler.opt.get(SETS_REQUEST_ID))
