"""OpenAI embeddings clients on Cohere upstreams (``openai.embeddings`` -> ``cohere.embed``).

``input`` becomes ``texts`` and ``dimensions`` ``output_dimension``; Cohere is always asked for
float embeddings. An OpenAI client that asks for ``encoding_format: "base64"`` (the official SDK
does by default) gets the floats packed as little-endian float32 in base64, as OpenAI sends them:
the request converter leaves that choice in ``ctx.options`` for the response converter, the one
place the two calls of a request share. Cohere's ``input_type`` (required by its v3 and later
models) is passed on when the client sends one; otherwise the channel's setting fills it in (see
``adapter.py``). Token-id inputs cannot be sent to Cohere and are refused.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import MutableMapping
from typing import Any

from newapi_host.sdk import ConvertContext, Converter, InvalidRequest, SSEEvent

from .embed import NAME as TARGET
from .embed import input_tokens

SOURCE = "openai.embeddings"
BASE64_OPTION = "cohere_embed_base64"
INPUT_TYPES = ("search_document", "search_query", "classification", "clustering")


def convert_request(body: dict[str, Any], ctx: ConvertContext) -> dict[str, Any]:
    value = body.get("input")
    if isinstance(value, str):
        texts = [value]
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        texts = list(value)
    elif isinstance(value, list) and value:
        raise InvalidRequest("token-id inputs cannot be sent to Cohere; send text", param="input")
    else:
        raise InvalidRequest("input must be a string or a non-empty list of strings", param="input")
    out: dict[str, Any] = {"model": body.get("model"), "texts": texts, "embedding_types": ["float"]}
    dimensions = body.get("dimensions")
    if dimensions is not None:
        if not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions <= 0:
            raise InvalidRequest("dimensions must be a positive integer", param="dimensions")
        out["output_dimension"] = dimensions
    input_type = body.get("input_type")  # Cohere's own field, sent by clients that know it
    if input_type is not None:
        if input_type not in INPUT_TYPES:
            raise InvalidRequest(f"input_type must be one of {', '.join(INPUT_TYPES)}", param="input_type")
        out["input_type"] = input_type
    if isinstance(ctx.options, MutableMapping):
        ctx.options[BASE64_OPTION] = body.get("encoding_format") == "base64"
    return out


def _base64(values: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def convert_response(body: dict[str, Any], ctx: ConvertContext) -> dict[str, Any]:
    embeddings = body.get("embeddings")
    if isinstance(embeddings, dict):  # embeddings_by_type
        embeddings = embeddings.get("float")
    if not isinstance(embeddings, list) or not all(isinstance(e, list) for e in embeddings):
        raise ValueError("the Cohere answer has no float embeddings")
    as_base64 = bool(ctx.options.get(BASE64_OPTION))
    tokens = input_tokens(body) or 0
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": _base64(values) if as_base64 else values}
            for i, values in enumerate(embeddings)
        ],
        "model": ctx.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


class _NoStream:
    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        raise ValueError("embeddings do not stream")

    def finish(self) -> list[SSEEvent]:
        return []


CONVERTER = Converter(
    source=SOURCE,
    target=TARGET,
    request=convert_request,
    response=convert_response,
    stream=lambda ctx: _NoStream(),
)
