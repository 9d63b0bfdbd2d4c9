"""The Gemini embeddings wire format (``gemini.embed``); its converters are ``embed_via_embeddings`` and
``embeddings_via_embed``.

Clients call ``POST /v1beta/models/<model>:embedContent`` (one content, one embedding) or
``:batchEmbedContents`` (``requests: [...]``, one embedding each). The dialect has no ingress
routes of its own: the Gemini plugin's ``/models/{model_action}`` handlers pick this dialect for
the embed actions (see ``routes.py``). Embed responses carry no usage; the host then estimates
the prompt from :func:`estimate_prompt`.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

import msgspec

from newapi_host.sdk import ConvertContext, Dialect, InvalidRequest, Peek, SSEEvent, Usage, read_object

from .dialect import EMBED_ACTIONS, error_body, split_model_action

NAME = "gemini.embed"
OPENAI_EMBEDDINGS = "openai.embeddings"
BATCH_OPTION = "gemini_embed_batch"
BASE64_OPTION = "openai_embed_base64"

# -- peeking ---------------------------------------------------------------------------------


def peek(body: bytes, params: Mapping[str, str]) -> Peek:
    model, action = split_model_action(params.get("model_action", "") or "")
    if not model:
        raise InvalidRequest("model is required in the path: /v1beta/models/<model>:embedContent", param="model")
    if action not in EMBED_ACTIONS:
        raise InvalidRequest(
            f"unknown action '{action or '(none)'}'; use :embedContent or :batchEmbedContents", param="action"
        )
    data = read_object(body)
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


# -- what both embedding converters share ------------------------------------------------------


def remember(ctx: ConvertContext, key: str, value: Any) -> None:
    """Note something in the request's converter context for its response (batch or not, base64)."""
    if isinstance(ctx.options, MutableMapping):
        ctx.options[key] = value


class _NoStreamConverter:
    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        raise ValueError("embeddings do not stream")

    def finish(self) -> list[SSEEvent]:
        return []


def no_stream(ctx: ConvertContext) -> _NoStreamConverter:
    """The stream side of an embedding converter: embeddings never stream."""
    return _NoStreamConverter()
