"""The typed objects a plugin contributes to the host.

Each class here is one kind of contribution. A plugin builds instances in its registration hooks
(see :mod:`newapi_host.plugins.hookspecs`) and hands them to the :class:`~.registry.Registrar`;
the host owns everything else: network I/O, retries, billing, logging, persistence.

Callables inside these objects run at request time, so they must be cheap and must not block:
build a request, parse a body, transform a stream event. Nothing here talks to the network
except :class:`PaymentMethod` and :class:`LoginMethod`, whose calls are async.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

# --------------------------------------------------------------------------------------------
# Relay data passed between host and plugins


class InvalidRequest(Exception):
    """Raised by a dialect's ``peek`` for a body it cannot accept; the message goes to the client."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param = message, param


@dataclass(slots=True)
class Peek:
    """What routing needs from a request body, read without validating the whole body.

    ``wants_usage`` says whether the client asked for usage in a stream (OpenAI's
    ``stream_options.include_usage``); when the host asks the upstream for usage on its own
    behalf, it withholds the usage-only events from clients that did not ask. ``n`` is how many
    answers the client asked for (OpenAI's ``n``, Gemini's ``candidateCount``): the hold covers
    ``max_tokens`` for each, so a dialect must bound it.
    """

    model: str
    stream: bool = False
    max_tokens: int | None = None
    wants_usage: bool = True
    n: int = 1


@dataclass(slots=True)
class Usage:
    """Token usage of one upstream call, in the host's common terms.

    ``prompt_tokens`` follows OpenAI semantics (it includes cached and cache-write tokens) unless
    ``prompt_excludes_cache`` is set, as Anthropic reports it; billing handles both.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_creation_5m_tokens: int = 0
    cache_creation_1h_tokens: int = 0
    reasoning_tokens: int = 0
    prompt_excludes_cache: bool = False
    estimated: bool = False  # counted by the gateway because the upstream reported none

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One server-sent event: optional ``event:`` name and its ``data:`` payload."""

    data: str
    event: str | None = None


@dataclass(frozen=True, slots=True)
class ChannelView:
    """The parts of a channel row an adapter may read, with type-specific settings validated."""

    id: int
    type: int
    name: str
    base_url: str
    key: str
    other: str = ""
    settings: BaseModel | None = None
    openai_organization: str = ""


@dataclass(slots=True)
class UpstreamCall:
    """Everything an adapter needs to build one upstream request.

    ``body`` is already in the upstream dialect (converted when the client spoke another one), and
    its ``model`` field already names ``model``, the channel's model mapping applied. The host
    applies the channel's ``param_override`` to the body the adapter returns, and its
    ``header_override`` to the headers, after the adapter.
    """

    channel: ChannelView
    dialect: str
    model: str  # the upstream model name, after the channel's model mapping
    body: bytes
    stream: bool
    body_model: str = ""  # the model name written in ``body`` (equal to ``model`` unless the body has none)
    wants_usage: bool = True  # the client asked for stream usage itself
    path: str = ""
    client_headers: Mapping[str, str] = field(default_factory=dict)
    settings: BaseModel | None = None  # the current settings of the plugin that owns the channel type


@dataclass(slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class ErrorVerdict:
    """How the host should treat a failed upstream call."""

    retry: bool
    disable_channel: bool = False
    status: int | None = None  # status to report to the client, when it differs from upstream's


# --------------------------------------------------------------------------------------------
# Providers: channel types, dialects, converters, pricing


class UpstreamFailed(Exception):
    """A model-list or balance query that did not work.

    ``message`` is shown to root; ``public`` (default: the same) to other admins, so it must not
    carry a key or an upstream's page. The host raises it from :class:`Fetch` with both set.
    """

    def __init__(self, message: str, public: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.public = message if public is None else public


class Fetch(Protocol):
    """What an adapter's admin capabilities use to talk to the upstream; the host sends for them.

    ``await fetch(url, headers={...})`` GETs ``url`` and returns its decoded JSON. The host sends it
    through the channel's proxy, within the SSRF settings (``fetch_setting``) and a time limit,
    adding the channel's header overrides; no answer, an error status or a body that is not JSON
    raise :class:`UpstreamFailed`, with the details for root and a safe message for other admins.
    """

    async def __call__(self, url: str, *, headers: Mapping[str, str] | None = None) -> Any: ...


@dataclass(frozen=True, slots=True)
class Balance:
    """What an account has left, in the currency the upstream reports (the host converts CNY)."""

    amount: float
    currency: Literal["USD", "CNY"] = "USD"


@runtime_checkable
class ChannelAdapter(Protocol):
    """Turns a prepared call into an HTTP request for one kind of upstream.

    Adapters never do I/O: the host sends the request with its own pooled client, applies
    timeouts and retries, and hands error bodies back to :meth:`classify_error`.

    Two optional methods give the console's channel tools what the host cannot know about an
    upstream; define them when the provider offers it (the host checks with ``getattr``):

    - ``async def list_models(self, channel: ChannelView, fetch: Fetch) -> list[str]``: the model
      ids the account can use ("fetch models" in the channel form);
    - ``async def read_balance(self, channel: ChannelView, fetch: Fetch) -> Balance``: what the
      account has left ("update balance"; a balance at or below zero can disable the channel).

    Both talk to the upstream only through ``fetch`` and raise :class:`UpstreamFailed` with a
    readable message when the answer is not what they expect.
    """

    def build_request(self, call: UpstreamCall) -> UpstreamRequest: ...

    def classify_error(self, status: int, body: bytes) -> ErrorVerdict | None:
        """Return a verdict for provider-specific errors, or None to use the host's status rules.

        ``ErrorVerdict(disable_channel=True)`` says the account is unusable (suspended, key
        revoked): the channel is disabled at once when automatic disabling is on (the option and
        the channel's ``auto_ban``), whatever the status and the error threshold.
        """
        ...


@dataclass(frozen=True, slots=True)
class ChannelType:
    """A kind of upstream account an admin can add as a channel.

    ``id`` is New API's numeric channel type where one exists (1 OpenAI, 14 Anthropic, 24 Gemini,
    ...) so existing databases and scripts keep working. ``settings_model`` validates the
    channel's type-specific fields and its JSON schema drives the console's channel form.
    ``task_platform`` names the task platform (``midjourney``, ``suno``) of a type that serves a
    task plugin's own routes (see :mod:`newapi_host.sdk.tasks`) rather than a relay dialect; its
    ``dialects`` may then be empty.
    """

    id: int
    name: str
    dialects: tuple[str, ...]
    adapter: ChannelAdapter
    settings_model: type[BaseModel] | None = None
    default_base_url: str = ""
    default_models: tuple[str, ...] = ()
    description: str = ""
    task_platform: str = ""


@dataclass(frozen=True, slots=True)
class IngressRoute:
    """A client-facing relay endpoint that speaks a dialect, such as ``POST /v1/chat/completions``."""

    method: str
    path: str


class StreamUsageCounter(Protocol):
    """Follows one stream as it passes through; memory must stay flat however long it runs."""

    def feed(self, event: SSEEvent) -> bool:
        """Look at one event; return True if it carries nothing but usage (it may be withheld).

        Raise ``ValueError`` for an event that is not valid in this dialect (the host then ends
        the stream with an error rather than pass garbage on).
        """
        ...

    def result(self) -> Usage | None:
        """Usage as the upstream reported it, or None if it reported none."""
        ...

    def output_text(self) -> tuple[int, str]:
        """Tokens already counted plus the text not yet counted, for an estimate when usage is missing."""
        ...

    @property
    def finished(self) -> bool:
        """True once the stream said it was complete (a finish reason or a final event)."""
        ...


@dataclass(frozen=True, slots=True)
class Dialect:
    """A wire format the gateway accepts from clients and may speak to upstreams.

    Names are dotted, owner first: ``openai.chat``, ``openai.responses``, ``claude.messages``.
    """

    name: str
    routes: tuple[IngressRoute, ...]
    peek: Callable[[bytes, Mapping[str, str]], Peek]
    """Read model/stream/max_tokens from the raw body; the mapping holds path parameters."""
    error_body: Callable[[int, str, str, str | None], bytes]
    """Encode an error as this dialect's clients expect it: (status, message, type, code)."""
    usage: Callable[[bytes], Usage | None]
    """Read usage from a complete (non-stream) response body; raise ValueError if it is not valid."""
    stream_usage: Callable[[], StreamUsageCounter]
    """Make a fresh incremental usage counter for one stream."""
    api_key_headers: tuple[str, ...] = ("authorization",)
    """Headers the API key may arrive in, first match wins (``Bearer`` prefix stripped)."""
    api_key_query: str | None = None
    """Query parameter that may carry the key (Gemini's ``?key=``)."""
    title: str = ""
    estimate_prompt: Callable[[bytes, str], int] | None = None
    """Estimate prompt tokens of a raw body for a model, for holds and when usage is missing."""
    response_text: Callable[[bytes], str] | None = None
    """The generated text of a response body, counted when the upstream reported no usage."""
    stream_error_event: str | None = None
    """SSE event name for an error sent mid-stream (Anthropic clients expect ``error``)."""
    thinking_to_content: tuple[Callable[[dict], dict], Callable[[], StreamConverter]] | None = None
    """How to move reasoning into the answer text (full response, stream) for channels with the
    ``thinking_to_content`` setting, when no conversion is involved (converters see the setting in
    ``ConvertContext.options``)."""


class StreamConverter(Protocol):
    """Stateful per-stream transformer: upstream events in, client events out."""

    def feed(self, event: SSEEvent) -> Iterable[SSEEvent]: ...

    def finish(self) -> Iterable[SSEEvent]: ...


@dataclass(frozen=True, slots=True)
class ConvertContext:
    """Per-request facts a converter may need.

    ``model`` is the model the client asked for (answers name it). ``wants_usage`` is False only
    for the converter facing an OpenAI chat client that did not ask for stream usage
    (``stream_options.include_usage``): its stream must then end with ``[DONE]`` and no usage
    chunk; converters further up the chain always get True. ``settings`` are the current
    settings of the plugin that registered this converter. ``options`` carries channel switches
    such as ``thinking_to_content``.
    """

    model: str
    stream: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    wants_usage: bool = True
    settings: BaseModel | None = None


@dataclass(frozen=True, slots=True)
class Converter:
    """Translation between two dialects for one request: client side ``source``, upstream ``target``."""

    source: str
    target: str
    request: Callable[[dict, ConvertContext], dict]
    response: Callable[[dict, ConvertContext], dict]
    stream: Callable[[ConvertContext], StreamConverter]


@dataclass(frozen=True, slots=True)
class PricingDefaults:
    """Default prices in New API's units; admins' option values always win over these.

    ``model_ratio`` 1 means USD 2 per million input tokens; ``model_price`` is USD per call.
    """

    model_ratio: Mapping[str, float] = field(default_factory=dict)
    completion_ratio: Mapping[str, float] = field(default_factory=dict)
    model_price: Mapping[str, float] = field(default_factory=dict)
    cache_ratio: Mapping[str, float] = field(default_factory=dict)
    create_cache_ratio: Mapping[str, float] = field(default_factory=dict)

    def tables(self) -> dict[str, Mapping[str, float]]:
        return {
            "ModelRatio": self.model_ratio,
            "CompletionRatio": self.completion_ratio,
            "ModelPrice": self.model_price,
            "CacheRatio": self.cache_ratio,
            "CreateCacheRatio": self.create_cache_ratio,
        }


# --------------------------------------------------------------------------------------------
# Background jobs


@dataclass(frozen=True, slots=True)
class JobContext:
    """Handed to a job each time it runs."""

    plugin: str
    settings: BaseModel | None
    state: Any  # the application's state object (shared clients, caches)


@dataclass(frozen=True, slots=True)
class BackgroundJob:
    """Periodic work such as task polling or cleanups.

    With ``once_per_cluster`` (the default) a database lease makes sure only one worker on one
    node runs the job at a time; otherwise every worker runs it. Jobs of a disabled plugin pause.
    ``active``, when given, is asked before each turn: False skips the turn without taking the
    lease, so a node switched off for the job (``UPDATE_TASK=false``) leaves it to the others.
    """

    name: str
    interval: float
    run: Callable[[JobContext], Awaitable[None]]
    once_per_cluster: bool = True
    active: Callable[[], bool] | None = None


# --------------------------------------------------------------------------------------------
# Payments and logins


@dataclass(frozen=True, slots=True)
class PaymentOrder:
    trade_no: str
    user_id: int
    amount: int  # units bought, as New API's top-up ``amount``
    money: float  # what the user pays, in the method's currency
    return_url: str
    notify_url: str
    settings: BaseModel | None = None
    pay_type: str = ""  # the sub-type the user picked (Epay's alipay / wxpay ...), else the method's id
    email: str = ""  # the user's e-mail, for providers that prefill their checkout with it
    username: str = ""
    options: Mapping[str, str] = field(default_factory=dict)  # the gateway's options (New API's keys), read-only


@dataclass(frozen=True, slots=True)
class PaymentCallback:
    """The provider's call to the notify URL, as ``verify_notice`` receives it."""

    query: Mapping[str, str]
    body: bytes
    headers: Mapping[str, str]  # names lower-cased
    settings: BaseModel | None = None  # the plugin's current settings (merchant keys and the like)
    options: Mapping[str, str] = field(default_factory=dict)  # the gateway's options (New API's keys), read-only


@dataclass(frozen=True, slots=True)
class PaymentNotice:
    """A verified payment notification: the host credits the order once, by trade number.

    ``paid`` credits the order (once, whatever the number of notices); otherwise the pending order
    is closed with ``status`` (``failed``, or ``expired`` when the provider let it lapse). ``money``
    is what the provider says was paid: when given, it must equal the order's price to the cent or
    nothing is credited. ``ignore`` marks a genuine notice the host has nothing to do for (an event
    type it does not handle); it is answered with ``reply`` and changes nothing.

    ``refused`` with a ``reason`` (never a secret or the raw signature) and the ``trade_no`` the
    caller claimed is a refusal the admin sees on the order desk; so is an ``ignore``d notice that
    names a ``trade_no`` and gives a ``reason`` (an unpaid status).
    """

    trade_no: str
    paid: bool
    reply: bytes = b"success"  # body to answer the provider's callback with
    status: Literal["failed", "expired"] = "failed"
    money: float | None = None
    ignore: bool = False
    currency: str = ""  # what the provider says ``money`` is in (Stripe's session currency); empty: the method's
    refused: bool = False  # not acceptable (a bad signature, another merchant): as returning None, with a reason
    reason: str = ""  # why it was refused, or why an ``ignore``d notice about ``trade_no`` changed nothing


@dataclass(frozen=True, slots=True)
class PaymentMethod:
    """A way to pay for top-ups (Epay, Stripe, ...)."""

    id: str
    name: str
    create_order: Callable[[PaymentOrder], Awaitable[str]]
    """Create the order at the provider; return the URL the user is sent to."""
    verify_notice: Callable[[PaymentCallback], Awaitable[PaymentNotice | None]]
    """Check the provider's callback (query, raw body, headers, settings); None when it is not genuine."""
    currency: str = "CNY"
    pay_types: Callable[[BaseModel | None, Mapping[str, str]], list[dict[str, str]]] | None = None
    r"""The sub-types this method offers (New API's ``PayMethods`` entries: ``name``, ``type``, ``color``
    ...), from its settings and the options; ``POST /api/user/pay`` with one of these ``type``\ s as
    ``payment_method`` is paid with this method. None: the method is offered under its own id."""
    form_post: bool = False
    """The payment page is a form posted to the provider (Epay's ``submit.php``): ``POST /api/user/pay``
    then answers as New API does for Epay, ``data`` the fields (the URL's query) and ``url`` the
    address, so New API's own frontend can post the form."""
    pricing: Callable[[BaseModel | None, Mapping[str, str]], tuple[float, int]] | None = None
    """The method's own ``(money per unit, least units)`` from its settings and the options (Stripe's
    ``StripeUnitPrice`` and ``StripeMinTopUp``); ``POST /api/user/pay`` prices its orders with them.
    None: option ``Price`` and ``MinTopUp``, as New API prices Epay."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a login method says the user is.

    ``user_id`` is set when the method resolved a local user itself (password login); otherwise
    the host binds ``method`` + ``subject`` to a user (``github_id``, ``oidc_id``, ...).
    """

    method: str
    subject: str
    username: str = ""
    display_name: str = ""
    email: str = ""
    user_id: int | None = None


class LoginFailed(Exception):
    """Raised by a login method with a message that is safe to show the user."""


@dataclass(frozen=True, slots=True)
class LoginContext:
    """One sign-in attempt, as the host hands it to :attr:`LoginMethod.start` and ``complete``.

    ``secret`` is a random value the host made for this attempt and keeps (in the browser's
    http-only state cookie) from ``start`` to ``complete``; derive PKCE verifiers and OIDC nonces
    from it. It is empty when the attempt did not go through ``start``: New API's own front end
    asks ``GET /api/oauth/state`` and builds the provider's URL itself, so no verifier or nonce
    was sent then.
    """

    redirect_uri: str
    state: str
    settings: BaseModel | None = None
    secret: str = ""


@dataclass(frozen=True, slots=True)
class LoginMethod:
    """A way to sign in to the console.

    ``form`` methods receive submitted fields in :attr:`complete`; ``redirect`` methods first send
    the browser to :attr:`start`'s URL and are completed with the callback's query parameters;
    ``widget`` methods (Telegram's login widget) get a payload the provider signed, in the query
    of ``GET /api/oauth/{id}/login`` (sign in) or ``/api/oauth/{id}/bind`` (link to the signed-in
    user): :attr:`complete` must verify the signature and freshness; the host lets each payload
    work once.
    """

    id: str
    name: str
    kind: Literal["form", "redirect", "widget"]
    complete: Callable[[LoginContext, Mapping[str, str]], Awaitable[Identity]]
    start: Callable[[LoginContext], Awaitable[str]] | None = None
    icon: str = ""
    available: Callable[[BaseModel | None], bool] | None = None
    """Whether the method is switched on and configured, given the plugin's current settings
    (New API's ``GitHubOAuthEnabled`` and the like); None: whenever the plugin is enabled. The
    host offers, reports (``/api/status``) and completes only available methods."""


__all__ = [
    "BackgroundJob",
    "Balance",
    "ChannelAdapter",
    "ChannelType",
    "ChannelView",
    "ConvertContext",
    "Converter",
    "Dialect",
    "ErrorVerdict",
    "Fetch",
    "Identity",
    "IngressRoute",
    "InvalidRequest",
    "JobContext",
    "LoginContext",
    "LoginFailed",
    "LoginMethod",
    "PaymentCallback",
    "PaymentMethod",
    "PaymentNotice",
    "PaymentOrder",
    "Peek",
    "PricingDefaults",
    "SSEEvent",
    "StreamConverter",
    "StreamUsageCounter",
    "UpstreamCall",
    "UpstreamFailed",
    "UpstreamRequest",
    "Usage",
]
