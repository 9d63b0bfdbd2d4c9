"""OpenAI embedding clients on Gemini upstreams: ``Converter(source="openai.embeddings", target="gemini.embed")``.

An ``/v1/embeddings`` request becomes ``batchEmbedContents`` (one request per input); Gemini's
embeddings come back as an OpenAI list, as floats or base64 as the client asked.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from typing import Any

from newapi_host.sdk import ConvertContext, Converter, InvalidRequest

from .embed import BASE64_OPTION, NAME, OPENAI_EMBEDDINGS, no_stream, remember


def openai_to_gemini_request(body: dict[str, Any], ctx: ConvertContext) -> dict[str, Any]:
    """OpenAI ``/v1/embeddings`` request -> ``batchEmbedContents`` (one request per input)."""
    value = body.get("input")
    if isinstance(value, str):
        texts = [value]
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        texts = list(value)
    elif isinstance(value, list) and value:
        raise InvalidRequest("token-id inputs cannot be sent to Gemini; send text", param="input")
    else:
        raise InvalidRequest("input must be a string or a non-empty list of strings", param="input")
    dimensions = body.get("dimensions")
    if dimensions is not None and (not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions <= 0):
        raise InvalidRequest("dimensions must be a positive integer", param="dimensions")
    remember(ctx, BASE64_OPTION, body.get("encoding_format") == "base64")
    requests = []
    for text in texts:
        request: dict[str, Any] = {"model": f"models/{ctx.model}", "content": {"parts": [{"text": text}]}}
        if dimensions is not None:
            request["outputDimensionality"] = dimensions
        requests.append(request)
    return {"requests": requests}


def _base64(values: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def gemini_to_openai_response(body: dict[str, Any], ctx: ConvertContext) -> dict[str, Any]:
    """``{"embeddings": [...]}`` (or a single ``embedding``) -> OpenAI embeddings list."""
    embeddings = body.get("embeddings")
    if embeddings is None and isinstance(body.get("embedding"), dict):
        embeddings = [body["embedding"]]
    if not isinstance(embeddings, list):
        raise ValueError("the Gemini response has no embeddings")
    as_base64 = bool(ctx.options.get(BASE64_OPTION)) if isinstance(ctx.options, Mapping) else False
    data = []
    for i, item in enumerate(embeddings):
        values = item.get("values") if isinstance(item, dict) else None
        if not isinstance(values, list):
            raise ValueError("a Gemini embedding has no values")
        data.append({"object": "embedding", "index": i, "embedding": _base64(values) if as_base64 else values})
    return {
        "object": "list",
        "data": data,
        "model": ctx.model,
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }


CONVERTER = Converter(
    source=OPENAI_EMBEDDINGS,
    target=NAME,
    request=openai_to_gemini_request,
    response=gemini_to_openai_response,
    stream=no_stream,
)
