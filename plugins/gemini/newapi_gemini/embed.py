"""The Gemini embeddings wire format (``gemini.embed``) and its converters to/from ``openai.embeddings``.

Clients call ``POST /v1beta/models/<model>:embedContent`` (one content, one embedding) or
``:batchEmbedContents`` (``requests: [...]``, one embedding each). The dialect has no ingress
routes of its own: the Gemini plugin's ``/models/{model_action}`` handlers pick this dialect for
the embed actions (see ``routes.py``). Embed responses carry no usage; the host then estimates
the prompt from :func:`estimate_prompt`.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping, MutableMapping
from typing import Any

import msgspec

from newapi_host.sdk import ConvertContext, Converter, Dialect, InvalidRequest, Peek, SSEEvent, Usage

from .dialect import EMBED_ACTIONS, error_body, split_model_action

NAME = "gemini.embed"
OPENAI_EMBEDDINGS = "openai.embeddings"
BATCH_OPTION = "gemini_embed_batch"
BASE64_OPTION = "openai_embed_base64"

# -- peeking ---------------------------------------------------------------------------------


def _decode_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise InvalidRequest("request body is empty; a JSON object is required")
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object")
    return data


def peek(body: bytes, params: Mapping[str, str]) -> Peek:
    model, action = split_model_action(params.get("model_action", "") or "")
    if not model:
        raise InvalidRequest("model is required in the path: /v1beta/models/<model>:embedContent", param="model")
    if action not in EMBED_ACTIONS:
        raise InvalidRequest(
            f"unknown action '{action or '(none)'}'; use :embedContent or :batchEmbedContents", param="action"
        )
    data = _decode_object(body)
    if action == "batchEmbedContents":
        requests = data.get("requests")
        if not isinstance(requests, list) or not requests:
            raise InvalidRequest("requests must be a non-empty list", param="requests")
        if not all(isinstance(r, dict) and isinstance(r.get("content"), dict) for r in requests):
            raise InvalidRequest("every request needs a content object", param="requests")
    elif not isinstance(data.get("content"), dict):
        raise InvalidRequest("content is required", param="content")
    return Peek(model=model, stream=False, max_tokens=None, wants_usage=True)


# -- usage, estimates ------------------------------------------------------------------------


def response_usage(body: bytes) -> Usage | None:
    """Gemini embed responses report no usage (None: the host estimates); ValueError if not JSON."""
    try:
        msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise ValueError(f"the upstream answered with a body that is not JSON: {exc}") from None
    return None


class _NoStream:
    """Embeddings never stream; a counter that finds nothing."""

    finished = True

    def feed(self, event: SSEEvent) -> bool:
        return False

    def result(self) -> Usage | None:
        return None

    def output_text(self) -> tuple[int, str]:
        return 0, ""


def stream_usage() -> _NoStream:
    return _NoStream()


def content_text(content: Any) -> str:
    """The texts of ``content.parts[].text``, joined by newlines."""
    parts = content.get("parts") if isinstance(content, dict) else None
    texts = [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)] if parts else []
    return "\n".join(texts)


def _texts(data: dict[str, Any]) -> list[str]:
    requests = data.get("requests")
    if isinstance(requests, list):
        return [content_text(r.get("content")) for r in requests if isinstance(r, dict)]
    return [content_text(data.get("content"))]


def estimate_prompt(body: bytes, model: str) -> int:
    from newapi_host.sdk import count_tokens

    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return 0
    if not isinstance(data, dict):
        return 0
    return sum(count_tokens(text, model) for text in _texts(data) if text)


def response_text(body: bytes) -> str:
    return ""


EMBED = Dialect(
    name=NAME,
    title="Google Gemini embedContent / batchEmbedContents",
    routes=(),
    peek=peek,
    error_body=error_body,
    usage=response_usage,
    stream_usage=stream_usage,
    api_key_headers=("x-goog-api-key", "authorization"),
    api_key_query="key",
    estimate_prompt=estimate_prompt,
    response_text=response_text,
)

# -- converters ------------------------------------------------------------------------------


def _remember(ctx: ConvertContext, key: str, value: Any) -> None:
    if isinstance(ctx.options, MutableMapping):
        ctx.options[key] = value


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
    _remember(ctx, BATCH_OPTION, batch)
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
    _remember(ctx, BASE64_OPTION, body.get("encoding_format") == "base64")
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


class _NoStreamConverter:
    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        raise ValueError("embeddings do not stream")

    def finish(self) -> list[SSEEvent]:
        return []


def _no_stream(ctx: ConvertContext) -> _NoStreamConverter:
    return _NoStreamConverter()


GEMINI_TO_OPENAI = Converter(
    source=NAME,
    target=OPENAI_EMBEDDINGS,
    request=gemini_to_openai_request,
    response=openai_to_gemini_response,
    stream=_no_stream,
)
OPENAI_TO_GEMINI = Converter(
    source=OPENAI_EMBEDDINGS,
    target=NAME,
    request=openai_to_gemini_request,
    response=gemini_to_openai_response,
    stream=_no_stream,
)
