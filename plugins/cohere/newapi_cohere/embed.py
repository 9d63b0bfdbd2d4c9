"""Cohere's v2 embed wire format (``cohere.embed``), spoken to Cohere upstreams only.

Like ``cohere.chat`` it has no ingress routes: clients ask for embeddings in OpenAI's format
(``/v1/embeddings``) and ``embeddings_via_cohere`` converts. Usage is ``meta.billed_units``
(``input_tokens``), falling back to ``meta.tokens``; embeddings have no output tokens.
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
    Usage,
    estimate_text_prompt_tokens,
    object_or_empty,
    read_object,
    token_count,
)

from .dialect import error_body

NAME = "cohere.embed"


def peek(body: bytes, params: Mapping[str, str]) -> Peek:
    data = read_object(body)
    model = data.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("model is required", param="model")
    texts = data.get("texts")
    if texts is not None and not (isinstance(texts, list) and all(isinstance(t, str) for t in texts)):
        raise InvalidRequest("texts must be a list of strings", param="texts")
    if not any(data.get(key) for key in ("texts", "images", "inputs")):
        raise InvalidRequest("one of texts, images or inputs is required", param="texts")
    return Peek(model=model.strip())


def input_tokens(response: Any) -> int | None:
    """Input tokens of an embed answer: ``meta.billed_units``, else ``meta.tokens``; None if neither."""
    meta = response.get("meta") if isinstance(response, dict) else None
    for key in ("billed_units", "tokens"):
        units = meta.get(key) if isinstance(meta, dict) else None
        if isinstance(units, dict) and "input_tokens" in units:
            return token_count(units["input_tokens"])
    return None


def response_usage(body: bytes) -> Usage | None:
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise ValueError(f"the upstream answered with a body that is not JSON: {exc}") from None
    tokens = input_tokens(data)
    return None if tokens is None else Usage(prompt_tokens=tokens)


class NoStream:
    """Embeddings never stream: a counter that finds nothing."""

    finished = True

    def feed(self, event: SSEEvent) -> bool:
        return False

    def result(self) -> Usage | None:
        return None

    def output_text(self) -> tuple[int, str]:
        return 0, ""


def estimate_prompt(body: bytes, model: str) -> int:
    data: Any = object_or_empty(body)
    return estimate_text_prompt_tokens(data.get("texts"), model)


DIALECT = Dialect(
    name=NAME,
    title="Cohere Embed (v2)",
    routes=(),
    peek=peek,
    error_body=error_body,
    usage=response_usage,
    stream_usage=NoStream,
    estimate_prompt=estimate_prompt,
    response_text=lambda body: "",
)
