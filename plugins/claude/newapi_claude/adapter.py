"""Requests for Anthropic's API (channel type 14).

The body is decoded only when something in it changes: the model name after mapping, or one of
New API's model-name suffixes. ``-thinking`` turns on extended thinking with a budget of 80% of
``max_tokens`` (``max_tokens`` at least 1280, sampling parameters dropped since thinking refuses
them); on Opus 4.7/4.8 it means adaptive thinking at high effort. ``-low`` ... ``-max`` on Opus
4.6 and later pick the adaptive-thinking effort. The client's ``anthropic-version`` and
``anthropic-beta`` headers are passed on when the host provides them.
"""

from __future__ import annotations

from typing import Any

import msgspec

from newapi_host.sdk import (
    ChannelView,
    ErrorVerdict,
    Fetch,
    UpstreamCall,
    UpstreamFailed,
    UpstreamRequest,
)

DEFAULT_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
THINKING_SUFFIX = "-thinking"
THINKING_MIN_MAX_TOKENS = 1280
THINKING_BUDGET_SHARE = 0.8
THINKING_MIN_BUDGET = 1024  # Anthropic's smallest accepted budget_tokens
DEFAULT_MAX_TOKENS = 8192  # New API's ClaudeSettings.DefaultMaxTokens["default"]
# Model-name suffixes that pick an adaptive-thinking effort, and the models that take them (New API).
EFFORT_SUFFIXES = ("-max", "-xhigh", "-high", "-medium", "-low", "-minimal")
ADAPTIVE_MODEL_PREFIXES = ("claude-opus-4-6", "claude-opus-4-7", "claude-opus-4-8")
ADAPTIVE_ONLY_PREFIXES = ("claude-opus-4-7", "claude-opus-4-8")  # no budget_tokens thinking


def messages_url(base_url: str) -> str:
    """``https://api.anthropic.com`` -> ``.../v1/messages``; a base ending in ``/v1`` or the full path works too."""
    base = (base_url or DEFAULT_BASE_URL).rstrip("/")
    if base.endswith("/v1/messages"):
        return base
    if base.endswith("/v1"):
        return f"{base}/messages"
    return f"{base}/v1/messages"


def split_thinking(model: str) -> tuple[str, bool]:
    if model.endswith(THINKING_SUFFIX) and len(model) > len(THINKING_SUFFIX):
        return model[: -len(THINKING_SUFFIX)], True
    return model, False


def enable_thinking(data: dict[str, Any]) -> None:
    """New API's thinking adapter: budget = max_tokens x 0.8, max_tokens >= 1280, temperature 1."""
    max_tokens = data.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens <= 0:
        max_tokens = DEFAULT_MAX_TOKENS
    max_tokens = max(max_tokens, THINKING_MIN_MAX_TOKENS)
    data["max_tokens"] = max_tokens
    data["thinking"] = {
        "type": "enabled",
        "budget_tokens": max(THINKING_MIN_BUDGET, int(max_tokens * THINKING_BUDGET_SHARE)),
    }
    for key in ("temperature", "top_p", "top_k"):
        data.pop(key, None)


def split_effort(model: str) -> tuple[str, str | None]:
    """``claude-opus-4-6-high`` -> (``claude-opus-4-6``, ``high``): adaptive-thinking models only, as New API."""
    for suffix in EFFORT_SUFFIXES:
        if model.endswith(suffix):
            base = model[: -len(suffix)]
            if base.startswith(ADAPTIVE_MODEL_PREFIXES):
                return base, suffix[1:]
    return model, None


def enable_adaptive(data: dict[str, Any], model: str, effort: str) -> None:
    """Adaptive thinking with an effort level (Opus 4.6 and later), as New API sends it."""
    data["thinking"] = {"type": "adaptive"}
    output_config = data.get("output_config") if isinstance(data.get("output_config"), dict) else {}
    data["output_config"] = {**output_config, "effort": effort}
    drop: tuple[str, ...] = ("temperature", "top_p")
    if not model.startswith("claude-opus-4-6"):
        data["thinking"]["display"] = "summarized"
        drop = ("temperature", "top_p", "top_k")
    for key in drop:
        data.pop(key, None)


def edit_body(call: UpstreamCall) -> bytes:
    model, effort = split_effort(call.model)
    thinking = False
    if effort is None:
        model, thinking = split_thinking(model)
    if model == call.body_model and not thinking and effort is None:
        return call.body
    data: Any = msgspec.json.decode(call.body)
    if not isinstance(data, dict):
        return call.body
    data["model"] = model
    if effort is not None:
        enable_adaptive(data, model, effort)
    elif thinking:
        existing = data.get("thinking")
        if isinstance(existing, dict) and existing.get("type") in ("enabled", "adaptive"):
            pass  # the client already chose how to think
        elif model.startswith(ADAPTIVE_ONLY_PREFIXES):
            enable_adaptive(data, model, "high")
        else:
            enable_thinking(data)
    return msgspec.json.encode(data)


class ClaudeAdapter:
    """Anthropic's Messages endpoint with ``x-api-key`` authentication."""

    def build_request(self, call: UpstreamCall) -> UpstreamRequest:
        client = {k.lower(): v for k, v in call.client_headers.items()} if call.client_headers else {}
        headers = {
            "Content-Type": "application/json",
            "x-api-key": call.channel.key,
            "anthropic-version": client.get("anthropic-version") or ANTHROPIC_VERSION,
        }
        if client.get("anthropic-beta"):
            headers["anthropic-beta"] = client["anthropic-beta"]
        if call.stream:
            headers["Accept"] = "text/event-stream"
        return UpstreamRequest(
            method="POST", url=messages_url(call.channel.base_url), headers=headers, body=edit_body(call)
        )

    def classify_error(self, status: int, body: bytes) -> ErrorVerdict | None:
        if status == 529:  # overloaded: another channel may well answer
            return ErrorVerdict(retry=True)
        return None

    async def list_models(self, channel: ChannelView, fetch: Fetch) -> list[str]:
        """Anthropic's ``GET /v1/models``."""
        url = messages_url(channel.base_url).removesuffix("/messages") + "/models?limit=1000"
        payload = await fetch(url, headers={"x-api-key": channel.key, "anthropic-version": ANTHROPIC_VERSION})
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
            raise UpstreamFailed("the upstream model list has an unexpected shape")
        return [m.get("id") for m in payload["data"] if isinstance(m, dict)]
