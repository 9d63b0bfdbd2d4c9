"""The OpenAI wire formats: chat, completions, embeddings, responses, moderations.

``peek`` decodes only the fields routing needs (msgspec skips the rest without building
objects), and rejects wrong types with a message naming the field, before any charge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from newapi_host.sdk import Dialect, IngressRoute, InvalidRequest, Peek, SSEEvent, TextTally, Usage

# -- peeking ---------------------------------------------------------------------------------


class _StreamOptions(msgspec.Struct):
    include_usage: bool | None = None


class _ChatPeek(msgspec.Struct):
    model: str | None = None
    stream: bool | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stream_options: _StreamOptions | None = None
    n: int | None = None


class _CompletionsPeek(_ChatPeek):
    best_of: int | None = None


class _ResponsesPeek(msgspec.Struct):
    model: str | None = None
    stream: bool | None = None
    max_output_tokens: int | None = None


class _ModelOnly(msgspec.Struct):
    model: str | None = None


_decoders = {
    name: msgspec.json.Decoder(t)
    for name, t in (
        ("chat", _ChatPeek),
        ("completions", _CompletionsPeek),
        ("responses", _ResponsesPeek),
        ("model", _ModelOnly),
    )
}
MAX_N = 128  # OpenAI's own limit on n
MAX_BEST_OF = 20  # and on best_of (legacy completions)


def _decode(kind: str, body: bytes) -> Any:
    if not body.strip():
        raise InvalidRequest("request body is empty; a JSON object is required")
    try:
        return _decoders[kind].decode(body)
    except msgspec.ValidationError as exc:
        # msgspec names the path, e.g. "Expected `bool`, got `str` - at `$.stream`"
        raise InvalidRequest(f"invalid request: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None


def _model(value: str | None, default: str | None = None) -> str:
    model = (value or default or "").strip()
    if not model:
        raise InvalidRequest("model is required", param="model")
    return model


def _choices(name: str, value: int | None, maximum: int) -> int:
    """How many answers the client asked for; the hold covers each, so it is bounded."""
    if value is None:
        return 1
    if not 1 <= value <= maximum:
        raise InvalidRequest(f"{name} must be between 1 and {maximum}", param=name)
    return value


def _peek_chat(p: _ChatPeek, n: int) -> Peek:
    caps = [v for v in (p.max_tokens, p.max_completion_tokens) if v is not None]
    if any(v < 0 for v in caps):
        raise InvalidRequest("max_tokens must not be negative", param="max_tokens")
    stream = bool(p.stream)
    wants = bool(p.stream_options and p.stream_options.include_usage)
    max_tokens = max(caps) if caps else None
    return Peek(model=_model(p.model), stream=stream, max_tokens=max_tokens, wants_usage=wants, n=n)


def peek_chat(body: bytes, params: Mapping[str, str]) -> Peek:
    p = _decode("chat", body)
    return _peek_chat(p, _choices("n", p.n, MAX_N))


def peek_completions(body: bytes, params: Mapping[str, str]) -> Peek:
    """Legacy completions: ``best_of`` candidates are generated (and billed) server-side."""
    p = _decode("completions", body)
    n = _choices("n", p.n, MAX_N)
    return _peek_chat(p, max(n, _choices("best_of", p.best_of, MAX_BEST_OF)))


def peek_responses(body: bytes, params: Mapping[str, str]) -> Peek:
    p = _decode("responses", body)
    if p.max_output_tokens is not None and p.max_output_tokens < 0:
        raise InvalidRequest("max_output_tokens must not be negative", param="max_output_tokens")
    return Peek(model=_model(p.model), stream=bool(p.stream), max_tokens=p.max_output_tokens, wants_usage=True)


def peek_embeddings(body: bytes, params: Mapping[str, str]) -> Peek:
    return Peek(model=_model(_decode("model", body).model, params.get("model")))


def peek_moderations(body: bytes, params: Mapping[str, str]) -> Peek:
    return Peek(model=_model(_decode("model", body).model, "text-moderation-stable"))


# -- errors ----------------------------------------------------------------------------------


def error_body(status: int, message: str, type_: str, code: str | None) -> bytes:
    return msgspec.json.encode({"error": {"message": message, "type": type_, "param": None, "code": code}})


# -- usage -----------------------------------------------------------------------------------


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def usage_from_chat(u: Any) -> Usage | None:
    """Chat/completions/embeddings ``usage`` object (prompt_tokens, completion_tokens, details)."""
    if not isinstance(u, dict):
        return None
    prompt_details = u.get("prompt_tokens_details") or {}
    completion_details = u.get("completion_tokens_details") or {}
    return Usage(
        prompt_tokens=_int(u.get("prompt_tokens")),
        completion_tokens=_int(u.get("completion_tokens")),
        cached_tokens=_int(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else 0,
        reasoning_tokens=_int(completion_details.get("reasoning_tokens"))
        if isinstance(completion_details, dict)
        else 0,
    )


def usage_from_responses(u: Any) -> Usage | None:
    if not isinstance(u, dict):
        return None
    input_details = u.get("input_tokens_details") or {}
    output_details = u.get("output_tokens_details") or {}
    return Usage(
        prompt_tokens=_int(u.get("input_tokens")),
        completion_tokens=_int(u.get("output_tokens")),
        cached_tokens=_int(input_details.get("cached_tokens")) if isinstance(input_details, dict) else 0,
        reasoning_tokens=_int(output_details.get("reasoning_tokens")) if isinstance(output_details, dict) else 0,
    )


class _UsageOnly(msgspec.Struct):
    usage: Any = None


_usage_decoder = msgspec.json.Decoder(_UsageOnly)


def _usage_field(body: bytes) -> Any:
    """The ``usage`` member of a JSON object body; the rest is validated but never built."""
    try:
        return _usage_decoder.decode(body).usage
    except msgspec.ValidationError:
        return None  # valid JSON, but not an object
    except msgspec.DecodeError as exc:
        raise ValueError(f"the upstream answered with a body that is not JSON: {exc}") from None


def response_usage(body: bytes) -> Usage | None:
    return usage_from_chat(_usage_field(body))


def responses_response_usage(body: bytes) -> Usage | None:
    return usage_from_responses(_usage_field(body))


class ChatStreamCounter:
    """Usage of a chat or completions stream: the usage chunk, else the streamed text."""

    __slots__ = ("_usage", "_tally", "_finished")

    def __init__(self, count_tokens: Any = None) -> None:
        self._usage: Usage | None = None
        self._tally = TextTally(count_tokens)
        self._finished = False

    def feed(self, event: SSEEvent) -> bool:
        data = event.data
        if data == "[DONE]":
            self._finished = True
            return False
        try:
            chunk = msgspec.json.decode(data)
        except msgspec.DecodeError:
            raise ValueError("the upstream sent an event that is not JSON") from None
        if not isinstance(chunk, dict):
            raise ValueError("the upstream sent an event that is not a JSON object")
        if "error" in chunk and not chunk.get("choices"):
            raise ValueError(f"the upstream reported an error mid-stream: {chunk['error']}")
        usage = chunk.get("usage")
        choices = chunk.get("choices")
        if usage:
            self._usage = usage_from_chat(usage)
        if not choices:
            return bool(usage)
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            if choice.get("finish_reason"):
                self._finished = True
            delta = choice.get("delta")
            piece = delta if isinstance(delta, dict) else {}
            for key in ("content", "reasoning_content"):
                value = piece.get(key)
                if isinstance(value, str):
                    self._keep(value)
            for call in piece.get("tool_calls") or ():
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict):
                    self._keep(fn.get("name") or "")
                    self._keep(fn.get("arguments") or "")
            text = choice.get("text")  # legacy completions
            if isinstance(text, str):
                self._keep(text)
        return False

    def _keep(self, text: str) -> None:
        self._tally.add(text)

    def result(self) -> Usage | None:
        return self._usage

    def output_text(self) -> tuple[int, str]:
        return self._tally.pending()

    @property
    def finished(self) -> bool:
        return self._finished


class ResponsesStreamCounter(ChatStreamCounter):
    """Usage of a Responses API stream: ``response.completed`` carries it."""

    __slots__ = ()

    def feed(self, event: SSEEvent) -> bool:
        if event.data == "[DONE]":
            return False
        try:
            payload = msgspec.json.decode(event.data)
        except msgspec.DecodeError:
            raise ValueError("the upstream sent an event that is not JSON") from None
        if not isinstance(payload, dict):
            raise ValueError("the upstream sent an event that is not a JSON object")
        kind = payload.get("type") or event.event or ""
        if kind == "response.output_text.delta" and isinstance(payload.get("delta"), str):
            self._keep(payload["delta"])
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self._finished = True
            response = payload.get("response")
            if isinstance(response, dict):
                self._usage = usage_from_responses(response.get("usage"))
        return False


def _counter(cls: type) -> Any:
    def make() -> Any:
        from newapi_host.sdk import count_tokens

        return cls(count_tokens)

    return make


def _no_stream() -> Any:
    return ChatStreamCounter()


CHAT = Dialect(
    name="openai.chat",
    title="OpenAI Chat Completions",
    routes=(IngressRoute("POST", "/v1/chat/completions"),),
    peek=peek_chat,
    error_body=error_body,
    usage=response_usage,
    stream_usage=_counter(ChatStreamCounter),
)
COMPLETIONS = Dialect(
    name="openai.completions",
    title="OpenAI Completions (legacy)",
    routes=(IngressRoute("POST", "/v1/completions"),),
    peek=peek_completions,
    error_body=error_body,
    usage=response_usage,
    stream_usage=_counter(ChatStreamCounter),
)
EMBEDDINGS = Dialect(
    name="openai.embeddings",
    title="OpenAI Embeddings",
    routes=(IngressRoute("POST", "/v1/embeddings"), IngressRoute("POST", "/v1/engines/{model:str}/embeddings")),
    peek=peek_embeddings,
    error_body=error_body,
    usage=response_usage,
    stream_usage=_no_stream,
)
RESPONSES = Dialect(
    name="openai.responses",
    title="OpenAI Responses",
    routes=(IngressRoute("POST", "/v1/responses"),),
    peek=peek_responses,
    error_body=error_body,
    usage=responses_response_usage,
    stream_usage=_counter(ResponsesStreamCounter),
)
MODERATIONS = Dialect(
    name="openai.moderations",
    title="OpenAI Moderations",
    routes=(IngressRoute("POST", "/v1/moderations"),),
    peek=peek_moderations,
    error_body=error_body,
    usage=response_usage,
    stream_usage=_no_stream,
)

ALL = (CHAT, COMPLETIONS, EMBEDDINGS, RESPONSES, MODERATIONS)

# Where each dialect's requests go on an OpenAI-compatible upstream, relative to its /v1 root.
PATHS = {
    "openai.chat": "/chat/completions",
    "openai.completions": "/completions",
    "openai.embeddings": "/embeddings",
    "openai.responses": "/responses",
    "openai.moderations": "/moderations",
}
