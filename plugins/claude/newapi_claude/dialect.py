"""Anthropic's Messages API as a dialect: ``POST /v1/messages``.

``peek`` decodes only the routing fields (msgspec skips the rest). Usage follows Anthropic's
semantics: ``input_tokens`` excludes cache reads and cache writes, which are reported apart, so
every :class:`Usage` built here sets ``prompt_excludes_cache``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import msgspec

from newapi_host.sdk import Dialect, IngressRoute, InvalidRequest, Peek, SSEEvent, TextTally, Usage

NAME = "claude.messages"

# -- peeking ---------------------------------------------------------------------------------


_Object = dict[str, msgspec.Raw]  # a JSON object whose values are left unread


class _Message(msgspec.Struct):
    role: str | None = None
    content: str | list[_Object] | None = None


class _Peek(msgspec.Struct):
    model: str | None = None
    stream: bool | None = None
    max_tokens: int | None = None
    # Shapes only: the estimator and the converters iterate these.
    messages: list[_Message] | None = None
    system: str | list[_Object] | None = None
    tools: list[_Object] | None = None


_peek_decoder = msgspec.json.Decoder(_Peek)


def check_request(body: bytes) -> _Peek:
    """The routing fields of a Messages body, after checking the shape of the fields the gateway
    iterates; :class:`InvalidRequest` names the field that is wrong."""
    if not body.strip():
        raise InvalidRequest("request body is empty; a JSON object is required")
    try:
        p = _peek_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"invalid request: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
    if not (p.model or "").strip():
        raise InvalidRequest("model: Field required", param="model")
    return p


def peek(body: bytes, params: Mapping[str, str]) -> Peek:
    p = check_request(body)
    if p.max_tokens is None:
        raise InvalidRequest("max_tokens: Field required", param="max_tokens")
    if p.max_tokens < 1:
        raise InvalidRequest("max_tokens: must be greater than or equal to 1", param="max_tokens")
    return Peek(model=(p.model or "").strip(), stream=bool(p.stream), max_tokens=p.max_tokens, wants_usage=True)


# -- errors ----------------------------------------------------------------------------------

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    """Anthropic's error ``type`` for an HTTP status."""
    if status in _ERROR_TYPES:
        return _ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(status: int, message: str, type_: str, code: str | None) -> bytes:
    return msgspec.json.encode({"type": "error", "error": {"type": error_type(status), "message": message}})


# -- usage -----------------------------------------------------------------------------------


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def usage_from_claude(u: Any) -> Usage | None:
    """An Anthropic ``usage`` object in the host's terms (cache reads and writes kept apart)."""
    if not isinstance(u, dict):
        return None
    created = _int(u.get("cache_creation_input_tokens"))
    breakdown = u.get("cache_creation")
    if isinstance(breakdown, dict):
        five, hour = _int(breakdown.get("ephemeral_5m_input_tokens")), _int(breakdown.get("ephemeral_1h_input_tokens"))
        created = max(created, five + hour)
    else:
        five, hour = created, 0  # without a breakdown every write used the default 5-minute TTL
    return Usage(
        prompt_tokens=_int(u.get("input_tokens")),
        completion_tokens=_int(u.get("output_tokens")),
        cached_tokens=_int(u.get("cache_read_input_tokens")),
        cache_creation_tokens=created,
        cache_creation_5m_tokens=five,
        cache_creation_1h_tokens=hour,
        prompt_excludes_cache=True,
    )


class _UsageOnly(msgspec.Struct):
    usage: Any = None


_usage_decoder = msgspec.json.Decoder(_UsageOnly)


def response_usage(body: bytes) -> Usage | None:
    try:
        u = _usage_decoder.decode(body).usage
    except msgspec.ValidationError:
        return None  # valid JSON, but not an object
    except msgspec.DecodeError as exc:
        raise ValueError(f"the upstream answered with a body that is not JSON: {exc}") from None
    return usage_from_claude(u)


_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


class ClaudeStreamCounter:
    """Usage of a Messages stream: ``message_start`` usage, updated by ``message_delta`` (cumulative)."""

    __slots__ = ("_usage", "_tally", "_finished")

    def __init__(self, count_tokens: Any = None) -> None:
        self._usage: dict[str, Any] | None = None
        self._tally = TextTally(count_tokens)
        self._finished = False

    def feed(self, event: SSEEvent) -> bool:
        data = event.data
        if data == "[DONE]":  # some relays end Anthropic streams the OpenAI way
            return False
        try:
            payload = msgspec.json.decode(data)
        except msgspec.DecodeError:
            raise ValueError("the upstream sent an event that is not JSON") from None
        if not isinstance(payload, dict):
            raise ValueError("the upstream sent an event that is not a JSON object")
        kind = payload.get("type") or event.event or ""
        if kind == "content_block_delta":
            delta = payload.get("delta")
            if isinstance(delta, dict):
                for key in ("text", "thinking", "partial_json"):
                    value = delta.get(key)
                    if isinstance(value, str):
                        self._keep(value)
        elif kind == "content_block_start":
            block = payload.get("content_block")
            if isinstance(block, dict):
                for key in ("text", "thinking", "name"):
                    value = block.get(key)
                    if isinstance(value, str):
                        self._keep(value)
        elif kind == "message_start":
            message = payload.get("message")
            if isinstance(message, dict):
                self._merge(message.get("usage"), first=True)
        elif kind == "message_delta":
            self._merge(payload.get("usage"), first=False)
        elif kind == "message_stop":
            self._finished = True
        elif kind == "error":
            error = payload.get("error")
            message = error.get("message") if isinstance(error, dict) else None
            raise ValueError(f"the upstream reported an error mid-stream: {message or error}")
        return False

    def _merge(self, u: Any, first: bool) -> None:
        if not isinstance(u, dict):
            return
        if self._usage is None:
            self._usage = {}
        for key in _USAGE_KEYS:
            value = u.get(key)
            if not isinstance(value, int) or isinstance(value, bool):
                continue
            # message_delta counts are cumulative; input/cache counts there only correct message_start's
            if first or key == "output_tokens" or value > 0:
                self._usage[key] = value
        if isinstance(u.get("cache_creation"), dict):
            self._usage["cache_creation"] = u["cache_creation"]

    def _keep(self, text: str) -> None:
        self._tally.add(text)

    def result(self) -> Usage | None:
        return usage_from_claude(self._usage) if self._usage is not None else None

    def output_text(self) -> tuple[int, str]:
        return self._tally.pending()

    @property
    def finished(self) -> bool:
        return self._finished


def stream_usage() -> ClaudeStreamCounter:
    from newapi_host.sdk import count_tokens

    return ClaudeStreamCounter(count_tokens)


# -- estimates -------------------------------------------------------------------------------


def _decode(body: bytes) -> dict[str, Any]:
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str))
    return ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_chat_for_estimate(data: dict[str, Any]) -> dict[str, Any]:
    """A Messages request reshaped so the host's chat estimator counts it the way New API would."""
    messages: list[dict[str, Any]] = []
    system = _text_of(data.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for message in _list(data.get("messages")):
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if not isinstance(content, list):
            messages.append({"role": message.get("role"), "content": content})
            continue
        parts: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        for block in content:
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text" and isinstance(block.get("text"), str):
                parts.append({"type": "text", "text": block["text"]})
            elif kind == "thinking" and isinstance(block.get("thinking"), str):
                parts.append({"type": "text", "text": block["thinking"]})
            elif kind == "image":
                parts.append({"type": "image_url"})
            elif kind == "document":
                parts.append({"type": "file"})
            elif kind == "tool_use":
                calls.append({"function": {"name": block.get("name"), "arguments": block.get("input")}})
            elif kind == "tool_result":
                inner = block.get("content")
                if isinstance(inner, list):
                    for item in inner:
                        if isinstance(item, dict) and item.get("type") == "image":
                            parts.append({"type": "image_url"})
                parts.append({"type": "text", "text": _text_of(inner)})
        entry: dict[str, Any] = {"role": message.get("role"), "content": parts}
        if calls:
            entry["tool_calls"] = calls
        messages.append(entry)
    tools = [t for t in _list(data.get("tools")) if isinstance(t, dict)]
    return {"model": data.get("model"), "messages": messages, "tools": tools}


def estimate_prompt(body: bytes, model: str) -> int:
    from newapi_host.sdk import estimate_chat_prompt_tokens

    return estimate_chat_prompt_tokens(as_chat_for_estimate(_decode(body)), model)


def response_text(body: bytes) -> str:
    """Generated text of a Messages response: text, thinking and tool-use inputs."""
    parts: list[str] = []
    for block in _decode(body).get("content") or ():
        if not isinstance(block, dict):
            continue
        for key in ("text", "thinking", "name"):
            if isinstance(block.get(key), str):
                parts.append(block[key])
        if block.get("type") == "tool_use" and "input" in block:
            parts.append(json.dumps(block["input"], ensure_ascii=False, separators=(",", ":")))
    return "".join(parts)


DIALECT = Dialect(
    name=NAME,
    title="Anthropic Messages",
    routes=(IngressRoute("POST", "/v1/messages"),),
    peek=peek,
    error_body=error_body,
    usage=response_usage,
    stream_usage=stream_usage,
    api_key_headers=("x-api-key", "authorization"),
    estimate_prompt=estimate_prompt,
    response_text=response_text,
    stream_error_event="error",
)
