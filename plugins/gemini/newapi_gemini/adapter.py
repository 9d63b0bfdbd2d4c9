"""Building upstream requests for Google AI Studio (Gemini API), channel type 24.

The model and the action go into the URL (``{base}/{version}/models/{model}:generateContent``);
the body is the ``gemini.generate`` request as is. New API's model-name suffixes pick a thinking
configuration: ``-thinking`` (include thoughts), ``-nothinking`` (budget 0) and
``-thinking-<budget>`` (that budget); they are stripped from the model name in the URL.
``gemini.embed`` bodies go to ``:batchEmbedContents`` when they hold ``requests`` (each request's
``model`` set to the channel's model), else to ``:embedContent``.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from pydantic import BaseModel, Field

from newapi_host.sdk import (
    ChannelView,
    ErrorVerdict,
    Fetch,
    UpstreamCall,
    UpstreamFailed,
    UpstreamRequest,
)

EMBED_DIALECT = "gemini.embed"
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
DEFAULT_API_VERSION = "v1beta"
_VERSION_TAIL = re.compile(r"/(v\d+[a-z0-9]*)$")
_BUDGET_SUFFIX = re.compile(r"^(?P<base>.+)-thinking-(?P<budget>\d+)$")

# New API's clamps (service/relayconvert/internal/shared/gemini/request.go)
_PRO25 = (128, 32768)
_FLASH25_LITE = (512, 24576)
_FLASH25_MAX = 24576


class GeminiChannelSettings(BaseModel):
    """Type-specific fields of a Gemini channel."""

    api_version: str = Field(DEFAULT_API_VERSION, description="API version in the URL (v1beta or v1)")
    thinking_suffixes: bool = Field(
        True, description="Understand the model suffixes -thinking, -nothinking and -thinking-<budget>"
    )


def _is_new_25_pro(model: str) -> bool:
    return model.startswith("gemini-2.5-pro") and not model.startswith(
        ("gemini-2.5-pro-preview-05-06", "gemini-2.5-pro-preview-03-25")
    )


def clamp_budget(model: str, budget: int) -> int:
    if model.startswith("gemini-2.5-flash-lite"):
        low, high = _FLASH25_LITE
    elif _is_new_25_pro(model):
        low, high = _PRO25
    else:
        low, high = 0, _FLASH25_MAX
    return max(low, min(high, budget))


def thinking_split(model: str) -> tuple[str, dict[str, Any] | None]:
    """``gemini-2.5-flash-thinking-2048`` -> (``gemini-2.5-flash``, ``{"thinkingBudget": 2048, ...}``)."""
    match = _BUDGET_SUFFIX.match(model)
    if match:
        base = match["base"]
        return base, {"thinkingBudget": clamp_budget(base, int(match["budget"])), "includeThoughts": True}
    if model.endswith("-thinking"):
        return model[: -len("-thinking")], {"includeThoughts": True}
    if model.endswith("-nothinking"):
        base = model[: -len("-nothinking")]
        # 2.5 Pro cannot switch thinking off; New API leaves its config alone
        return base, (None if _is_new_25_pro(base) else {"thinkingBudget": 0})
    return model, None


def _apply_thinking(body: bytes, thinking: dict[str, Any]) -> bytes:
    try:
        data: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body
    if not isinstance(data, dict):
        return body
    config = data.get("generationConfig") if isinstance(data.get("generationConfig"), dict) else {}
    current = config.get("thinkingConfig") if isinstance(config.get("thinkingConfig"), dict) else {}
    data["generationConfig"] = {**config, "thinkingConfig": {**current, **thinking}}
    return msgspec.json.encode(data)


def api_root(base_url: str, version: str) -> str:
    """``https://host`` -> ``https://host/v1beta``; a base already ending in a version keeps it."""
    base = (base_url or DEFAULT_BASE_URL).rstrip("/")
    return base if _VERSION_TAIL.search(base) else f"{base}/{version}"


def _embed_body(body: bytes, model: str) -> tuple[bytes, bool]:
    """The embed body with each batch request's ``model`` set to the channel's; (body, is_batch)."""
    try:
        data: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body, False
    if not isinstance(data, dict) or not isinstance(data.get("requests"), list):
        return body, False
    for request in data["requests"]:
        if isinstance(request, dict):
            request["model"] = f"models/{model}"
    return msgspec.json.encode(data), True


class GeminiAdapter:
    def build_request(self, call: UpstreamCall) -> UpstreamRequest:
        settings = call.channel.settings
        if call.dialect == EMBED_DIALECT:
            return self._embed_request(call)
        model, thinking = call.model, None
        if getattr(settings, "thinking_suffixes", True):
            model, thinking = thinking_split(call.model)
        version = (call.channel.other or "").strip() or getattr(settings, "api_version", "") or DEFAULT_API_VERSION
        root = api_root(call.channel.base_url, version)
        if call.stream:
            url = f"{root}/models/{model}:streamGenerateContent?alt=sse"
        else:
            url = f"{root}/models/{model}:generateContent"
        headers = {"Content-Type": "application/json", "x-goog-api-key": call.channel.key}
        if call.stream:
            headers["Accept"] = "text/event-stream"
        body = _apply_thinking(call.body, thinking) if thinking else call.body
        return UpstreamRequest(method="POST", url=url, headers=headers, body=body)

    def _embed_request(self, call: UpstreamCall) -> UpstreamRequest:
        settings = call.channel.settings
        version = (call.channel.other or "").strip() or getattr(settings, "api_version", "") or DEFAULT_API_VERSION
        root = api_root(call.channel.base_url, version)
        body, batch = _embed_body(call.body, call.model)
        url = f"{root}/models/{call.model}:{'batchEmbedContents' if batch else 'embedContent'}"
        headers = {"Content-Type": "application/json", "x-goog-api-key": call.channel.key}
        return UpstreamRequest(method="POST", url=url, headers=headers, body=body)

    def classify_error(self, status: int, body: bytes) -> ErrorVerdict | None:
        text = body[:4096]
        if b"API_KEY_INVALID" in text or b"API key not valid" in text or b"API key expired" in text:
            return ErrorVerdict(retry=True, disable_channel=True, status=401)
        if status == 403 and (b"PERMISSION_DENIED" in text or b"SERVICE_DISABLED" in text):
            return ErrorVerdict(retry=True, disable_channel=True)
        if status == 429:
            return ErrorVerdict(retry=True)
        return None

    async def list_models(self, channel: ChannelView, fetch: Fetch) -> list[str]:
        """The Gemini API's ``GET /v1beta/models`` (names without their ``models/`` prefix)."""
        version = (channel.other or "").strip() or getattr(channel.settings, "api_version", "") or DEFAULT_API_VERSION
        url = f"{api_root(channel.base_url, version)}/models?pageSize=1000"
        payload = await fetch(url, headers={"x-goog-api-key": channel.key})
        if not isinstance(payload, dict) or not isinstance(payload.get("models"), list):
            raise UpstreamFailed("the upstream model list has an unexpected shape")
        names = [m.get("name") for m in payload["models"] if isinstance(m, dict)]
        return [n.removeprefix("models/") for n in names if isinstance(n, str)]
