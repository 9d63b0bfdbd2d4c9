"""The relay pipeline: authenticate, peek, price and hold, route, send, relay, settle.

One :class:`Relay` per worker. Every step but the upstream call works from memory; see
ARCHITECTURE.md for the stages and docs/billing.md for what each way a request ends costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from newapi_host.billing.ledger import Charge, Hold, Ledger, log_row
from newapi_host.billing.pricing import Price, PriceBook
from newapi_host.db.tables import (
    CHANNEL_ENABLED,
    LOG_CONSUME,
    LOG_ERROR,
    ROLE_ROOT,
)
from newapi_host.options import DEFAULT_DISABLE_CODES, DEFAULT_DISABLE_KEYWORDS, DEFAULT_RETRY_CODES, Options
from newapi_host.plugins.contracts import (
    ChannelType,
    ChannelView,
    ConvertContext,
    Converter,
    Dialect,
    InvalidRequest,
    SSEEvent,
    UpstreamCall,
    UpstreamRequest,
    Usage,
)
from newapi_host.plugins.registry import Registry
from newapi_host.server_log import REQUEST_ID
from newapi_host.status_ranges import in_ranges, parse_ranges
from newapi_host.store import NO_AMOUNT, Outcome, StoreUnavailable

from . import fetch_guard, metrics, tracing
from .asgi import Incoming, Reply
from .channels import ChannelEntry, ChannelIndex
from .client import (
    UpstreamBlocked,
    UpstreamClient,
    UpstreamConnectError,
    UpstreamError,
    UpstreamResponse,
    UpstreamTimeout,
)
from .convert import StreamChain, convert_request, convert_response, converter_path, step_contexts
from .errors import RelayError, invalid_request, upstream_error
from .health import ChannelHealth, disable_channel
from .keys import KeyCache, TokenEntry, authenticate
from .rate_limits import RateLimits
from .redaction import UNREACHABLE, redact
from .request_id import REQUEST_ID_HEADER, new_request_id
from .sse import SSEError, SSEParser, encode_event

log = logging.getLogger(__name__)

ERROR_BODY_LIMIT = 1 << 20


async def landed(pending: Awaitable[None] | None, patience: float = 1.0) -> None:
    """Wait (briefly) for a settlement's balance move to reach the shared store (Redis).

    The client learns the request is done only after every worker can see its cost, so the next
    request, wherever it lands, is checked against the new balance. A slow store does not hold
    the answer longer than ``patience`` seconds; the move carries on in the background.
    """
    if pending is not None:
        await asyncio.wait((asyncio.ensure_future(pending),), timeout=patience)


@dataclass(slots=True)
class AttemptFailed(Exception):
    status: int
    message: str
    error_type: str = "upstream_error"
    code: str | None = None
    retry: bool = False
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Route:
    """How a channel serves a request: its type, the converters in between, the upstream dialect,
    and the plugins that own the type and each converter (whose settings they are handed)."""

    channel_type: ChannelType
    path: list[Converter]
    upstream: Dialect
    type_owner: str = ""
    converter_owners: tuple[str, ...] = ()


@dataclass(slots=True)
class Context:
    """One relay request as it moves through the pipeline."""

    request_id: str
    dialect: Dialect
    entry: TokenEntry
    model: str
    stream: bool
    wants_usage: bool
    body: bytes
    price: Price
    hold: Hold | None
    started: float
    client_ip: str
    tried: list[int] = field(default_factory=list)
    prompt_estimate: int | None = None
    client_headers: dict[str, str] = field(default_factory=dict)
    trace: tracing.RequestTrace | None = None  # its spans, when tracing is on


@dataclass(slots=True)
class Attempt:
    """One try of a request on one channel: what relaying and settling its answer needs."""

    ctx: Context
    channel: ChannelEntry
    route: Route
    steps: list[ConvertContext]  # one context per converter on the route (none when native)
    key_index: int = 0  # which of the channel's keys was sent
    upstream_model: str = ""  # the model the upstream was asked for (after mapping)


@dataclass(slots=True)
class Progress:
    """How far a request got, for the error log: filled in by ``_handle`` as it learns more."""

    started: float = 0.0  # time.monotonic() when the request arrived
    entry: TokenEntry | None = None
    model: str = ""
    stream: bool = False
    ctx: Context | None = None
    limits: tuple[float, int, int] | None = None  # the rate limits the request was admitted under
    trace: tracing.RequestTrace | None = None


# Refusals that are not failures worth an error log (New API does not record them either).
UNLOGGED_ERRORS = frozenset(
    {"insufficient_user_quota", "pre_consume_token_quota_failed", "model_not_allowed", "rate_limit_exceeded"}
)


def _send_failed(exc: UpstreamError, *, hide: bool) -> AttemptFailed:
    """An attempt that got no answer. ``hide``: a non-root admin forced the channel, so the reason
    (refused, timed out, blocked) stays unsaid: it would make the relay a port scanner."""
    if hide:
        return AttemptFailed(502, UNREACHABLE, code="channel:connect_failed")
    if isinstance(exc, UpstreamBlocked):
        return AttemptFailed(502, exc.message, code="channel:connect_failed")
    if isinstance(exc, UpstreamTimeout):
        return AttemptFailed(504, f"upstream timed out: {exc.message}", code="channel:response_time_exceeded")
    if isinstance(exc, UpstreamConnectError):
        message = f"could not reach the upstream: {exc.message}"
        return AttemptFailed(502, message, code="channel:connect_failed", retry=True)
    return AttemptFailed(502, exc.message, retry=True)


def _with_model(body: bytes, model: str) -> bytes:
    """The body with its ``model`` field set (bodies without one, such as Gemini's, are left alone)."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body
    if not isinstance(data, dict) or "model" not in data:
        return body
    data["model"] = model
    return msgspec.json.encode(data)


def _override_body(body: bytes | None, override: dict[str, Any] | None) -> bytes | None:
    if not override or body is None:
        return body
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body
    if not isinstance(data, dict):
        return body
    data.update(override)
    return msgspec.json.encode(data)


class Relay:
    def __init__(
        self,
        *,
        registry: Registry,
        options: Options,
        keys: KeyCache,
        index: ChannelIndex,
        prices: PriceBook,
        ledger: Ledger,
        client: UpstreamClient,
        streaming_timeout: float = 300.0,
        on_channels_changed: Callable[[], Any] | None = None,
        error_logs: bool = False,
        settings_of: Callable[[str], Any] = lambda plugin: None,
    ) -> None:
        self.registry = registry
        self.settings_of = settings_of  # a plugin's current settings, handed to its adapters and converters
        self.error_logs = error_logs  # ERROR_LOG_ENABLED: failed requests leave a type-5 log row
        self.options = options
        self.keys = keys
        self.index = index
        self.prices = prices
        self.ledger = ledger
        self.client = client
        self.streaming_timeout = streaming_timeout
        self.health = ChannelHealth(ledger.wallets.store)
        self.rate_limits = RateLimits(options, ledger.wallets.store)
        self.on_channels_changed = on_channels_changed
        self._routes: dict[tuple[str, int], Route | None] = {}  # (dialect, channel type) -> route
        self.inflight = 0  # requests being answered, streams until their end
        self._idle = asyncio.Event()  # set whenever inflight drops to 0

    def forget_routes(self) -> None:
        """Drop cached converter routes (plugins were switched on or off)."""
        self._routes.clear()

    # -- entry ------------------------------------------------------------------------------

    def error_reply(self, dialect: Dialect, error: RelayError, request_id: str) -> Reply:
        message = f"{error.message} (request id: {request_id})"
        return Reply(
            status=error.status,
            headers={REQUEST_ID_HEADER: request_id, **error.headers},
            body=dialect.error_body(error.status, message, error.type, error.code),
        )

    def api_key(self, request: Incoming, dialect: Dialect) -> str:
        for name in dialect.api_key_headers:
            value = request.headers.get(name)
            if value:
                return value
        if dialect.api_key_query:
            return request.query_params.get(dialect.api_key_query) or ""
        return ""

    async def handle(self, request: Incoming, dialect_name: str) -> Reply | None:
        """Answer one relay request; None when the dialect's plugin is switched off (404)."""
        request_id = request.request_id or new_request_id()
        dialect = self.registry.dialect(dialect_name)
        if dialect is None:
            return None
        progress = Progress(started=time.monotonic())
        if tracing.TRACER is not None:
            progress.trace = tracing.TRACER.begin(
                request.headers, dialect_name, request_id, request.scope["method"], request.scope["path"]
            )
        self.inflight += 1
        streaming = False
        status = 500
        failure: RelayError | None = None
        logged_as = REQUEST_ID.set(request_id)  # log lines written meanwhile carry the id
        try:
            reply = await self._handle(request, dialect, request_id, progress)
            streaming = reply.stream is not None  # the stream's own end counts it out
            status = reply.status
            if progress.limits is not None and reply.status < 400 and progress.entry is not None:
                await self.rate_limits.succeeded(progress.entry, progress.limits)
            return reply
        except RelayError as error:
            status, failure = error.status, error
            if self.error_logs and progress.entry is not None and error.code not in UNLOGGED_ERRORS:
                self._log_error(progress, error, request_id)
            return self.error_reply(dialect, error, request_id)
        finally:
            REQUEST_ID.reset(logged_as)
            if not streaming:
                self._ended()
                if progress.trace is not None:  # a stream's span ends with the stream
                    progress.trace.finish(status, *((failure.message, failure.code) if failure else (None, None)))
            if metrics.METRICS is not None:  # the model is a label only once a channel serves it
                model = progress.ctx.model if progress.ctx is not None else ""
                metrics.METRICS.request(dialect_name, model, status, time.monotonic() - progress.started)

    def _ended(self) -> None:
        self.inflight -= 1
        if self.inflight == 0:
            self._idle.set()

    async def drain(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for the requests in flight (streams too) to end."""
        if self.inflight > 0:
            self._idle.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._idle.wait(), grace)
        if self.inflight > 0:
            log.warning("stopping with %d request(s) still in flight", self.inflight)

    async def _handle(self, request: Incoming, dialect: Dialect, request_id: str, progress: Progress) -> Reply:
        started = progress.started
        client_ip = request.client_ip
        entry, forced = await authenticate(self.keys, self.api_key(request, dialect), client_ip)
        progress.entry = entry
        progress.limits = await self.rate_limits.admit(entry)
        body = await request.body()
        try:
            peek = dialect.peek(body, request.path_params)
        except InvalidRequest as exc:
            raise invalid_request(exc.message) from None
        model = peek.model
        progress.model, progress.stream = model, peek.stream
        if entry.model_limits is not None and model not in entry.model_limits:
            raise RelayError(403, f"this API key may not use model {model}", code="model_not_allowed")
        group = entry.using_group
        if not self.prices.group_exists(group):
            raise RelayError(
                403, f"group {group} no longer exists; pick another group for this key", code="group_deprecated"
            )

        forced_channel: ChannelEntry | None = None
        if forced is not None:
            forced_channel = self.index.by_id.get(forced)
            if forced_channel is None or forced_channel.status != CHANNEL_ENABLED:
                raise RelayError(403, f"channel #{forced} does not exist or is disabled", code="get_channel_failed")
        elif not self.index.has(group, model):
            raise RelayError(
                404,
                f"model {model} does not exist or is not available to group {group}",
                type_="invalid_request_error",
                code="model_not_found",
            )

        price = self.prices.quote(model, entry.user_group, group)
        ctx = Context(
            request_id=request_id,
            dialect=dialect,
            entry=entry,
            model=model,
            stream=peek.stream,
            wants_usage=peek.wants_usage,
            body=body,
            price=price,
            hold=None,
            started=started,
            client_ip=client_ip,
            client_headers=request.headers,
            trace=progress.trace,
        )
        progress.ctx = ctx
        if ctx.trace is not None:
            ctx.trace.admitted(model, peek.stream, entry.user_id, entry.id, group)
        await self._take_hold(ctx, peek.max_tokens, peek.n)
        handed_over = False
        try:
            response = await self._attempts(ctx, forced_channel)
            handed_over = response.stream is not None
            return response
        finally:
            if not handed_over:
                self.ledger.release(ctx.hold)

    def _log_error(self, progress: Progress, error: RelayError, request_id: str) -> None:
        """A type-5 log row for a request that failed (after its retries); it costs nothing."""
        entry, ctx = progress.entry, progress.ctx
        assert entry is not None
        tried = ctx.tried if ctx is not None else []
        row = log_row(
            type=LOG_ERROR,
            user_id=entry.user_id,
            username=entry.username,
            token_id=entry.id,
            token_name=entry.name,
            group=entry.using_group,
            model=progress.model,
            content=error.message,
            use_time=int(time.monotonic() - progress.started),
            is_stream=progress.stream,
            channel_id=tried[-1] if tried else 0,
            request_id=request_id,
            other={
                "error_type": error.type,
                "error_code": error.code or "",
                "status_code": error.status,
                "admin_info": {"use_channel": [str(c) for c in tried]},
            },
        )
        self.ledger.settle(
            Charge(
                user_id=entry.user_id,
                token_id=entry.id,
                channel_id=0,
                quota=0,
                token_unlimited=entry.unlimited_quota,
                count_request=False,
                log=row,
            )
        )

    async def _take_hold(self, ctx: Context, max_tokens: int | None, n: int = 1) -> None:
        """Reserve New API's pre-consume amount on the shared balances, or refuse the request.

        The prompt estimate (a tokenizer pass) is made only when the balances are not above the
        trust line; the key's last outcome guesses that, and the store corrects a wrong guess.
        """
        price, entry = ctx.price, ctx.entry
        if price.free and not self.options.get_bool("EnableFreeModelPreConsume"):
            return
        token_id = None if entry.unlimited_quota else entry.id
        trust = self.prices.trust_line()
        amount = NO_AMOUNT if entry.trusted else self._hold_for(ctx, max_tokens, n)
        try:
            result, hold = await self.ledger.reserve(entry.user_id, token_id, amount, trust)
            if result.outcome is Outcome.NEED_AMOUNT:
                amount = self._hold_for(ctx, max_tokens, n)
                result, hold = await self.ledger.reserve(entry.user_id, token_id, amount, trust)
        except StoreUnavailable as exc:
            log.error("request %s refused: balances unavailable: %s", ctx.request_id, exc)
            raise RelayError(
                503, "billing is temporarily unavailable; please retry shortly", code="billing_unavailable"
            ) from None
        entry.trusted = result.outcome is Outcome.TRUSTED
        entry.user_quota = result.wallet
        if result.key is not None:
            entry.remain_quota = result.key
        ctx.hold = hold
        if result.outcome in (Outcome.RESERVED, Outcome.TRUSTED):
            return
        if result.outcome is Outcome.WALLET_SHORT:
            raise RelayError(403, "user quota is not enough", code="insufficient_user_quota")
        if result.outcome is Outcome.KEY_SHORT:
            raise RelayError(403, "token quota is not enough", code="pre_consume_token_quota_failed")
        raise RelayError(401, "this API key has no quota left", code="token_quota_exhausted")

    def _hold_for(self, ctx: Context, max_tokens: int | None, n: int) -> int:
        ctx.prompt_estimate = self._estimate_prompt(ctx)
        return max(1, self.prices.hold_amount(ctx.price, ctx.prompt_estimate, max_tokens, n))

    def _estimate_prompt(self, ctx: Context) -> int:
        if ctx.prompt_estimate is None:
            estimate = ctx.dialect.estimate_prompt
            ctx.prompt_estimate = estimate(ctx.body, ctx.model) if estimate else 0
        return ctx.prompt_estimate

    # -- attempts ---------------------------------------------------------------------------

    def _serves(self, entry: ChannelEntry, dialect: Dialect) -> Route | None:
        """How this channel can answer the request: its type and the converters on the way, if any."""
        key = (dialect.name, entry.type)
        if key not in self._routes:
            self._routes[key] = self._find_route(entry, dialect)
        return self._routes[key]

    def _find_route(self, entry: ChannelEntry, dialect: Dialect) -> Route | None:
        channel_type = self.registry.channel_type(entry.type)
        if channel_type is None:
            return None
        path = converter_path(self.registry, dialect.name, channel_type.dialects)
        if path is None:
            return None
        upstream = self.registry.dialect(path[-1].target) if path else dialect
        if upstream is None:
            return None
        owners = tuple(self.registry.owner_of("converter", f"{c.source} -> {c.target}") or "" for c in path)
        return Route(
            channel_type, path, upstream, self.registry.owner_of("channel type", str(entry.type)) or "", owners
        )

    async def _attempts(self, ctx: Context, forced: ChannelEntry | None) -> Reply:
        retries = 0 if forced is not None else max(0, self.options.get_int("RetryTimes", 0))
        last: AttemptFailed | None = None
        group = ctx.entry.using_group
        for _ in range(retries + 1):
            if forced is not None:
                channel = forced
            else:
                channel = self.index.pick(group, ctx.model, set(ctx.tried))
                while channel is not None and self._serves(channel, ctx.dialect) is None:
                    ctx.tried.append(channel.id)  # no converter chain reaches this channel's dialects
                    channel = self.index.pick(group, ctx.model, set(ctx.tried))
            if channel is None:
                break
            route = self._serves(channel, ctx.dialect)
            if route is None:
                raise RelayError(
                    400, f"channel #{channel.id} cannot serve {ctx.dialect.name} requests", code="channel:type_mismatch"
                )
            if channel.id not in ctx.tried:
                ctx.tried.append(channel.id)
            try:
                return await self._attempt(ctx, channel, route, guarded=forced is not None)
            except AttemptFailed as failure:
                failure.message = redact(failure.message, channel.keys)  # upstream text: no keys past here
                last = failure
                if ctx.trace is not None:
                    ctx.trace.attempt_failed(failure.status, failure.message, failure.code)
                log.info(
                    "request %s: channel #%s failed with %s: %s",
                    ctx.request_id,
                    channel.id,
                    failure.status,
                    failure.message,
                )
                if not failure.retry:
                    break
        if last is None:
            raise RelayError(
                503, f"no channel is available for model {ctx.model} in group {group}", code="model_not_found"
            )
        raise RelayError(last.status, last.message, type_=last.error_type, code=last.code, headers=last.headers)

    def _thinking_rewrite(self, attempt: Attempt) -> Any:
        """The dialect's reasoning-into-content rewrite, when the channel asks for it and nothing converts."""
        if attempt.route.path or not attempt.channel.setting.get("thinking_to_content"):
            return None
        return attempt.ctx.dialect.thinking_to_content

    def _request_for(
        self,
        dialect: Dialect,
        model: str,
        body: bytes,
        stream: bool,
        wants_usage: bool,
        channel: ChannelEntry,
        channel_type: ChannelType,
        *,
        body_model: str | None = None,
        client_headers: dict[str, str] | None = None,
        type_owner: str = "",
    ) -> tuple[UpstreamRequest, int, str]:
        """Map the model, pick a key, let the adapter build the request, apply overrides."""
        upstream_model = channel.map_model(model)
        body_model = model if body_model is None else body_model
        if upstream_model != body_model:  # the adapter gets the body with the mapped model in it
            body, body_model = _with_model(body, upstream_model), upstream_model
        key_index, key = channel.pick_key()
        view = ChannelView(
            id=channel.id,
            type=channel.type,
            name=channel.name,
            base_url=channel.base_url or channel_type.default_base_url,
            key=key,
            other=channel.other,
            settings=channel.typed_settings,
            openai_organization=channel.openai_organization,
        )
        call = UpstreamCall(
            channel=view,
            dialect=dialect.name,
            model=upstream_model,
            body=body,
            stream=stream,
            body_model=body_model,
            wants_usage=wants_usage,
            client_headers=client_headers or {},
            settings=self.settings_of(type_owner) if type_owner else None,
        )
        request = channel_type.adapter.build_request(call)
        request.body = _override_body(request.body, channel.param_override)
        if channel.header_override:
            for name, value in channel.header_override.items():
                request.headers[name] = value.replace("{api_key}", key)
        return request, key_index, upstream_model

    async def _attempt(self, ctx: Context, channel: ChannelEntry, route: Route, *, guarded: bool = False) -> Reply:
        """One try on one channel; ``guarded`` (an admin forced this channel) applies the SSRF settings."""
        channel_type = route.channel_type
        body, body_model = ctx.body, ctx.model
        convert_ctx = ConvertContext(
            model=ctx.model,
            stream=ctx.stream,
            options={"thinking_to_content": bool(channel.setting.get("thinking_to_content"))},
            wants_usage=ctx.wants_usage,
        )
        steps = (
            step_contexts(route.path, convert_ctx, [self.settings_of(o) if o else None for o in route.converter_owners])
            if route.path
            else []
        )
        if route.path:
            try:
                converted = convert_request(route.path, msgspec.json.decode(ctx.body), steps)
            except InvalidRequest as exc:
                raise invalid_request(exc.message) from None
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise RelayError(
                    400, f"the request cannot be converted for this channel: {exc}", type_="invalid_request_error"
                ) from None
            body, body_model = msgspec.json.encode(converted), str(converted.get("model") or "")
        # When converting, the gateway needs the upstream's usage events itself.
        wants_usage = ctx.wants_usage and not route.path
        request, key_index, upstream_model = self._request_for(
            route.upstream,
            ctx.model,
            body,
            ctx.stream,
            wants_usage,
            channel,
            channel_type,
            body_model=body_model,
            client_headers=ctx.client_headers,
            type_owner=route.type_owner,
        )
        if ctx.trace is not None:
            ctx.trace.attempt(channel, channel_type, upstream_model, request.url)
        guard = fetch_guard.policy(self.options) if guarded else None
        try:
            response = await self.client.send(
                request, proxy=channel.proxy, idle_timeout=self.streaming_timeout, guard=guard
            )
        except UpstreamError as exc:
            raise _send_failed(exc, hide=guarded and ctx.entry.role < ROLE_ROOT) from None
        attempt = Attempt(ctx, channel, route, steps, key_index, upstream_model)
        if response.status >= 400 or response.status < 200:
            await self._failed_status(attempt, response)
        if ctx.stream:
            return self._stream(attempt, response)
        return await self._complete(attempt, response)

    async def _failed_status(self, attempt: Attempt, response: UpstreamResponse) -> None:
        channel = attempt.channel
        try:
            body = await response.read(ERROR_BODY_LIMIT)
        except UpstreamError:
            body = b""
        finally:
            await response.close()
        status = response.status
        mapped = channel.status_code_mapping.get(str(status))
        if mapped and mapped.isdigit():
            status = int(mapped)
        message, type_, code = upstream_error(body, response.status)
        message = redact(message, channel.keys)  # also kept as a disable reason, which admins read
        verdict = attempt.route.channel_type.adapter.classify_error(response.status, body)
        headers = {}
        retry_after = response.headers.get("retry-after")
        if retry_after:
            headers["Retry-After"] = retry_after
        disable = verdict.disable_channel if verdict else False
        if metrics.METRICS is not None:
            metrics.METRICS.upstream_error(channel.id, response.status)
        await self._maybe_disable(channel, attempt.key_index, status, message, disable)
        if verdict is not None and verdict.status is not None:
            status = verdict.status
        retry = verdict.retry if verdict is not None else self._retryable(status)
        raise AttemptFailed(status, message, error_type=type_, code=code, retry=retry, headers=headers)

    def _retryable(self, status: int) -> bool:
        if 200 <= status < 300:
            return False
        if status < 100 or status > 599:
            return True
        spec = self.options.get("AutomaticRetryStatusCodes") or DEFAULT_RETRY_CODES
        return in_ranges(status, parse_ranges(spec))

    async def _maybe_disable(
        self, channel: ChannelEntry, key_index: int, status: int, message: str, forced: bool
    ) -> None:
        """Count a qualifying error toward disabling the channel (key), or disable it at once.

        ``forced``: the adapter's verdict says the account is unusable (suspended, key revoked).
        That is a fact about the account, not a guess from a status code, so it disables the
        channel at once, whatever the status, the error threshold and the status-code rules. The
        admin's switches still decide: ``AutomaticDisableChannelEnabled`` and the channel's
        ``auto_ban``; when they keep the channel on, the verdict is logged, not dropped.
        """
        if not channel.auto_ban or not self.options.get_bool("AutomaticDisableChannelEnabled"):
            if forced:
                log.warning(
                    "channel #%s: the adapter reports the account unusable (status %s: %s); left on because "
                    "automatic disabling is off for it",
                    channel.id,
                    status,
                    message[:200],
                )
            return
        if forced:
            await disable_channel(channel, key_index, f"status {status}: {message[:200]}")
            if self.on_channels_changed is not None:
                await self.on_channels_changed()
            return
        if status == 429:
            return
        codes = parse_ranges(self.options.get("AutomaticDisableStatusCodes") or DEFAULT_DISABLE_CODES)
        keywords = self.options.get("AutomaticDisableKeywords")
        words = [w.strip().lower() for w in keywords.split("\n") if w.strip()] if keywords else DEFAULT_DISABLE_KEYWORDS
        lowered = message.lower()
        if not (in_ranges(status, codes) or any(w in lowered for w in words)):
            return
        threshold = max(1, self.options.get_int("AutomaticDisableChannelErrorThreshold", 3))
        window = max(1.0, self.options.get_float("AutomaticDisableChannelErrorWindowSeconds", 60.0))
        try:
            tripped = await self.health.record(channel.id, key_index, threshold, window)
        except StoreUnavailable:
            log.warning("channel #%s error not counted: the shared store is unavailable", channel.id)
            return
        if tripped:
            await disable_channel(channel, key_index, f"status {status}: {message[:200]}")
            if self.on_channels_changed is not None:
                await self.on_channels_changed()

    # -- success ----------------------------------------------------------------------------

    async def _complete(self, attempt: Attempt, response: UpstreamResponse) -> Reply:
        ctx, route = attempt.ctx, attempt.route
        try:
            body = await response.read()
        except UpstreamError as exc:
            raise AttemptFailed(
                502, f"reading the upstream response failed: {exc.message}", code="bad_response_body"
            ) from None
        finally:
            await response.close()
        if ctx.trace is not None:
            ctx.trace.answer(body)
        upstream = route.upstream
        try:
            usage = upstream.usage(body)
        except ValueError as exc:
            raise AttemptFailed(502, str(exc), code="bad_response_body") from None
        estimated = False
        if usage is None or usage.total_tokens == 0:
            from newapi_host.tokenizer import count_tokens

            text = upstream.response_text(body) if upstream.response_text else ""
            completion = count_tokens(text, ctx.model) if text else 0
            usage = Usage(prompt_tokens=self._estimate_prompt(ctx), completion_tokens=completion, estimated=True)
            estimated = True
        rewrite = self._thinking_rewrite(attempt)
        if rewrite is not None:
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                body = msgspec.json.encode(rewrite[0](msgspec.json.decode(body)))
        if route.path:
            try:
                body = msgspec.json.encode(convert_response(route.path, msgspec.json.decode(body), attempt.steps))
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise AttemptFailed(
                    502, f"the upstream answer could not be converted: {exc}", code="bad_response_body"
                ) from None
        await landed(self._settle(attempt, usage, "completed", first_token_ms=None, estimated=estimated))
        headers = {REQUEST_ID_HEADER: ctx.request_id}
        upstream_id = response.headers.get("x-request-id")
        if upstream_id:
            headers["X-Upstream-Request-Id"] = upstream_id
        return Reply(status=response.status, headers=headers, body=body)

    def _stream(self, attempt: Attempt, response: UpstreamResponse) -> Reply:
        ctx, route = attempt.ctx, attempt.route
        injected = not ctx.wants_usage and not route.path
        counter = route.upstream.stream_usage()
        if ctx.trace is not None:
            counter = ctx.trace.watch(counter)
        chain = StreamChain(route.path, attempt.steps) if route.path else None
        rewrite = self._thinking_rewrite(attempt)
        if rewrite is not None:
            chain = _SingleStage(rewrite[1]())
        relay = self
        finished = settled = False

        async def settle(state: str, first_token_ms: int | None, delivered: bool) -> None:
            """Release the hold and charge: exactly once, however and whenever the stream ends."""
            nonlocal settled
            if settled:
                return
            settled = True
            await landed(relay._settle_stream(attempt, counter, state, first_token_ms, delivered))

        async def finish(state: str, first_token_ms: int | None, delivered: bool) -> None:
            """Close the upstream and settle (if that has not happened yet): exactly once."""
            nonlocal finished
            if finished:
                return
            finished = True
            relay._ended()
            try:
                await response.close()
            finally:
                await settle(state, first_token_ms, delivered)

        async def events() -> AsyncIterator[bytes]:
            REQUEST_ID.set(ctx.request_id)  # this runs in the task that sends the stream
            parser = SSEParser()
            state = "client_gone"
            first_token_ms: int | None = None
            delivered = False
            error_message: str | None = None
            try:
                async for chunk in response.iter_chunks():
                    # Everything one upstream read produced goes out in one write.
                    out: list[bytes] = []
                    bad: Exception | None = None
                    try:
                        for event in parser.feed(chunk):
                            if counter.feed(event) and injected:
                                continue  # usage we asked for on our own behalf
                            if chain is None:
                                out.append(encode_event(event))
                            else:
                                out.extend(encode_event(e) for e in chain.feed(event))
                    except (SSEError, ValueError) as exc:
                        bad = exc  # pass on the good events before it, then stop
                    if out:
                        if first_token_ms is None:
                            first_token_ms = int((time.monotonic() - ctx.started) * 1000)
                        delivered = True
                        if not settled and bad is None and counter.finished and counter.result() is not None:
                            # The answer and its usage are in: charge before the client reads its last
                            # bytes, so its next request already meets the new balance.
                            await settle("completed", first_token_ms, True)
                        yield b"".join(out)
                    if bad is not None:
                        raise bad
                tail = parser.flush()
                for event in tail:
                    counter.feed(event)
                if chain is not None:
                    tail = [e for event in tail for e in chain.feed(event)] + chain.finish()
                if tail:
                    delivered = True
                if counter.finished:
                    state = "completed"
                    await settle(state, first_token_ms, delivered)  # billed before the last bytes go out
                else:
                    state = "upstream_error"
                    error_message = "the upstream stream ended before the answer was complete"
                if tail:
                    yield b"".join(encode_event(e) for e in tail)
            except UpstreamTimeout:
                state = "timeout"
                error_message = f"the upstream sent nothing for {relay.streaming_timeout:g} seconds"
            except (UpstreamError, SSEError, ValueError) as exc:
                state = "upstream_error"
                error_message = getattr(exc, "message", None) or str(exc)
            finally:
                await finish(state, first_token_ms, delivered)
            if error_message is not None:
                error_message = redact(error_message, attempt.channel.keys)  # an upstream error event quoted
                body = ctx.dialect.error_body(
                    502, f"{error_message} (request id: {ctx.request_id})", "upstream_error", "bad_response_body"
                )
                yield encode_event(SSEEvent(data=body.decode(), event=ctx.dialect.stream_error_event))

        return Reply(
            status=200,
            headers={REQUEST_ID_HEADER: ctx.request_id, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            stream=events(),
            media_type="text/event-stream",
            on_close=lambda: finish("client_gone", None, False),  # if the stream never even started
        )

    # -- settlement -------------------------------------------------------------------------

    def _settle_stream(
        self, attempt: Attempt, counter: Any, state: str, first_token_ms: int | None, delivered: bool
    ) -> Awaitable[None] | None:
        ctx = attempt.ctx
        usage = counter.result()
        estimated = False
        if usage is None:
            if not delivered:
                usage = None  # nothing reached the client: nothing is charged
            else:
                counted, rest = counter.output_text()
                from newapi_host.tokenizer import count_tokens

                completion = counted + (count_tokens(rest, ctx.model) if rest else 0)
                usage = Usage(prompt_tokens=self._estimate_prompt(ctx), completion_tokens=completion, estimated=True)
                estimated = True
        return self._settle(attempt, usage, state, first_token_ms=first_token_ms, estimated=estimated)

    def _settle(
        self, attempt: Attempt, usage: Usage | None, state: str, *, first_token_ms: int | None, estimated: bool
    ) -> Awaitable[None] | None:
        """Queue the charge and its log row; an awaitable while its balance move is on its way."""
        ctx, channel, upstream_model = attempt.ctx, attempt.channel, attempt.upstream_model
        if ctx.trace is not None:
            ctx.trace.settled(usage, state, ctx.stream)
        price = ctx.price
        if usage is None:
            self.ledger.release(ctx.hold)
            return None  # nothing reached the client: nothing is charged or logged
        quota = self.prices.charge(price, usage)
        entry = ctx.entry
        self.rate_limits.used(entry, usage)  # token-per-minute limits (nothing when they are off)
        if metrics.METRICS is not None:
            metrics.METRICS.charged(ctx.model, usage.prompt_tokens, usage.completion_tokens, quota)
        row = None
        if self.options.get_bool("LogConsumeEnabled"):
            row = log_row(
                type=LOG_CONSUME,
                user_id=entry.user_id,
                username=entry.username,
                token_id=entry.id,
                token_name=entry.name,
                group=entry.using_group,
                model=ctx.model,
                quota=quota,
                content=f"model ratio {price.model_ratio:g}, completion ratio {price.completion_ratio:g}, "
                f"group ratio {price.group_ratio:g}",
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                use_time=int(time.monotonic() - ctx.started),
                is_stream=ctx.stream,
                channel_id=channel.id,
                request_id=ctx.request_id,
                other={
                    **price.details(),
                    "cache_tokens": usage.cached_tokens,
                    "frt": first_token_ms if first_token_ms is not None else -1,
                    "is_model_mapped": upstream_model != ctx.model,
                    "upstream_model_name": upstream_model,
                    "end_state": state,
                    "usage_estimated": estimated,
                    "admin_info": {"use_channel": [str(c) for c in ctx.tried]},
                },
            )
        return self.ledger.settle(
            Charge(
                user_id=entry.user_id,
                token_id=entry.id,
                channel_id=channel.id,
                quota=quota,
                token_unlimited=entry.unlimited_quota,
                log=row,
            ),
            ctx.hold,
        )


class _SingleStage:
    """A one-stage stream chain (used for rewrites that are not conversions)."""

    def __init__(self, stage: Any) -> None:
        self.stage = stage

    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        return list(self.stage.feed(event))

    def finish(self) -> list[SSEEvent]:
        return list(self.stage.finish())


__all__ = ["Relay"]
