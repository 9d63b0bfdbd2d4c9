"""Canonical Cohere traffic for the host's conformance suite (``newapi plugin check cohere``).

The suite knows OpenAI's, Anthropic's and Gemini's formats; this tells it Cohere's: one v2 chat
request, answer and event stream, one embed request and answer, each billing the kit's 11 + 7
tokens and saying its text, and the same answers served by the suite's mock upstream on Cohere's
paths. Imported only when the suite checks this plugin (``NEWAPI_CONFORMANCE`` in ``plugin.py``).
"""

from __future__ import annotations

from typing import Any

from newapi_host.sdk import SSEEvent, dumps
from newapi_host.sdk.testing import KIT_PIECES, KIT_TEXT, KIT_USAGE, ConformanceSetup, DialectSample, Recorded, Stream
from newapi_host.sdk.testing.samples import PROMPT

from .dialect import NAME as CHAT
from .embed import NAME as EMBED

USAGE = {
    "billed_units": {"input_tokens": KIT_USAGE[0], "output_tokens": KIT_USAGE[1]},
    "tokens": {"input_tokens": KIT_USAGE[0] + 200, "output_tokens": KIT_USAGE[1]},  # Cohere's preamble
}


def chat_request(model: str, stream: bool) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 16, "stream": stream}


def chat_response(model: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": [{"type": "text", "text": KIT_TEXT}]}
    return {"id": "kit", "finish_reason": "COMPLETE", "message": message, "usage": USAGE}


def _event(payload: dict[str, Any]) -> SSEEvent:
    return SSEEvent(data=dumps(payload), event=payload["type"])


def chat_stream(model: str) -> list[SSEEvent]:
    start = {"type": "message-start", "id": "kit", "delta": {"message": {"role": "assistant"}}}
    block = {"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}
    pieces = [
        {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": piece}}}}
        for piece in KIT_PIECES
    ]
    end = {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": USAGE}}
    return [_event(e) for e in (start, block, *pieces, {"type": "content-end", "index": 0}, end)]


def embed_request(model: str, stream: bool) -> dict[str, Any]:
    return {"model": model, "texts": [PROMPT], "input_type": "search_document", "embedding_types": ["float"]}


def embed_response(model: str) -> dict[str, Any]:
    return {
        "id": "kit",
        "embeddings": {"float": [[0.25, 0.5, 0.75]]},
        "texts": [PROMPT],
        "meta": {"billed_units": {"input_tokens": KIT_USAGE[0]}},
    }


def _answer_chat(request: Recorded) -> dict[str, Any] | Stream:
    model = request.model
    return Stream(chat_stream(model)) if (request.json or {}).get("stream") else chat_response(model)


def cohere_error(status: int, message: str) -> dict[str, Any]:
    """Cohere answers errors as ``{"message": ...}``, the HTTP status saying the rest."""
    return {"message": message}


def setup(kit: ConformanceSetup) -> None:
    kit.sample(DialectSample(CHAT, request=chat_request, response=chat_response, stream=chat_stream, max_tokens=16))
    kit.sample(
        DialectSample(EMBED, request=embed_request, response=embed_response, stream=None, usage=(KIT_USAGE[0], 0))
    )
    kit.route("POST", "/v2/chat", _answer_chat, error=cohere_error)
    kit.route("POST", "/v2/embed", lambda r: embed_response(r.model), error=cohere_error)
    # Cohere's model list shape, listing whatever the mock serves
    kit.route(
        "GET", "/v1/models", lambda r: {"models": [{"name": m, "endpoints": ["chat"]} for m in kit.upstream.models]}
    )
