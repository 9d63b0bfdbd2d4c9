"""Gemini embedding clients on OpenAI embeddings upstreams (``gemini.embed`` -> ``openai.embeddings``).

``embedContent`` and ``batchEmbedContents`` become one OpenAI ``/v1/embeddings`` request; its list
of embeddings comes back as ``{"embedding": ...}`` or ``{"embeddings": [...]}``, whichever the
client asked for.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from typing import Any

from newapi_host.sdk import ConvertContext, Converter, InvalidRequest

from .embed import BATCH_OPTION, NAME, OPENAI_EMBEDDINGS, content_text, no_stream, remember


def _dimensions(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise InvalidRequest("outputDimensionality must be a positive integer", param="outputDimensionality")
    return value


def gemini_to_openai_request(body: dict[str, Any], ctx: ConvertContext) -> dict[str, Any]:
    """``embedContent`` / ``batchEmbedContents`` -> OpenAI ``/v1/embeddings`` request."""
    requests = body.get("requests")
    batch = isinstance(requests, list)
    if batch:
        items = [r for r in requests if isinstance(r, dict)]
        if not items:
            raise InvalidRequest("requests must be a non-empty list", param="requests")
        texts: list[str] = [content_text(r.get("content")) for r in items]
        dims = {_dimensions(r.get("outputDimensionality")) for r in items}
        if len(dims) > 1:
            raise InvalidRequest("every request must ask for the same outputDimensionality", param="requests")
        dimensions = dims.pop()
    else:
        texts = [content_text(body.get("content"))]
        dimensions = _dimensions(body.get("outputDimensionality"))
    remember(ctx, BATCH_OPTION, batch)
    out: dict[str, Any] = {"model": ctx.model, "input": texts if batch else texts[0], "encoding_format": "float"}
    if dimensions is not None:
        out["dimensions"] = dimensions
    return out


def _floats(value: Any) -> list[float]:
    if isinstance(value, str):  # base64 little-endian float32, should an upstream ignore encoding_format
        raw = base64.b64decode(value)
        return list(struct.unpack(f"<{len(raw) // 4}f", raw[: len(raw) - len(raw) % 4]))
    if isinstance(value, list):
        return value
    raise ValueError("an embedding is neither a list of numbers nor base64")


def openai_to_gemini_response(body: dict[str, Any], ctx: ConvertContext) -> dict[str, Any]:
    """OpenAI embeddings list -> ``{"embedding": ...}`` (embedContent) or ``{"embeddings": [...]}``."""
    data = body.get("data")
    if not isinstance(data, list):
        raise ValueError("the embeddings response has no data list")
    items = sorted(
        (d for d in data if isinstance(d, dict)),
        key=lambda d: d.get("index") if isinstance(d.get("index"), int) else 0,
    )
    embeddings = [{"values": _floats(d.get("embedding"))} for d in items]
    batch = ctx.options.get(BATCH_OPTION) if isinstance(ctx.options, Mapping) else None
    if batch is None:
        batch = len(embeddings) != 1
    if batch:
        return {"embeddings": embeddings}
    if not embeddings:
        raise ValueError("the embeddings response is empty")
    return {"embedding": embeddings[0]}


CONVERTER = Converter(
    source=NAME,
    target=OPENAI_EMBEDDINGS,
    request=gemini_to_openai_request,
    response=openai_to_gemini_response,
    stream=no_stream,
)
