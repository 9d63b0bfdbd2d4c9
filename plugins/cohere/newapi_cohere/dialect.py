"""Cohere's v2 chat wire format (``cohere.chat``), spoken to Cohere upstreams only.

The dialect has no ingress routes. New API never exposes Cohere's format to clients: Cohere
channels serve OpenAI, Anthropic and Gemini clients through converters, and a gateway route at
Cohere's ``/v2/chat`` would need converters from ``cohere.chat`` to every other upstream to be
more than a pass-through to Cohere. The host still needs the rest of the dialect for the
upstream side: the usage of a response and of a stream (billing), the generated text (estimates
when usage is missing). ``peek`` and ``error_body`` complete the contract, so that a plugin route
may serve the format later with ``sdk.relay``.

Usage: Cohere reports ``usage.billed_units`` (what Cohere charges the account) and
``usage.tokens`` (what the model read and wrote, including the preamble Cohere adds to every
prompt). The gateway bills ``billed_units``, as New API does, so a user pays for what the
channel's owner is charged; ``tokens`` is used only when an answer has no ``billed_units``.
Cohere's ``cached_tokens`` is not reported as cache reads: billed units already say what Cohere
charges, and Cohere's price list has no separate price for cache hits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from newapi_host.sdk import (
    Dialect,
    InvalidRequest,
    Peek,
    SSEEvent,
    TextTally,
    Usage,
    estimate_chat_prompt_tokens,
    object_or_empty,
    token_count,
)

NAME = "cohere.chat"

# -- peeking ---------------------------------------------------------------------------------


class _Peek(msgspec.Struct):
    model: str | None = None
    stream: bool | None = None
    max_tokens: int | None = None
    messages: list[dict[str, msgspec.Raw]] | None = None


_peek_decoder = msgspec.json.Decoder(_Peek)


def peek(body: bytes, params: Mapping[str, str]) -> Peek:
    if not body.strip():
        raise InvalidRequest("request body is empty; a JSON object is required")
    try:
        p = _peek_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidRequest(f"invalid request: {exc}") from None
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
    model = (p.model or "").strip()
    if not model:
        raise InvalidRequest("model is required", param="model")
    if not p.messages:
        raise InvalidRequest("messages must be a non-empty list", param="messages")
    if p.max_tokens is not None and p.max_tokens < 1:
        raise InvalidRequest("max_tokens must be at least 1", param="max_tokens")
    return Peek(model=model, stream=bool(p.stream), max_tokens=p.max_tokens, wants_usage=True)


# -- errors ----------------------------------------------------------------------------------


def error_body(status: int, message: str, type_: str, code: str | None) -> bytes:
    """Cohere answers errors as ``{"message": "..."}`` with the HTTP status saying the rest."""
    return msgspec.json.encode({"message": message})


# -- usage -----------------------------------------------------------------------------------


def billed(usage: Any) -> tuple[int, int] | None:
    """(input, output) tokens to bill from a Cohere ``usage`` object: ``billed_units``, else ``tokens``."""
    if not isinstance(usage, dict):
        return None
    for key in ("billed_units", "tokens"):
        units = usage.get(key)
        if isinstance(units, dict) and ("input_tokens" in units or "output_tokens" in units):
            return token_count(units.get("input_tokens")), token_count(units.get("output_tokens"))
    return None


def to_usage(usage: Any) -> Usage | None:
    tokens = billed(usage)
    if tokens is None:
        return None
    return Usage(prompt_tokens=tokens[0], completion_tokens=tokens[1])


class _UsageOnly(msgspec.Struct):
    usage: Any = None


_usage_decoder = msgspec.json.Decoder(_UsageOnly)


def response_usage(body: bytes) -> Usage | None:
    try:
        usage = _usage_decoder.decode(body).usage
    except msgspec.ValidationError:
        return None  # JSON, but not an object
    except msgspec.DecodeError as exc:
        raise ValueError(f"the upstream answered with a body that is not JSON: {exc}") from None
    return to_usage(usage)


def _message(payload: dict[str, Any]) -> dict[str, Any]:
    """``delta.message`` of a stream event, or ``{}``."""
    delta = payload.get("delta")
    message = delta.get("message") if isinstance(delta, dict) else None
    return message if isinstance(message, dict) else {}


def streamed_text(kind: str, payload: dict[str, Any]) -> str:
    """The generated text one stream event carries: answer, thinking, tool plan or tool-call parts."""
    message = _message(payload)
    if kind in ("content-start", "content-delta"):
        content = message.get("content")
        if isinstance(content, dict):
            return "".join(v for k in ("text", "thinking") if isinstance(v := content.get(k), str))
    elif kind == "tool-plan-delta":
        plan = message.get("tool_plan")
        return plan if isinstance(plan, str) else ""
    elif kind in ("tool-call-start", "tool-call-delta"):
        call = message.get("tool_calls")
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            return "".join(v for k in ("name", "arguments") if isinstance(v := function.get(k), str))
    return ""


def decode_event(event: SSEEvent) -> tuple[str, dict[str, Any]] | None:
    """(event type, payload) of a Cohere stream event; None for ``[DONE]``; ValueError if not JSON."""
    if event.data.strip() == "[DONE]":
        return None
    try:
        payload = msgspec.json.decode(event.data)
    except msgspec.DecodeError:
        raise ValueError("the upstream sent an event that is not JSON") from None
    if not isinstance(payload, dict):
        raise ValueError("the upstream sent an event that is not a JSON object")
    kind = payload.get("type") or event.event or ""
    return (kind if isinstance(kind, str) else ""), payload


class CohereStreamCounter:
    """Usage of a v2 chat stream: ``message-end`` carries it and ends the stream.

    Memory stays flat: streamed text goes to a :class:`TextTally` (counted in slices, only used
    when the upstream reports no usage) and usage is two numbers.
    """

    __slots__ = ("_usage", "_tally", "_finished")

    def __init__(self, count_tokens: Any = None) -> None:
        self._usage: Usage | None = None
        self._tally = TextTally(count_tokens)
        self._finished = False

    def feed(self, event: SSEEvent) -> bool:
        decoded = decode_event(event)
        if decoded is None:
            return False
        kind, payload = decoded
        if kind == "message-end":
            self._finished = True
            delta = payload.get("delta") if isinstance(payload.get("delta"), dict) else {}
            self._usage = to_usage(delta.get("usage")) or self._usage
            if delta.get("error"):
                raise ValueError(f"the upstream reported an error mid-stream: {delta['error']}")
            return False
        self._tally.add(streamed_text(kind, payload))
        return False

    def result(self) -> Usage | None:
        return self._usage

    def output_text(self) -> tuple[int, str]:
        return self._tally.pending()

    @property
    def finished(self) -> bool:
        return self._finished


def stream_usage() -> CohereStreamCounter:
    from newapi_host.sdk import count_tokens

    return CohereStreamCounter(count_tokens)


# -- estimates -------------------------------------------------------------------------------


def estimate_prompt(body: bytes, model: str) -> int:
    """v2 messages, tools and tool calls have the shapes of OpenAI chat, which the host counts."""
    return estimate_chat_prompt_tokens(object_or_empty(body), model)


def response_text(body: bytes) -> str:
    """Generated text of a v2 chat response: text, thinking, tool plan and tool calls."""
    message = object_or_empty(body).get("message")
    if not isinstance(message, dict):
        return ""
    parts: list[str] = []
    for item in message.get("content") or ():
        if isinstance(item, dict):
            parts.extend(v for k in ("text", "thinking") if isinstance(v := item.get(k), str))
    if isinstance(message.get("tool_plan"), str):
        parts.append(message["tool_plan"])
    for call in message.get("tool_calls") or ():
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            parts.extend(v for k in ("name", "arguments") if isinstance(v := function.get(k), str))
    return "".join(parts)


DIALECT = Dialect(
    name=NAME,
    title="Cohere Chat (v2)",
    routes=(),
    peek=peek,
    error_body=error_body,
    usage=response_usage,
    stream_usage=stream_usage,
    estimate_prompt=estimate_prompt,
    response_text=response_text,
)
