"""The claude.messages dialect: peek, errors, usage (whole and streamed), estimates."""

from __future__ import annotations

import json

import pytest
from claude_sdk_helpers import claude_events

from newapi_claude.dialect import (
    DIALECT,
    ClaudeStreamCounter,
    as_chat_for_estimate,
    error_body,
    peek,
    response_usage,
    stream_usage,
)
from newapi_host.sdk import InvalidRequest, Peek, SSEEvent, Usage


def body(**fields) -> bytes:
    return json.dumps(fields).encode()


def test_dialect_shape():
    assert DIALECT.name == "claude.messages"
    assert [(r.method, r.path) for r in DIALECT.routes] == [("POST", "/v1/messages")]
    assert DIALECT.api_key_headers == ("x-api-key", "authorization")
    assert DIALECT.stream_error_event == "error"


def test_peek():
    assert peek(body(model="claude-sonnet-4-5", max_tokens=100, messages=[]), {}) == Peek(
        model="claude-sonnet-4-5", stream=False, max_tokens=100, wants_usage=True
    )
    assert peek(body(model="m", max_tokens=1, stream=True), {}).stream is True


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (body(model="m"), "max_tokens"),
        (body(max_tokens=10), "model"),
        (body(model="m", max_tokens=0), "max_tokens"),
        (body(model="m", max_tokens="10"), "max_tokens"),
        (body(model="m", max_tokens=10, stream="yes"), "stream"),
        (b"{not json", "JSON"),
        (b"", "empty"),
        (body(model="m", max_tokens=10, messages=7), r"\$\.messages"),
        (body(model="m", max_tokens=10, messages={"role": "user"}), r"\$\.messages"),
        (body(model="m", max_tokens=10, messages=[], tools=5), r"\$\.tools"),
        (body(model="m", max_tokens=10, messages=[], system=3), r"\$\.system"),
        (body(model="m", max_tokens=10, messages=[7]), r"\$\.messages\[0\]"),
        (body(model="m", max_tokens=10, messages=[{"role": "user", "content": 7}]), r"\$\.messages\[0\]\.content"),
        (body(model="m", max_tokens=10, messages=[{"role": "user", "content": [7]}]), r"\$\.messages\[0\]\.content"),
        (body(model="m", max_tokens=10, messages=[{"role": 1, "content": "hi"}]), r"\$\.messages\[0\]\.role"),
    ],
)
def test_peek_rejects(raw, fragment):
    with pytest.raises(InvalidRequest, match=fragment):
        peek(raw, {})


@pytest.mark.parametrize(
    ("status", "type_"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (422, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (502, "api_error"),
        (529, "overloaded_error"),
    ],
)
def test_error_body(status, type_):
    assert json.loads(error_body(status, "nope", "new_api_error", "x")) == {
        "type": "error",
        "error": {"type": type_, "message": "nope"},
    }


def test_usage_with_cache_breakdown():
    raw = body(
        id="msg_1",
        usage={
            "input_tokens": 10,
            "output_tokens": 20,
            "cache_read_input_tokens": 300,
            "cache_creation_input_tokens": 50,
            "cache_creation": {"ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 20},
        },
    )
    assert response_usage(raw) == Usage(
        prompt_tokens=10,
        completion_tokens=20,
        cached_tokens=300,
        cache_creation_tokens=50,
        cache_creation_5m_tokens=30,
        cache_creation_1h_tokens=20,
        prompt_excludes_cache=True,
    )


def test_usage_without_breakdown_and_missing():
    u = response_usage(body(usage={"input_tokens": 1, "output_tokens": 2, "cache_creation_input_tokens": 7}))
    assert (u.cache_creation_tokens, u.cache_creation_5m_tokens, u.cache_creation_1h_tokens) == (7, 7, 0)
    assert response_usage(body(id="x")) is None
    assert response_usage(b"[1]") is None
    with pytest.raises(ValueError):
        response_usage(b"<html>")


STREAM = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude",
            "usage": {
                "input_tokens": 25,
                "output_tokens": 1,
                "cache_read_input_tokens": 100,
                "cache_creation_input_tokens": 0,
            },
        },
    },
    {"type": "ping"},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
    {"type": "content_block_stop", "index": 0},
    {
        "type": "content_block_start",
        "index": 1,
        "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}},
    },
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"a":1}'}},
    {"type": "content_block_stop", "index": 1},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 15}},
    {"type": "message_stop"},
]


def test_stream_counter():
    counter = stream_usage()
    flags = [counter.feed(e) for e in claude_events(STREAM)]
    assert not any(flags)  # no Anthropic event carries only usage
    assert counter.finished
    assert counter.result() == Usage(
        prompt_tokens=25, completion_tokens=15, cached_tokens=100, prompt_excludes_cache=True
    )
    assert counter.output_text() == (0, 'Hellof{"a":1}')


def test_stream_counter_usage_corrected_by_message_delta():
    counter = ClaudeStreamCounter()
    events = [
        {"type": "message_start", "message": {"usage": {"input_tokens": 0, "output_tokens": 0}}},
        {
            "type": "message_delta",
            "delta": {},
            "usage": {"input_tokens": 40, "output_tokens": 9, "cache_read_input_tokens": 3},
        },
    ]
    for event in claude_events(events):
        counter.feed(event)
    assert not counter.finished
    result = counter.result()
    assert (result.prompt_tokens, result.completion_tokens, result.cached_tokens) == (40, 9, 3)


def test_stream_counter_flat_memory():
    counter = stream_usage()
    piece = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "word " * 2000}}
    for _ in range(20):
        counter.feed(SSEEvent(json.dumps(piece), "content_block_delta"))
    counted, text = counter.output_text()
    assert counted > 0 and len(text) < 70 * 1024


def test_stream_counter_rejects_bad_events():
    counter = stream_usage()
    assert counter.result() is None
    with pytest.raises(ValueError):
        counter.feed(SSEEvent("{oops", "message_start"))
    with pytest.raises(ValueError, match="Overloaded"):
        counter.feed(
            SSEEvent(
                json.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}), "error"
            )
        )


@pytest.mark.parametrize("fields", [{"messages": 7}, {"tools": 5}, {"messages": "hi", "tools": {"a": 1}}])
def test_estimates_tolerate_wrong_types(fields):
    """The hold estimator runs on bodies the peek already checked, but must never crash on its own."""
    assert as_chat_for_estimate({"model": "m", **fields})["messages"] == []
    assert DIALECT.estimate_prompt(body(model="m", **fields), "m") >= 0


def test_estimate_prompt_and_response_text():
    request = body(
        model="claude-sonnet-4-5",
        max_tokens=10,
        system="You are a helpful assistant.",
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Hello there"}, {"type": "image", "source": {}}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "ok"}]},
        ],
        tools=[{"name": "f", "input_schema": {"type": "object"}}],
    )
    estimate = DIALECT.estimate_prompt(request, "claude-sonnet-4-5")
    assert estimate > 520  # the image alone counts 520, like New API
    assert DIALECT.estimate_prompt(b"garbage", "m") >= 0
    response = body(
        content=[
            {"type": "thinking", "thinking": "hm", "signature": "s"},
            {"type": "text", "text": "Hi"},
            {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}},
        ]
    )
    assert DIALECT.response_text(response) == 'hmHif{"a":1}'
