"""Requests for Cohere's API (channel type 34): ``POST /v2/chat`` and ``POST /v2/embed``.

The key goes in ``Authorization: Bearer``. The body arrives in the upstream dialect with the
mapped model in it; the adapter decodes it only to make the ``stream`` flag agree with the call
and to add the channel's defaults (``safety_mode`` for chat, ``input_type`` for embeddings).

Cohere has no endpoint that reports an account's balance or credit, so the adapter offers no
``read_balance`` ("update balance" in the console says the channel type has none); it offers
``list_models`` (``GET /v1/models``).
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

import msgspec
from pydantic import BaseModel, Field

from newapi_host.sdk import ChannelView, ErrorVerdict, Fetch, UpstreamCall, UpstreamFailed, UpstreamRequest

from .embed import NAME as EMBED

DEFAULT_BASE_URL = "https://api.cohere.com"
MODEL_PAGES = 10  # at most this many pages of 1000 models; Cohere lists about a hundred


class CohereChannelSettings(BaseModel):
    """Type-specific fields of a Cohere channel."""

    safety_mode: Literal["", "CONTEXTUAL", "STRICT", "OFF"] = Field(
        "",
        title="Safety mode",
        description="Sent with chat requests that have no tools or documents (Cohere refuses it with them); "
        "empty leaves Cohere's default",
    )
    embed_input_type: Literal["search_document", "search_query", "classification", "clustering"] = Field(
        "search_document",
        title="Embedding input type",
        description="Cohere's input_type for OpenAI embedding requests, which have no such field",
    )


def api_root(base_url: str) -> str:
    """``https://api.cohere.com`` -> the same; a base already ending in ``/v1`` or ``/v2`` loses it."""
    base = (base_url or DEFAULT_BASE_URL).rstrip("/")
    for tail in ("/v1", "/v2"):
        if base.endswith(tail):
            return base[: -len(tail)]
    return base


def _decode(body: bytes) -> dict[str, Any] | None:
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    return data if isinstance(data, dict) else None


class _ChatFlags(msgspec.Struct):
    """The fields ``chat_body`` looks at; the rest of the body is skipped, not built."""

    stream: Any = None
    safety_mode: Any = None
    tools: msgspec.Raw | None = None
    documents: msgspec.Raw | None = None


_flags_decoder = msgspec.json.Decoder(_ChatFlags)
_EMPTY = (b"", b"null", b"[]")


def chat_body(call: UpstreamCall) -> bytes:
    """The body with ``stream`` as the call says and the channel's ``safety_mode``; decoded whole
    only when one of them changes it (a converted request already says the right ``stream``)."""
    try:
        flags = _flags_decoder.decode(call.body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return call.body  # Cohere answers a bad body better than we can
    mode = getattr(call.channel.settings, "safety_mode", "")
    no_tools = all(bytes(raw or b"").strip() in _EMPTY for raw in (flags.tools, flags.documents))
    add_mode = bool(mode) and flags.safety_mode is None and no_tools
    if bool(flags.stream) == call.stream and not add_mode:
        return call.body
    data = msgspec.json.decode(call.body)
    data["stream"] = call.stream
    if add_mode:
        data["safety_mode"] = mode
    return msgspec.json.encode(data)


def embed_body(call: UpstreamCall) -> bytes:
    data = _decode(call.body)
    if data is None or data.get("input_type"):
        return call.body
    data["input_type"] = getattr(call.channel.settings, "embed_input_type", "search_document")
    return msgspec.json.encode(data)


class CohereAdapter:
    def build_request(self, call: UpstreamCall) -> UpstreamRequest:
        root = api_root(call.channel.base_url)
        headers = {"Authorization": f"Bearer {call.channel.key}", "Content-Type": "application/json"}
        if call.dialect == EMBED:
            return UpstreamRequest("POST", f"{root}/v2/embed", headers, embed_body(call))
        headers["Accept"] = "text/event-stream" if call.stream else "application/json"
        return UpstreamRequest("POST", f"{root}/v2/chat", headers, chat_body(call))

    def classify_error(self, status: int, body: bytes) -> ErrorVerdict | None:
        """Cohere's statuses: 401 and 498 (invalid token) mean the key is unusable; 429 is a rate
        or trial limit another channel may not have; the rest follows the host's status rules."""
        if status in (401, 498):
            return ErrorVerdict(retry=True, disable_channel=True, status=401)
        if status == 429:
            return ErrorVerdict(retry=True)
        return None

    async def list_models(self, channel: ChannelView, fetch: Fetch) -> list[str]:
        """``GET /v1/models``, page by page: the models with a chat or embed endpoint."""
        headers = {"Authorization": f"Bearer {channel.key}"}
        url = f"{api_root(channel.base_url)}/v1/models?page_size=1000"
        names: list[str] = []
        token: str | None = None
        for _ in range(MODEL_PAGES):
            payload = await fetch(url + (f"&page_token={quote(token)}" if token else ""), headers=headers)
            if not isinstance(payload, dict) or not isinstance(payload.get("models"), list):
                raise UpstreamFailed("the upstream model list has an unexpected shape")
            for model in payload["models"]:
                if not isinstance(model, dict) or not isinstance(model.get("name"), str):
                    continue
                endpoints = model.get("endpoints")
                if not isinstance(endpoints, list) or {"chat", "embed"} & set(endpoints):
                    names.append(model["name"])
            token = payload.get("next_page_token")
            if not isinstance(token, str) or not token:
                break
        return names
