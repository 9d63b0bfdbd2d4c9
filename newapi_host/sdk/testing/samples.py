"""Canonical traffic of each wire format the kit knows: one request, one answer, one stream.

The conformance checks feed these to a plugin's dialects, converters and adapters, and the mock
upstream (:mod:`.upstream`) answers with the very same bodies, so what a converter is checked
against offline is what it meets end to end. Every answer says :data:`KIT_TEXT` and reports
:data:`KIT_USAGE` (11 prompt and 7 completion tokens) in its format's own terms; a check that finds
other numbers after a conversion has found a converter or a counter that loses usage.

A plugin that brings a format of its own describes it with a :class:`DialectSample` of the same
shape (see :class:`~.conformance.ConformanceSetup`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from newapi_host.sdk import SSEEvent

KIT_TEXT = "Hello from the kit."
KIT_PIECES = ("Hello", " from", " the", " kit.")
"""How streams cut :data:`KIT_TEXT`; every piece must reach a client through any conversion."""
KIT_USAGE = (11, 7)
"""(prompt tokens, completion tokens) every canonical answer reports."""
PROMPT = "Say hello."
SYSTEM = "You are terse."
MAX_TOKENS = 64
EMBEDDING = [0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0]
CREATED = 1_700_000_000


@dataclass(frozen=True)
class DialectSample:
    """Canonical traffic of one dialect, for the checks and the mock upstream.

    ``request(model, stream)`` is what a client sends (``max_tokens`` is what its peek must read);
    ``response(model)`` the complete answer and ``stream(model)`` the same answer as server-sent
    events, both saying :data:`KIT_TEXT` with :data:`KIT_USAGE` (``usage=None``: the format carries
    no usage at all; ``stream=None``: it never streams). ``path`` and ``stream_path`` are where a
    client sends the request (``{model}`` is filled in; empty: the dialect's first route), and
    ``params(model, stream)`` the path parameters its ``peek`` receives.
    """

    dialect: str
    request: Callable[[str, bool], dict[str, Any]]
    response: Callable[[str], dict[str, Any]]
    stream: Callable[[str], list[SSEEvent]] | None = None
    path: str = ""
    stream_path: str = ""
    params: Callable[[str, bool], Mapping[str, str]] | None = None
    max_tokens: int | None = None
    usage: tuple[int, int] | None = KIT_USAGE

    def params_for(self, model: str, stream: bool) -> Mapping[str, str]:
        return self.params(model, stream) if self.params else {}

    def path_for(self, model: str, stream: bool) -> str:
        path = (self.stream_path or self.path) if stream else self.path
        return path.replace("{model}", model)


def event(data: Any, name: str | None = None) -> SSEEvent:
    """An SSE event whose data is ``data`` as compact JSON (a string stays as it is)."""
    return SSEEvent(data=data if isinstance(data, str) else json.dumps(data, separators=(",", ":")), event=name)


# -- OpenAI chat completions -------------------------------------------------------------------


def openai_usage(prompt: int = KIT_USAGE[0], completion: int = KIT_USAGE[1]) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def chat_request(model: str, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
        "max_tokens": MAX_TOKENS,
    }
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return body


def chat_response(model: str, usage: bool = True) -> dict[str, Any]:
    answer = {
        "id": "chatcmpl-kit",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": KIT_TEXT},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
    }
    return answer | ({"usage": openai_usage()} if usage else {})


def chat_stream(model: str, usage: bool = True) -> list[SSEEvent]:
    """OpenAI's stream: a role chunk, the text, a finish chunk, the usage chunk if asked, ``[DONE]``."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> SSEEvent:
        data = {
            "id": "chatcmpl-kit",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        return event(data | {"usage": None} if usage else data)

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": piece}) for piece in KIT_PIECES]
    events.append(chunk({}, "stop"))
    if usage:
        tail = {
            "id": "chatcmpl-kit",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": model,
            "choices": [],
            "usage": openai_usage(),
        }
        events.append(event(tail))
    return [*events, SSEEvent(data="[DONE]")]


# -- OpenAI completions (legacy) -----------------------------------------------------------------


def completions_request(model: str, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "prompt": PROMPT, "max_tokens": MAX_TOKENS}
    if stream:
        body |= {"stream": True, "stream_options": {"include_usage": True}}
    return body


def _completion(model: str, text: str, finish: str | None, choices: bool = True) -> dict[str, Any]:
    return {
        "id": "cmpl-kit",
        "object": "text_completion",
        "created": CREATED,
        "model": model,
        "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}] if choices else [],
    }


def completions_response(model: str, usage: bool = True) -> dict[str, Any]:
    return _completion(model, KIT_TEXT, "stop") | ({"usage": openai_usage()} if usage else {})


def completions_stream(model: str, usage: bool = True) -> list[SSEEvent]:
    events = [event(_completion(model, piece, None)) for piece in KIT_PIECES]
    events.append(event(_completion(model, "", "stop")))
    if usage:
        events.append(event(_completion(model, "", None, choices=False) | {"usage": openai_usage()}))
    return [*events, SSEEvent(data="[DONE]")]


# -- OpenAI embeddings and moderations -------------------------------------------------------------


def embeddings_request(model: str, stream: bool) -> dict[str, Any]:
    return {"model": model, "input": PROMPT}


def embeddings_response(model: str, usage: bool = True, count: int = 1, vector: Any = None) -> dict[str, Any]:
    data = [{"object": "embedding", "index": i, "embedding": vector or EMBEDDING} for i in range(count)]
    answer = {"object": "list", "data": data, "model": model}
    prompt = KIT_USAGE[0]
    return answer | ({"usage": {"prompt_tokens": prompt, "total_tokens": prompt}} if usage else {})


def moderations_request(model: str, stream: bool) -> dict[str, Any]:
    return {"model": model, "input": PROMPT}


def moderations_response(model: str) -> dict[str, Any]:
    categories = ("harassment", "hate", "self-harm", "sexual", "violence")
    result = {
        "flagged": False,
        "categories": dict.fromkeys(categories, False),
        "category_scores": dict.fromkeys(categories, 0.0001),
    }
    return {"id": "modr-kit", "model": model, "results": [result]}


# -- OpenAI responses ------------------------------------------------------------------------------


def responses_request(model: str, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "instructions": SYSTEM, "input": PROMPT, "max_output_tokens": MAX_TOKENS}
    return body | ({"stream": True} if stream else {})


def _responses_usage() -> dict[str, Any]:
    prompt, completion = KIT_USAGE
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


def _message_item(text: str, status: str = "completed") -> dict[str, Any]:
    content = [_output_text(text)] if status == "completed" else []
    return {"type": "message", "id": "msg_kit", "status": status, "role": "assistant", "content": content}


def responses_response(model: str, usage: bool = True, status: str = "completed") -> dict[str, Any]:
    done = status == "completed"
    return {
        "id": "resp_kit",
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "model": model,
        "output": [_message_item(KIT_TEXT)] if done else [],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
        "incomplete_details": None,
        "text": {"format": {"type": "text"}},
        "usage": _responses_usage() if done and usage else None,
    }


def responses_stream(model: str, usage: bool = True) -> list[SSEEvent]:
    """The Responses event sequence; it ends with ``response.completed`` (no ``[DONE]``)."""
    numbers = iter(range(1000))
    where = {"item_id": "msg_kit", "output_index": 0, "content_index": 0}

    def typed(kind: str, **fields: Any) -> SSEEvent:
        return event({"type": kind, "sequence_number": next(numbers), **fields}, kind)

    return [
        typed("response.created", response=responses_response(model, usage, "in_progress")),
        typed("response.in_progress", response=responses_response(model, usage, "in_progress")),
        typed("response.output_item.added", output_index=0, item=_message_item("", "in_progress")),
        typed("response.content_part.added", **where, part=_output_text("")),
        *(typed("response.output_text.delta", **where, delta=piece) for piece in KIT_PIECES),
        typed("response.output_text.done", **where, text=KIT_TEXT),
        typed("response.content_part.done", **where, part=_output_text(KIT_TEXT)),
        typed("response.output_item.done", output_index=0, item=_message_item(KIT_TEXT)),
        typed("response.completed", response=responses_response(model, usage)),
    ]


# -- Anthropic messages ----------------------------------------------------------------------------


def messages_request(model: str, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": MAX_TOKENS,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    return body | ({"stream": True} if stream else {})


def messages_response(model: str, usage: bool = True) -> dict[str, Any]:
    prompt, completion = KIT_USAGE
    return {
        "id": "msg_kit",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": KIT_TEXT}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        # Anthropic always reports usage; "nousage" answers zeros, as a broken upstream would.
        "usage": {"input_tokens": prompt if usage else 0, "output_tokens": completion if usage else 0},
    }


def messages_stream(model: str, usage: bool = True) -> list[SSEEvent]:
    prompt, completion = KIT_USAGE if usage else (0, 0)
    start = messages_response(model) | {"content": [], "stop_reason": None}
    start["usage"] = {"input_tokens": prompt, "output_tokens": 1 if usage else 0}

    def typed(kind: str, **fields: Any) -> SSEEvent:
        return event({"type": kind, **fields}, kind)

    return [
        typed("message_start", message=start),
        typed("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        typed("ping"),
        *(typed("content_block_delta", index=0, delta={"type": "text_delta", "text": p}) for p in KIT_PIECES),
        typed("content_block_stop", index=0),
        typed(
            "message_delta",
            delta={"stop_reason": "end_turn", "stop_sequence": None},
            usage={"output_tokens": completion},
        ),
        typed("message_stop"),
    ]


# -- Gemini generateContent and embedContent ---------------------------------------------------------


def generate_request(model: str, stream: bool) -> dict[str, Any]:
    return {
        "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
        "systemInstruction": {"parts": [{"text": SYSTEM}]},
        "generationConfig": {"maxOutputTokens": MAX_TOKENS},
    }


def gemini_usage() -> dict[str, int]:
    prompt, completion = KIT_USAGE
    return {"promptTokenCount": prompt, "candidatesTokenCount": completion, "totalTokenCount": prompt + completion}


def _candidate(text: str, finish: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    return candidate | ({"finishReason": finish} if finish else {})


def generate_response(model: str, usage: bool = True) -> dict[str, Any]:
    answer = {"candidates": [_candidate(KIT_TEXT, "STOP")], "modelVersion": model, "responseId": "kit"}
    return answer | ({"usageMetadata": gemini_usage()} if usage else {})


def generate_chunks(model: str, usage: bool = True) -> list[dict[str, Any]]:
    """The stream's responses: one per piece, the last with the finish reason and the usage."""
    chunks = []
    for i, piece in enumerate(KIT_PIECES):
        last = i == len(KIT_PIECES) - 1
        chunk = {"candidates": [_candidate(piece, "STOP" if last else None)], "modelVersion": model}
        if last and usage:
            chunk["usageMetadata"] = gemini_usage()
        chunks.append(chunk)
    return chunks


def generate_stream(model: str, usage: bool = True) -> list[SSEEvent]:
    return [event(chunk) for chunk in generate_chunks(model, usage)]


def generate_params(model: str, stream: bool) -> dict[str, str]:
    return {"model_action": f"{model}:{'streamGenerateContent' if stream else 'generateContent'}"}


def embed_request(model: str, stream: bool) -> dict[str, Any]:
    return {"content": {"parts": [{"text": PROMPT}]}}


def embed_response(model: str) -> dict[str, Any]:
    return {"embedding": {"values": EMBEDDING}}


# -- the catalogue -----------------------------------------------------------------------------------

KIT_SAMPLES: dict[str, DialectSample] = {
    s.dialect: s
    for s in (
        DialectSample(
            "openai.chat", chat_request, chat_response, chat_stream, "/v1/chat/completions", max_tokens=MAX_TOKENS
        ),
        DialectSample(
            "openai.completions",
            completions_request,
            completions_response,
            completions_stream,
            "/v1/completions",
            max_tokens=MAX_TOKENS,
        ),
        DialectSample(
            "openai.embeddings",
            embeddings_request,
            embeddings_response,
            None,
            "/v1/embeddings",
            usage=(KIT_USAGE[0], 0),
        ),
        DialectSample(
            "openai.responses",
            responses_request,
            responses_response,
            responses_stream,
            "/v1/responses",
            max_tokens=MAX_TOKENS,
        ),
        DialectSample(
            "openai.moderations", moderations_request, moderations_response, None, "/v1/moderations", usage=None
        ),
        DialectSample(
            "claude.messages",
            messages_request,
            messages_response,
            messages_stream,
            "/v1/messages",
            max_tokens=MAX_TOKENS,
        ),
        DialectSample(
            "gemini.generate",
            generate_request,
            generate_response,
            generate_stream,
            "/v1beta/models/{model}:generateContent",
            "/v1beta/models/{model}:streamGenerateContent?alt=sse",
            params=generate_params,
            max_tokens=MAX_TOKENS,
        ),
        DialectSample(
            "gemini.embed",
            embed_request,
            embed_response,
            None,
            "/v1beta/models/{model}:embedContent",
            params=lambda model, stream: {"model_action": f"{model}:embedContent"},
            usage=None,
        ),
    )
}
"""The formats the kit speaks itself: OpenAI's five, Anthropic's Messages, Gemini's two."""


def kit_model(type_id: int) -> str:
    """The model the suite's channel of a channel type serves: ``kit-t14`` for type 14."""
    return f"kit-t{type_id}"
