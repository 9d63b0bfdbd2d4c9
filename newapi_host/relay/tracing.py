"""OpenTelemetry traces of relay requests, with the GenAI semantic conventions; off by default.

Tracing is on only when an exporter is configured with the standard OpenTelemetry variables
(``config.exporter_from_env``), and then needs the ``otel`` extra (``opentelemetry-sdk`` and the
OTLP/HTTP exporter). Off, this module imports nothing of OpenTelemetry and the relay pays one
``TRACER is not None`` test per request (as for :mod:`.metrics`).

Each relay request is one SERVER span named ``{gen_ai.operation.name} {model}`` (a W3C
``traceparent`` from the client makes it a child of the caller's trace); each try on a channel
is a CLIENT child span named after the model sent upstream, carrying the provider, the response
model and the token usage, so retries and the upstream's share of the time show on their own.
Spans end when the answer is over: at the end of a stream, not when its headers go out.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import msgspec

from newapi_host import server_log

# gen_ai.operation.name per client dialect (the GenAI conventions' well-known values where one fits).
OPERATIONS = {
    "openai.chat": "chat",
    "openai.responses": "chat",
    "claude.messages": "chat",
    "cohere.chat": "chat",
    "gemini.generate": "generate_content",
    "openai.completions": "text_completion",
    "openai.embeddings": "embeddings",
}

# gen_ai.provider.name per New API channel type, the conventions' well-known values; other types
# are named after the channel type ("OpenRouter" -> "openrouter").
PROVIDERS = {
    1: "openai",
    3: "azure.ai.openai",
    14: "anthropic",
    24: "gcp.gemini",
    33: "aws.bedrock",
    34: "cohere",
    41: "gcp.vertex_ai",
    42: "mistral_ai",
    43: "deepseek",
    48: "x_ai",
}


class TracingConfigError(ValueError):
    """Tracing is configured but cannot run here (the OpenTelemetry packages are missing)."""


def provider_name(channel_type: int, type_name: str) -> str:
    known = PROVIDERS.get(channel_type)
    if known:
        return known
    return "".join(c if c.isalnum() else "_" for c in type_name.strip().lower()) or f"channel_type_{channel_type}"


def _answer_ids(data: Any) -> tuple[str, str]:
    """(model, id) an upstream answer or stream event names, in any of the dialects' shapes."""
    if not isinstance(data, dict):
        return "", ""
    model = data.get("model") or data.get("modelVersion")
    answer_id = data.get("id") or data.get("responseId")
    if not model:  # Claude's message_start, the Responses API's response.* events
        inner = data.get("message") or data.get("response")
        if isinstance(inner, dict):
            model = inner.get("model")
            answer_id = answer_id or inner.get("id")
    return (model if isinstance(model, str) else ""), (answer_id if isinstance(answer_id, str) else "")


class Tracing:
    """This worker's tracer provider and span processor (one per app, shut down with it)."""

    def __init__(self, exporter: str) -> None:
        try:
            from opentelemetry.propagators.textmap import DefaultGetter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
            from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context
            from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
        except ImportError as exc:
            raise TracingConfigError(
                f"tracing is configured but OpenTelemetry is not installed ({exc.name}); "
                "install the otel extra: pip install 'newapi-host[otel]'"
            ) from None
        from newapi_host import __version__

        # made in each worker (after granian's fork): process.pid tells the workers' spans apart
        resource = Resource.create({"service.version": __version__, "process.pid": os.getpid()})
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = resource.merge(Resource({"service.name": "newapi"}))  # OTEL_SERVICE_NAME wins when set
        if exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            span_exporter: Any = OTLPSpanExporter()  # endpoint, headers, timeout: the OTEL_EXPORTER_OTLP_* variables
        else:
            span_exporter = ConsoleSpanExporter()
        # The sampler comes from OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (default: parent-based, all).
        self.provider = TracerProvider(resource=resource)
        self.provider.add_span_processor(BatchSpanProcessor(span_exporter))
        self.tracer = self.provider.get_tracer("newapi_host.relay", __version__)
        self.propagator = TraceContextTextMapPropagator()
        self.getter = DefaultGetter()
        self.server, self.client = SpanKind.SERVER, SpanKind.CLIENT
        self.ok, self.error = Status(StatusCode.OK), StatusCode.ERROR
        self.status = Status
        self.in_context = set_span_in_context

    def begin(self, headers: Mapping[str, str], dialect: str, request_id: str, method: str, path: str) -> RequestTrace:
        """The SERVER span of one relay request (a child of the client's ``traceparent``, if any)."""
        parent = self.propagator.extract(headers, getter=self.getter) if "traceparent" in headers else None
        operation = OPERATIONS.get(dialect) or dialect.rpartition(".")[2]
        span = self.tracer.start_span(
            operation,
            context=parent,
            kind=self.server,
            attributes={
                "gen_ai.operation.name": operation,
                "newapi.request_id": request_id,
                "newapi.dialect": dialect,
                "http.request.method": method,
                "url.path": path,
            },
        )
        trace = RequestTrace(self, span, operation, request_id)
        if len(LIVE) < LIVE_LIMIT:  # a request whose end never came cannot grow it without bound
            LIVE[request_id] = trace
        return trace

    def shutdown(self) -> None:
        """Send what is buffered and stop the export thread."""
        self.provider.shutdown()


class RequestTrace:
    """The spans of one relay request; the pipeline calls it at a few points (see pipeline.py).

    Attributes learnt along the way are collected in plain dicts and set on a span once, when it
    ends: the SDK validates and locks per call, which made separate calls cost a third more.
    """

    __slots__ = ("tracing", "span", "operation", "request_id", "attrs", "attempt_span", "attempt_attrs", "done")

    def __init__(self, tracing: Tracing, span: Any, operation: str, request_id: str) -> None:
        self.tracing = tracing
        self.span = span
        self.operation = operation
        self.request_id = request_id
        self.attrs: dict[str, Any] = {}
        self.attempt_span: Any = None
        self.attempt_attrs: dict[str, Any] = {}
        self.done = False

    def admitted(self, model: str, stream: bool, user_id: int, token_id: int, group: str) -> None:
        self.span.update_name(f"{self.operation} {model}")
        self.attrs.update(
            {
                "gen_ai.request.model": model,
                "newapi.stream": stream,
                "newapi.user_id": user_id,
                "newapi.token_id": token_id,
                "newapi.group": group,
            }
        )

    def attempt(self, channel: Any, channel_type: Any, upstream_model: str, url: str) -> None:
        """A CLIENT span for one try on one channel (its model is the one sent upstream)."""
        from urllib.parse import urlsplit

        self._end_attempt()
        provider = provider_name(channel.type, channel_type.name)
        self.attempt_span = self.tracing.tracer.start_span(
            f"{self.operation} {upstream_model}",
            context=self.tracing.in_context(self.span),
            kind=self.tracing.client,
        )
        self.attempt_attrs = {
            "gen_ai.operation.name": self.operation,
            "gen_ai.provider.name": provider,
            "gen_ai.system": provider,  # the name before the conventions' 1.37, for older backends
            "gen_ai.request.model": upstream_model,
            "newapi.channel_id": channel.id,
            "newapi.channel_type": channel.type,
            "server.address": urlsplit(url).hostname or "",
        }
        self.attrs.update(
            {"gen_ai.provider.name": provider, "gen_ai.system": provider, "newapi.channel_id": channel.id}
        )

    def attempt_failed(self, status: int, message: str, code: str | None) -> None:
        span = self.attempt_span
        if span is not None:
            self.attempt_attrs["error.type"] = code or str(status)
            if 100 <= status <= 599:
                self.attempt_attrs["http.response.status_code"] = status
            span.set_status(self.tracing.status(self.tracing.error, message[:500]))
            self._end_attempt()

    def answer(self, body: bytes) -> None:
        """A complete upstream answer: the model and id it names."""
        try:
            data = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return
        self._answered(*_answer_ids(data))

    def watch(self, counter: Any) -> Any:
        """Wrap a stream's usage counter so the first events' model and id are read on the way."""
        return _WatchedCounter(counter, self)

    def _answered(self, model: str, answer_id: str) -> None:
        attributes = {}
        if model:
            attributes["gen_ai.response.model"] = model
        if answer_id:
            attributes["gen_ai.response.id"] = answer_id
        self.attrs.update(attributes)
        self.attempt_attrs.update(attributes)

    def settled(self, usage: Any, state: str, stream: bool) -> None:
        """The answer is over (a stream's end): usage on both spans; ends them for a stream."""
        attributes: dict[str, Any] = {"newapi.end_state": state}
        if usage is not None:
            attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
            attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
            attributes["newapi.usage_estimated"] = bool(usage.estimated)
        self.attrs.update(attributes)
        self.attempt_attrs.update(attributes)
        if stream:
            failed = state in ("upstream_error", "timeout")
            if failed and self.attempt_span is not None:
                self.attempt_attrs["error.type"] = state
                self.attempt_span.set_status(self.tracing.status(self.tracing.error, f"stream ended: {state}"))
            self._end_attempt()
            self.finish(200, f"stream ended: {state}" if failed else None, state if failed else None, failed=failed)

    def finish(self, status: int, message: str | None = None, code: str | None = None, *, failed: bool = False) -> None:
        """End the request's span with the HTTP status it was answered with (once).

        A refusal (4xx: a bad key, no quota) is recorded with its ``error.type`` but is not a
        failure of the server (HTTP conventions for SERVER spans); 5xx and broken streams are.
        """
        if self.done:
            return
        self.done = True
        LIVE.pop(self.request_id, None)
        self._end_attempt()
        span = self.span
        self.attrs["http.response.status_code"] = status
        if message is not None:
            self.attrs["error.type"] = code or str(status)
            if status >= 500 or failed:
                span.set_status(self.tracing.status(self.tracing.error, message[:500]))
        span.set_attributes(self.attrs)
        span.end()

    def _end_attempt(self) -> None:
        if self.attempt_span is not None:
            self.attempt_span.set_attributes(self.attempt_attrs)
            self.attempt_span.end()
            self.attempt_span = None
            self.attempt_attrs = {}


class _WatchedCounter:
    """A stream usage counter that also reads the model and id of the first events it is fed."""

    __slots__ = ("counter", "trace", "left")

    def __init__(self, counter: Any, trace: RequestTrace) -> None:
        self.counter = counter
        self.trace = trace
        self.left = 4  # the model is in the first event of every dialect; do not decode the rest

    def feed(self, event: Any) -> bool:
        if self.left:
            self.left -= 1
            data = event.data
            if data[:1] == "{":
                try:
                    model, answer_id = _answer_ids(msgspec.json.decode(data))
                except msgspec.DecodeError:
                    model = answer_id = ""
                if model:
                    self.trace._answered(model, answer_id)
                    self.left = 0
        return self.counter.feed(event)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.counter, name)


TRACER: Tracing | None = None

# The requests being traced, by request id: JSON log lines written meanwhile carry their trace and
# span ids (server_log), so a log search leads to the trace and back.
LIVE: dict[str, RequestTrace] = {}
LIVE_LIMIT = 100_000


def ids_of(request_id: str) -> tuple[str, str] | None:
    """The W3C trace and span ids (hex) of a request being traced, or None."""
    trace = LIVE.get(request_id)
    if trace is None:
        return None
    context = trace.span.get_span_context()
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def setup(exporter: str) -> Tracing | None:
    """Start tracing in this process when an exporter is configured (one app per process)."""
    global TRACER
    if not exporter:
        return None
    TRACER = Tracing(exporter)
    server_log.trace_ids = ids_of  # JSON log lines name the trace of the request they belong to
    return TRACER


def stop(tracing: Tracing) -> None:
    global TRACER
    if TRACER is tracing:
        TRACER = None
        server_log.trace_ids = None
    tracing.shutdown()
