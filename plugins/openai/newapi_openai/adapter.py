"""Building upstream requests for OpenAI, Azure OpenAI and OpenAI-compatible vendors.

One adapter class serves every OpenAI-compatible channel type; what differs between vendors is
data (:mod:`.presets`). The body is decoded only when something in it has to change: the model
name (after mapping or a reasoning suffix), ``reasoning_effort``, or ``stream_options``.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
from pydantic import BaseModel, Field

from newapi_host.sdk import Balance, ChannelView, ErrorVerdict, Fetch, UpstreamCall, UpstreamRequest

from . import account
from .dialects import PATHS
from .presets import REASONING_SUFFIX_MODEL_PREFIXES, VendorPreset, split_reasoning_suffix

AZURE_DEFAULT_API_VERSION = "2025-04-01-preview"
_VERSIONED = re.compile(r"/v\d+[a-z0-9]*$")
_STREAM_USAGE_DIALECTS = {"openai.chat", "openai.completions"}


def api_root(base_url: str) -> str:
    """``https://api.x.com`` -> ``https://api.x.com/v1``; a base already ending in a version stays."""
    base = base_url.rstrip("/")
    return base if _VERSIONED.search(base) else f"{base}/v1"


def reasoning_split(model: str) -> tuple[str, str | None]:
    """``gpt-5-high`` -> (``gpt-5``, ``high``), for reasoning models only, as New API does."""
    base, effort = split_reasoning_suffix(model)
    if effort is not None and base.startswith(REASONING_SUFFIX_MODEL_PREFIXES):
        return base, effort
    return model, None


def _is_reasoning_model(model: str) -> bool:
    return model.startswith(REASONING_SUFFIX_MODEL_PREFIXES)


def _edit_body(call: UpstreamCall, model: str, effort: str | None, inject_usage: bool) -> bytes:
    # Reasoning models refuse max_tokens; New API moves it to max_completion_tokens.
    move_max = call.dialect == "openai.chat" and _is_reasoning_model(model) and b'"max_tokens"' in call.body
    if model == call.body_model and effort is None and not inject_usage and not move_max:
        return call.body
    data: Any = msgspec.json.decode(call.body)
    if not isinstance(data, dict):
        return call.body
    data["model"] = model
    if move_max and "max_tokens" in data:
        value = data.pop("max_tokens")
        data.setdefault("max_completion_tokens", value)
    if effort is not None:
        if call.dialect == "openai.responses":
            reasoning = data.get("reasoning") if isinstance(data.get("reasoning"), dict) else {}
            data["reasoning"] = {**reasoning, "effort": effort}
        else:
            data["reasoning_effort"] = effort
    if inject_usage:
        options = data.get("stream_options") if isinstance(data.get("stream_options"), dict) else {}
        data["stream_options"] = {**options, "include_usage": True}
    return msgspec.json.encode(data)


class OpenAIChannelSettings(BaseModel):
    """Type-specific fields of an OpenAI-compatible channel."""

    force_stream_usage: bool = Field(
        True, description="Ask the upstream for usage in streams (stream_options.include_usage)"
    )


class AzureChannelSettings(BaseModel):
    api_version: str = Field(AZURE_DEFAULT_API_VERSION, description="api-version query parameter")


class OpenAIAdapter:
    """Requests for OpenAI and every vendor that speaks its API (a preset supplies the differences)."""

    def __init__(self, preset: VendorPreset) -> None:
        self.preset = preset

    def build_request(self, call: UpstreamCall) -> UpstreamRequest:
        model, effort = reasoning_split(call.model) if self.preset.reasoning_suffixes else (call.model, None)
        settings = call.channel.settings
        wants_injection = getattr(settings, "force_stream_usage", True)
        inject = (
            call.stream
            and not call.wants_usage
            and self.preset.stream_usage
            and wants_injection
            and call.dialect in _STREAM_USAGE_DIALECTS
        )
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {call.channel.key}"}
        if call.channel.openai_organization:
            headers["OpenAI-Organization"] = call.channel.openai_organization
        if call.stream:
            headers["Accept"] = "text/event-stream"
        base = call.channel.base_url or self.preset.default_base_url
        path = PATHS[call.dialect]
        if "{model}" in base or base.rstrip("/").endswith(path):
            url = base.replace("{model}", model)  # a complete endpoint URL, as New API's Custom type takes
        else:
            url = api_root(base) + path
        return UpstreamRequest(
            method="POST",
            url=url,
            headers=headers,
            body=_edit_body(call, model, effort, inject),
        )

    def classify_error(self, status: int, body: bytes) -> ErrorVerdict | None:
        return None

    async def list_models(self, channel: ChannelView, fetch: Fetch) -> list[str]:
        return await account.list_models(self.preset, channel, fetch)


class BillingAdapter(OpenAIAdapter):
    """An OpenAI-compatible vendor whose account balance can be read (see :mod:`.account`)."""

    async def read_balance(self, channel: ChannelView, fetch: Fetch) -> Balance:
        return await account.BALANCE_READERS[self.preset.id](channel, fetch)


def adapter_for(preset: VendorPreset) -> OpenAIAdapter:
    return BillingAdapter(preset) if preset.id in account.BALANCE_READERS else OpenAIAdapter(preset)


class AzureAdapter:
    """Azure OpenAI: deployment URLs, ``api-key`` header, ``api-version`` from the channel."""

    def build_request(self, call: UpstreamCall) -> UpstreamRequest:
        model, effort = reasoning_split(call.model)
        settings = call.channel.settings
        version = call.channel.other or getattr(settings, "api_version", "") or AZURE_DEFAULT_API_VERSION
        base = call.channel.base_url.rstrip("/")
        deployment = model.replace(".", "")  # Azure deployment names cannot contain dots
        path = PATHS[call.dialect]
        if call.dialect == "openai.responses":
            url = f"{base}/openai/v1/responses?api-version=preview"
        else:
            url = f"{base}/openai/deployments/{deployment}{path}?api-version={version}"
        inject = call.stream and not call.wants_usage and call.dialect in _STREAM_USAGE_DIALECTS
        headers = {"Content-Type": "application/json", "api-key": call.channel.key}
        return UpstreamRequest(method="POST", url=url, headers=headers, body=_edit_body(call, model, effort, inject))

    def classify_error(self, status: int, body: bytes) -> ErrorVerdict | None:
        return None
