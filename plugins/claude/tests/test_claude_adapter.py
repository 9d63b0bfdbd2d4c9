"""Channel type 14: upstream URL, headers, model replacement and New API's thinking suffixes."""

from __future__ import annotations

import json

import pytest

from newapi_claude.adapter import ClaudeAdapter, messages_url
from newapi_claude.plugin import ANTHROPIC
from newapi_host.sdk import ChannelView, UpstreamCall


def make_call(
    model: str, body: dict, *, body_model: str | None = None, base_url: str = "", stream: bool = False, headers=None
):
    channel = ChannelView(id=1, type=14, name="c", base_url=base_url, key="sk-ant-1")
    raw = json.dumps(body).encode()
    return UpstreamCall(
        channel=channel,
        dialect="claude.messages",
        model=model,
        body=raw,
        stream=stream,
        body_model=body.get("model", "") if body_model is None else body_model,
        client_headers=headers or {},
    )


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("", "https://api.anthropic.com/v1/messages"),
        ("https://api.anthropic.com", "https://api.anthropic.com/v1/messages"),
        ("https://proxy.example.com/", "https://proxy.example.com/v1/messages"),
        ("https://proxy.example.com/v1", "https://proxy.example.com/v1/messages"),
        ("https://proxy.example.com/v1/", "https://proxy.example.com/v1/messages"),
        ("https://proxy.example.com/api/v1/messages", "https://proxy.example.com/api/v1/messages"),
    ],
)
def test_url(base, url):
    assert messages_url(base) == url
    assert ClaudeAdapter().build_request(make_call("m", {"model": "m"}, base_url=base)).url == url


def test_channel_type():
    assert (ANTHROPIC.id, ANTHROPIC.name, ANTHROPIC.dialects) == (14, "Anthropic", ("claude.messages",))
    assert ANTHROPIC.default_base_url == "https://api.anthropic.com"


def test_headers_and_untouched_body():
    call = make_call("claude-sonnet-4-5", {"model": "claude-sonnet-4-5", "max_tokens": 5}, stream=True)
    request = ClaudeAdapter().build_request(call)
    assert request.method == "POST"
    assert request.headers == {
        "Content-Type": "application/json",
        "x-api-key": "sk-ant-1",
        "anthropic-version": "2023-06-01",
        "Accept": "text/event-stream",
    }
    assert request.body is call.body  # nothing to change: not even decoded


def test_client_version_and_beta_pass_through():
    headers = {"Anthropic-Version": "2024-01-01", "anthropic-beta": "prompt-caching-2024-07-31"}
    request = ClaudeAdapter().build_request(make_call("m", {"model": "m"}, headers=headers))
    assert request.headers["anthropic-version"] == "2024-01-01"
    assert request.headers["anthropic-beta"] == "prompt-caching-2024-07-31"


def test_mapped_model_is_written():
    call = make_call("claude-sonnet-4-5-20250929", {"model": "sonnet", "max_tokens": 5, "temperature": 0.3})
    body = json.loads(ClaudeAdapter().build_request(call).body)
    assert body == {"model": "claude-sonnet-4-5-20250929", "max_tokens": 5, "temperature": 0.3}


@pytest.mark.parametrize(
    ("max_tokens", "expected_max", "budget"), [(1000, 1280, 1024), (8192, 8192, 6553), (None, 8192, 6553)]
)
def test_thinking_suffix(max_tokens, expected_max, budget):
    body = {"model": "claude-sonnet-4-5-thinking", "temperature": 0.2, "top_p": 0.5, "messages": []}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    out = json.loads(ClaudeAdapter().build_request(make_call("claude-sonnet-4-5-thinking", body)).body)
    assert out == {
        "model": "claude-sonnet-4-5",
        "messages": [],
        "max_tokens": expected_max,
        "thinking": {"type": "enabled", "budget_tokens": budget},
    }


def test_thinking_suffix_keeps_clients_own_thinking():
    body = {"model": "x", "max_tokens": 4000, "thinking": {"type": "enabled", "budget_tokens": 2000}}
    out = json.loads(ClaudeAdapter().build_request(make_call("claude-opus-4-1-thinking", body)).body)
    assert out == {
        "model": "claude-opus-4-1",
        "max_tokens": 4000,
        "thinking": {"type": "enabled", "budget_tokens": 2000},
    }


def test_effort_suffix_on_adaptive_models():
    body = {"model": "x", "max_tokens": 4000, "temperature": 0.5, "top_k": 5}
    out = json.loads(ClaudeAdapter().build_request(make_call("claude-opus-4-7-high", body)).body)
    assert out == {
        "model": "claude-opus-4-7",
        "max_tokens": 4000,
        "thinking": {"type": "adaptive", "display": "summarized"},
        "output_config": {"effort": "high"},
    }
    # other models keep such suffixes as part of their name
    out = json.loads(ClaudeAdapter().build_request(make_call("claude-sonnet-4-5-high", {"model": "x"})).body)
    assert out == {"model": "claude-sonnet-4-5-high"}


def test_overloaded_is_retried():
    adapter = ClaudeAdapter()
    assert adapter.classify_error(529, b"{}").retry is True
    assert adapter.classify_error(400, b"{}") is None
