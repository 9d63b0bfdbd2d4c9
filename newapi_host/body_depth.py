"""A bound on how deeply a request body's JSON may nest, checked once for every route.

Python's and msgspec's JSON decoders recurse once per level and raise ``RecursionError`` near
the interpreter's limit (about 1,000 levels, fewer the deeper the caller's stack), which used to
end as a logged 500 on any route. :class:`BodyDepthMiddleware` hands each request's body to the
app only after :func:`too_deep` has passed it, so no decoder, converter or re-encoder ever sees
more than :data:`MAX_DEPTH` levels. The check runs when a handler first reads the body (the relay
reads it after checking the API key), costs two ``bytes.count`` calls for ordinary bodies, and
refuses with :class:`TooDeep`, a 400 each route answers in its own error format.

A route that reads and checks its body itself (the relay's plain ASGI endpoints, which call
:func:`too_deep` on the body they assemble anyway) says so with ``opt={BODY_CHECKED: True}`` and
is passed straight through: the relay's hot path pays for no second receive wrapper.
"""

from __future__ import annotations

import re

from litestar.exceptions import ClientException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

MAX_DEPTH = 128  # far beyond real requests (deep tool schemas nest a few dozen levels)
MESSAGE = f"request body is nested too deeply: JSON arrays and objects may nest at most {MAX_DEPTH} levels"

# Keep only quotes and brackets, objects read as arrays: b'{"a": [1, "]"]}' -> b'[""["]"]]'.
_SKELETON = (bytes.maketrans(b"{}", b"[]"), bytes(set(range(256)) - set(b'"[]{}')))
_RUN = re.compile(rb"\[+|\]+")
_CHEAP_ROUNDS = 16
BODY_CHECKED = "checks_body_depth"  # route opt: the handler applies too_deep() itself
_MAX_SKELETON = 1 << 20  # brackets left after the cheap rounds; beyond this, refused unread


class TooDeep(ClientException):
    """The body nests deeper than :data:`MAX_DEPTH`; answered as a 400."""

    def __init__(self) -> None:
        super().__init__(detail=MESSAGE)


def too_deep(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the JSON in ``body`` nests arrays/objects more than ``limit`` levels deep.

    Brackets inside strings do not count. Every step but the last runs at C speed: strings go
    (escaped backslashes and quotes first, then everything between quote pairs), then rounds of
    removing innermost ``[]`` pairs take one level off every nest, which makes ordinary documents
    vanish; what is left is counted run by run. A body whose bracket structure is still over a
    megabyte after those rounds is refused as too deep without counting. Invalid JSON may be
    misjudged either way; its decoder refuses it anyway.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    skeleton = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(*_SKELETON)
    skeleton = skeleton.replace(b'""', b"")  # strings without brackets (nearly all of them)
    if b'"' in skeleton:
        skeleton = b"".join(skeleton.split(b'"')[::2])
    rounds = 0
    while rounds < _CHEAP_ROUNDS and skeleton:
        shorter = skeleton.replace(b"[]", b"")
        if len(shorter) == len(skeleton):
            break
        narrow = len(shorter) * 8 > len(skeleton) * 7  # a round took off less than an eighth
        skeleton, rounds = shorter, rounds + 1
        if narrow:
            break
    if rounds > limit or len(skeleton) > _MAX_SKELETON:
        return True
    depth, allowed = 0, limit - rounds
    for run in _RUN.finditer(skeleton):
        size = run.end() - run.start()
        if skeleton[run.start()] == 0x5B:  # "["
            depth += size
            if depth > allowed:
                return True
        else:
            depth = max(0, depth - size)
    return False


class _CheckedReceive:
    """``receive`` for the app: the whole body, once checked, then whatever the client sends next."""

    __slots__ = ("_receive", "_max_body", "_pending", "_read")

    def __init__(self, receive: Receive, max_body: int) -> None:
        self._receive, self._max_body = receive, max_body
        self._pending: list[Message] = []
        self._read = False

    async def __call__(self) -> Message:
        if self._pending:
            return self._pending.pop(0)
        if self._read:
            return await self._receive()
        self._read = True
        messages: list[Message] = []
        size = 0
        while True:
            message = await self._receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
            size += len(message.get("body", b""))
            if size > self._max_body:  # the app refuses it by size; leave the rest to stream
                self._pending = messages
                return self._pending.pop(0)
        last = messages[-1]
        if last["type"] == "http.request":
            body = b"".join(m.get("body", b"") for m in messages)
            if len(body) <= self._max_body and too_deep(body):
                raise TooDeep()
            messages = [{"type": "http.request", "body": body, "more_body": False}]
        self._pending = messages
        return self._pending.pop(0)


class BodyDepthMiddleware:
    """Pure ASGI: bodies reach the app only through :class:`_CheckedReceive`."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._checks_itself(scope) or self._declared_too_large(scope):
            await self.app(scope, receive, send)
            return
        await self.app(scope, _CheckedReceive(receive, self.max_body), send)

    @staticmethod
    def _checks_itself(scope: Scope) -> bool:
        handler = scope.get("route_handler")
        return handler is not None and bool(handler.opt.get(BODY_CHECKED))

    def _declared_too_large(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"content-length":
                return value.isdigit() and int(value) > self.max_body
        return False
