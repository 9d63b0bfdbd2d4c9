"""The plugin SDK: everything a plugin imports from the host, and nothing else.

``from newapi_host import sdk`` (or ``from newapi_host.sdk import ...``) is the one supported way
for a plugin to reach the host. It is versioned: :data:`SDK_VERSION` follows semantic versioning,
and a plugin states the versions it works with in its module::

    NEWAPI_SDK = ">=1.0,<2"

The host refuses a plugin whose range excludes its SDK version, with a message in ``newapi
plugins`` and on the Plugins page. Everything else under ``newapi_host`` may change in any release.

What is here (each documented in docs/plugins.md):

- **hooks**: :data:`hookimpl`, and :class:`Registrar` (what the register hooks receive);
- **contracts**: the objects a plugin contributes (:class:`ChannelType`, :class:`Dialect`,
  :class:`Converter`, :class:`PricingDefaults`, :class:`PaymentMethod`, :class:`LoginMethod`,
  :class:`BackgroundJob` ...) and the ones the host hands over (:class:`UpstreamCall`,
  :class:`ConvertContext`, :class:`JobContext` ...);
- **helpers**: token counting (:func:`count_tokens`, :class:`TextTally`, the prompt estimators)
  and body helpers (:func:`read_object`, :func:`object_or_empty`, :func:`dumps`, :func:`token_count`,
  :func:`encode_event` for server-sent events);
- **services** for routes and jobs: :func:`authenticate` an API key (and :func:`models_for` the
  models it may use), :func:`relay` a request
  through the gateway in a dialect, :func:`settings` of a plugin, :func:`error_response` in a
  dialect's shape (:class:`ClientError`), and :func:`charge` / :func:`refund` quota for work
  done outside the relay, with their log rows;
- **tasks** (:mod:`newapi_host.sdk.tasks`) for work that finishes later: :func:`task_price`,
  :func:`task_channel`, :func:`submit_task` (hold, upstream call, charge), :func:`find_tasks`,
  :func:`update_task` (settle or refund, exactly once), :func:`task_poll_job`, :func:`call_upstream`
  and :func:`option`.
- **payments** for payment plugins' own routes: :func:`quote_topup`, :func:`open_order`,
  :func:`payment_notice` (the host's exactly-once settlement at a plugin's path),
  :func:`find_order`, :func:`close_order`, read-only :func:`options`, :func:`server_address`,
  and the :data:`user_auth` guard for routes of signed-in users.

Plugin tables are Piccolo tables (``piccolo`` is a dependency of the host); plugin routes are
Litestar handlers.
"""

from newapi_host.plugins import hookimpl
from newapi_host.plugins.compat import SDK_VERSION
from newapi_host.plugins.contracts import (
    BackgroundJob,
    Balance,
    ChannelAdapter,
    ChannelType,
    ChannelView,
    ConvertContext,
    Converter,
    Dialect,
    ErrorVerdict,
    Fetch,
    Identity,
    IngressRoute,
    InvalidRequest,
    JobContext,
    LoginContext,
    LoginFailed,
    LoginMethod,
    PaymentCallback,
    PaymentMethod,
    PaymentNotice,
    PaymentOrder,
    Peek,
    PricingDefaults,
    SSEEvent,
    StreamConverter,
    StreamUsageCounter,
    UpstreamCall,
    UpstreamFailed,
    UpstreamRequest,
    Usage,
)
from newapi_host.plugins.registry import Registrar
from newapi_host.relay.sse import encode_event
from newapi_host.tokenizer import TextTally, count_tokens, estimate_chat_prompt_tokens, estimate_text_prompt_tokens

from .bodies import dumps, object_or_empty, read_object, token_count
from .payments import (
    Order,
    PaymentRefused,
    Quote,
    close_order,
    find_order,
    open_order,
    options,
    payment_notice,
    quote_topup,
    server_address,
    user_auth,
)
from .services import (
    Caller,
    ClientError,
    SessionUser,
    authenticate,
    charge,
    error_response,
    models_for,
    refund,
    relay,
    session_user,
    settings,
)
from .tasks import (
    FINAL_STATUSES,
    TASK_STATUSES,
    TASK_TABLES,
    UpstreamReply,
    call_upstream,
    find_tasks,
    option,
    report_unusable,
    submit_task,
    task_channel,
    task_poll_job,
    task_price,
    update_task,
)

__all__ = [
    "SDK_VERSION",
    # hooks
    "Registrar",
    "hookimpl",
    # contracts
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
    # helpers
    "TextTally",
    "count_tokens",
    "dumps",
    "encode_event",
    "estimate_chat_prompt_tokens",
    "estimate_text_prompt_tokens",
    "object_or_empty",
    "read_object",
    "token_count",
    # services
    "Caller",
    "ClientError",
    "authenticate",
    "charge",
    "error_response",
    "models_for",
    "refund",
    "relay",
    "session_user",
    "settings",
    "SessionUser",
    # tasks
    "FINAL_STATUSES",
    "TASK_STATUSES",
    "TASK_TABLES",
    "UpstreamReply",
    "call_upstream",
    "find_tasks",
    "option",
    "report_unusable",
    "submit_task",
    "task_channel",
    "task_poll_job",
    "task_price",
    "update_task",
    # payments (top-up orders)
    "Order",
    "PaymentRefused",
    "Quote",
    "close_order",
    "find_order",
    "open_order",
    "options",
    "payment_notice",
    "quote_topup",
    "server_address",
    "user_auth",
]
