"""What a plugin's routes and jobs may ask of the running gateway.

Every service takes the thing a plugin has at hand: the Litestar ``request`` of its route, or the
:class:`~newapi_host.plugins.contracts.JobContext` of its job (``ctx``). Nothing here is called by
the relay's hot path; the relay calls plugins, plugins call these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from litestar import Response
from litestar.response import Stream
from pydantic import BaseModel

from newapi_host.billing.ledger import Charge, log_row
from newapi_host.db.tables import LOG_CONSUME, LOG_REFUND
from newapi_host.plugins.contracts import JobContext
from newapi_host.relay.asgi import Incoming, Reply
from newapi_host.relay.errors import RelayError
from newapi_host.relay.keys import TokenEntry
from newapi_host.relay.keys import authenticate as check_key
from newapi_host.relay.pipeline import landed
from newapi_host.relay.request_id import new_request_id
from newapi_host.store import NO_TRUST, Outcome, StoreUnavailable


class ClientError(Exception):
    """An error for the API client, answered in the shape of the dialect it speaks.

    Raise it from a route (or catch it from :func:`authenticate`) and turn it into a response with
    :func:`error_response`.
    """

    def __init__(
        self, status: int, message: str, *, type: str = "invalid_request_error", code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code = status, message, type, code


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent an API request, as the relay checked its key."""

    user_id: int
    username: str
    token_id: int
    token_name: str
    group: str  # the group the key uses (its own, else its owner's)
    user_group: str
    role: int
    models: frozenset[str] | None  # the key's model allow-list, None when it has none
    unlimited: bool  # the key has no quota limit of its own

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models


def _host(source: Any) -> Any:
    """The running gateway from a request, a JobContext, the app, or the app's state."""
    if isinstance(source, JobContext):
        source = source.state
    app = getattr(source, "app", None)
    if app is not None and hasattr(app, "state"):  # a request or a connection
        source = app.state
    elif hasattr(getattr(source, "state", None), "host"):  # the Litestar app itself
        source = source.state
    host = getattr(source, "host", None)
    if host is None:
        raise TypeError(f"expected a request, a JobContext or the app, got {type(source).__name__}")
    return host


def settings(source: Any, plugin: str) -> BaseModel | None:
    """The current settings of ``plugin`` (validated by its settings model; defaults until saved)."""
    return _host(source).states.settings(plugin)


def _caller(entry: TokenEntry) -> Caller:
    return Caller(
        user_id=entry.user_id,
        username=entry.username,
        token_id=entry.id,
        token_name=entry.name,
        group=entry.using_group,
        user_group=entry.user_group,
        role=entry.role,
        models=entry.model_limits,
        unlimited=entry.unlimited_quota,
    )


async def authenticate(request: Any, dialect: str = "openai.chat", *, key: str | None = None) -> Caller:
    """Check the API key of ``request`` exactly as the relay does, reading it where ``dialect``'s
    clients send it (``Authorization``, ``x-api-key``, ``x-goog-api-key``, ``?key=``), or checking
    ``key`` when given (a route whose clients send the key elsewhere, e.g. ``mj-api-secret``).

    Raises :class:`ClientError` (401 or 403, New API's messages) when the key is missing, unknown,
    disabled, expired, used up, or not allowed from the caller's address.
    """
    host = _host(request)
    relay = host.relay
    if relay is None:
        raise ClientError(503, "the gateway is starting; retry in a moment", type="new_api_error")
    spoken = host.registry.dialect(dialect)
    names = spoken.api_key_headers if spoken is not None else ("authorization",)
    raw = key if key is not None else next((request.headers.get(n) for n in names if request.headers.get(n)), "")
    if key is None and not raw and spoken is not None and spoken.api_key_query:
        raw = request.query_params.get(spoken.api_key_query) or ""
    client_ip = request.client.host if request.client else ""
    try:
        entry, _ = await check_key(relay.keys, raw, client_ip)
    except RelayError as exc:
        raise ClientError(exc.status, exc.message, type=exc.type, code=exc.code) from None
    return _caller(entry)


@dataclass(frozen=True, slots=True)
class SessionUser:
    """A console user signed in with the session cookie (no ``New-Api-User`` header needed)."""

    user_id: int
    role: int  # 1 common, 10 admin, 100 root

    @property
    def is_admin(self) -> bool:
        return self.role >= 10


async def session_user(request: Any) -> SessionUser | None:
    """The console user whose session cookie came with ``request`` (for media an ``<img>`` tag
    loads from a plugin route), or None: no cookie, an ended session, a disabled user."""
    from newapi_host.auth.users import session_user as _session_user

    found = await _session_user(request)
    return None if found is None else SessionUser(user_id=found[0], role=found[1])


def models_for(source: Any, caller: Caller) -> list[str]:
    """The models the caller may use: its group's channels' models, narrowed by the key's allow-list."""
    return [m for m in _host(source).relay.index.models_for(caller.group) if caller.may_use(m)]


def error_response(request: Any, dialect: str, error: ClientError) -> Response[bytes]:
    """``error`` as ``dialect``'s clients expect an error body (OpenAI's shape if it is unknown)."""
    spoken = _host(request).registry.dialect(dialect)
    if spoken is None:
        spoken = _host(request).registry.dialect("openai.chat")
    if spoken is None:
        body = b'{"error": {"message": %s}}' % repr(error.message).encode()
    else:
        body = spoken.error_body(error.status, error.message, error.type, error.code)
    return Response(body, status_code=error.status, media_type="application/json")


def _response(reply: Reply) -> Response[Any]:
    if reply.stream is None:
        return Response(reply.body, status_code=reply.status, media_type=reply.media_type, headers=reply.headers)
    stream, on_close = reply.stream, reply.on_close

    async def relayed() -> Any:
        try:
            async for chunk in stream:
                yield chunk
        finally:
            if on_close is not None:
                await on_close()

    return Stream(relayed(), status_code=reply.status, media_type=reply.media_type, headers=reply.headers)


async def relay(request: Any, dialect: str) -> Response[Any]:
    """Serve ``request`` through the relay as a request in ``dialect``: key check, price and hold,
    channel choice and retries, conversion, streaming, billing and logs, as for the dialect's own
    routes. For a route that picks the dialect from the URL (Gemini's ``model:action``) or serves
    one under another path. Do not read the request body before calling this.
    """
    host = _host(request)
    reply = await host.relay.handle(Incoming(request.scope, request.receive), dialect)
    if reply is None:  # that dialect's plugin is switched off
        return error_response(request, dialect, ClientError(404, f"Invalid URL ({request.method} {request.url.path})"))
    if reply.stream is None and reply.on_close is not None:
        await reply.on_close()
    return _response(reply)


async def charge(
    source: Any,
    caller: Caller,
    quota: int,
    *,
    model: str,
    content: str = "",
    channel_id: int = 0,
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    other: Mapping[str, Any] | None = None,
) -> None:
    """Take ``quota`` from the caller's wallet (and limited key) for work done outside the relay
    (an async task, a realtime session), with its consume-log row, exactly as the relay charges.

    Refused with :class:`ClientError` (403, New API's codes) when the wallet or the key cannot pay;
    nothing is taken then. The charge is journaled and written by the ledger within a second.
    """
    await _move(source, caller, quota, LOG_CONSUME, model, content, channel_id, prompt_tokens, completion_tokens, other)


async def refund(
    source: Any,
    caller: Caller,
    quota: int,
    *,
    model: str,
    content: str = "",
    channel_id: int = 0,
    other: Mapping[str, Any] | None = None,
) -> None:
    """Give ``quota`` back to the caller (a task that failed after it was charged), with a refund log row."""
    await _move(source, caller, -abs(quota), LOG_REFUND, model, content, channel_id, 0, 0, other)


async def _move(
    source: Any,
    caller: Caller,
    quota: int,
    kind: int,
    model: str,
    content: str,
    channel_id: int,
    prompt_tokens: int,
    completion_tokens: int,
    other: Mapping[str, Any] | None,
) -> None:
    ledger = _host(source).relay.ledger
    token_id = None if caller.unlimited else caller.token_id
    hold = None
    if quota > 0:
        try:
            result, hold = await ledger.reserve(caller.user_id, token_id, quota, NO_TRUST)
        except StoreUnavailable:
            raise ClientError(
                503, "billing is temporarily unavailable; please retry shortly", type="new_api_error"
            ) from None
        if result.outcome is Outcome.WALLET_SHORT:
            raise ClientError(403, "user quota is not enough", type="new_api_error", code="insufficient_user_quota")
        if result.outcome is Outcome.KEY_SHORT:
            raise ClientError(
                403, "token quota is not enough", type="new_api_error", code="pre_consume_token_quota_failed"
            )
        if result.outcome is Outcome.KEY_EXHAUSTED:
            raise ClientError(401, "this API key has no quota left", type="new_api_error", code="token_quota_exhausted")
    row = log_row(
        type=kind,
        user_id=caller.user_id,
        username=caller.username,
        token_id=caller.token_id,
        token_name=caller.token_name,
        group=caller.group,
        model=model,
        quota=quota if kind == LOG_CONSUME else -quota,
        content=content,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        channel_id=channel_id,
        request_id=new_request_id(),
        other=other,
    )
    charged = Charge(
        user_id=caller.user_id,
        token_id=caller.token_id,
        channel_id=channel_id,
        quota=quota,
        token_unlimited=caller.unlimited,
        count_request=kind == LOG_CONSUME,
        log=row,
    )
    await landed(ledger.settle(charged, hold))
