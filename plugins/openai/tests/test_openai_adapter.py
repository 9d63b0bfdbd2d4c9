"""Building upstream requests for OpenAI-compatible channels: URLs, untouched bodies, reasoning
suffixes, stream usage, Azure's deployment URLs."""

from __future__ import annotations

import json

import msgspec

from newapi_host.sdk import ChannelView, UpstreamCall
from newapi_openai.adapter import AzureAdapter, OpenAIAdapter, OpenAIChannelSettings, api_root
from newapi_openai.presets import PRESETS_BY_ID


def call(
    model: str, body: dict, *, base_url: str = "https://api.openai.com", stream: bool = False, **kw
) -> UpstreamCall:
    channel = ChannelView(id=1, type=1, name="c", base_url=base_url, key="sk-k", settings=OpenAIChannelSettings(), **kw)
    return UpstreamCall(
        channel=channel,
        dialect="openai.chat",
        model=model,
        body=msgspec.json.encode(body),
        stream=stream,
        body_model=body.get("model", ""),
        wants_usage=bool((body.get("stream_options") or {}).get("include_usage")),
    )


def test_api_root_and_custom_full_urls():
    assert api_root("https://api.openai.com") == "https://api.openai.com/v1"
    assert api_root("https://openrouter.ai/api/") == "https://openrouter.ai/api/v1"
    assert api_root("https://x.example/v1") == "https://x.example/v1"
    assert api_root("https://ark.example/api/v3") == "https://ark.example/api/v3"
    adapter = OpenAIAdapter(PRESETS_BY_ID[8])
    full = adapter.build_request(call("m", {"model": "m"}, base_url="https://h/deploy/{model}/chat/completions"))
    assert full.url == "https://h/deploy/m/chat/completions"


def test_unchanged_bodies_pass_byte_for_byte():
    body = b'{"model":"gpt-4o", "messages":[], "extra": {"keep":  "spacing"}}'
    c = call("gpt-4o", {"model": "gpt-4o"})
    c.body = body
    request = OpenAIAdapter(PRESETS_BY_ID[1]).build_request(c)
    assert request.body is body
    assert request.url == "https://api.openai.com/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer sk-k"


def test_reasoning_suffix_becomes_reasoning_effort_for_reasoning_models_only():
    adapter = OpenAIAdapter(PRESETS_BY_ID[1])
    sent = json.loads(adapter.build_request(call("gpt-5-high", {"model": "gpt-5-high", "messages": []})).body)
    assert sent["model"] == "gpt-5" and sent["reasoning_effort"] == "high"
    sent = json.loads(adapter.build_request(call("o3-mini-low", {"model": "o3-mini-low"})).body)
    assert sent["model"] == "o3-mini" and sent["reasoning_effort"] == "low"
    sent = json.loads(adapter.build_request(call("o3", {"model": "o3", "max_tokens": 50})).body)
    assert sent == {"model": "o3", "max_completion_tokens": 50}  # reasoning models refuse max_tokens
    kept = adapter.build_request(call("my-model-high", {"model": "my-model-high"}))
    assert json.loads(kept.body)["model"] == "my-model-high"  # not a reasoning model: left alone


def test_stream_usage_injection_and_mapping():
    adapter = OpenAIAdapter(PRESETS_BY_ID[1])
    sent = json.loads(adapter.build_request(call("mapped", {"model": "asked", "stream": True}, stream=True)).body)
    assert sent["model"] == "mapped" and sent["stream_options"] == {"include_usage": True}
    no_inject = OpenAIAdapter(PRESETS_BY_ID[42])  # Mistral does not take stream_options
    assert "stream_options" not in json.loads(no_inject.build_request(call("m", {"model": "x"}, stream=True)).body)


def test_azure_deployment_url_api_version_and_key_header():
    c = call("gpt-4.1-mini", {"model": "gpt-4.1-mini"}, base_url="https://res.openai.azure.com/")
    request = AzureAdapter().build_request(c)
    assert request.url == (
        "https://res.openai.azure.com/openai/deployments/gpt-41-mini/chat/completions?api-version=2025-04-01-preview"
    )
    assert request.headers["api-key"] == "sk-k" and "Authorization" not in request.headers
    c2 = call("gpt-4o", {"model": "gpt-4o"}, base_url="https://res.openai.azure.com", other="2024-10-21")
    assert AzureAdapter().build_request(c2).url.endswith("api-version=2024-10-21")
