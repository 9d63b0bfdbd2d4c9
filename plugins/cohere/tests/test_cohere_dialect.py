"""The ``cohere.chat`` and ``cohere.embed`` dialects: peek, errors, usage, the stream counter, estimates."""

from __future__ import annotations

import json

import pytest
from cohere_helpers import cohere_events

from newapi_cohere import dialect, embed
from newapi_host.sdk import InvalidRequest, SSEEvent, Usage

USAGE = {
    "billed_units": {"input_tokens": 12, "output_tokens": 7},
    "tokens": {"input_tokens": 212, "output_tokens": 7},
    "cached_tokens": 100,
}


def test_the_dialects_have_no_ingress_routes():
    assert dialect.DIALECT.routes == () and embed.DIALECT.routes == ()
    assert (dialect.DIALECT.name, embed.DIALECT.name) == ("cohere.chat", "cohere.embed")


def test_peek_reads_model_stream_and_max_tokens():
    body = {"model": " command-a-03-2025 ", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    p = dialect.peek(json.dumps({**body, "max_tokens": 300}).encode(), {})
    assert (p.model, p.stream, p.max_tokens, p.n) == ("command-a-03-2025", True, 300, 1)
    assert dialect.peek(json.dumps({**body, "stream": False}).encode(), {}).max_tokens is None


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "empty"),
        (b"{nope", "not valid JSON"),
        (b'{"messages": [{"role": "user"}]}', "model is required"),
        (b'{"model": "m", "messages": []}', "messages"),
        (b'{"model": "m", "messages": [{}], "stream": "yes"}', "$.stream"),
        (b'{"model": "m", "messages": [{}], "max_tokens": 0}', "max_tokens"),
    ],
)
def test_peek_refuses_bad_bodies(body, fragment):
    with pytest.raises(InvalidRequest) as err:
        dialect.peek(body, {})
    assert fragment in err.value.message


def test_error_body_is_cohere_shaped():
    assert json.loads(dialect.error_body(429, "slow down", "rate_limit", None)) == {"message": "slow down"}


def test_usage_bills_billed_units_not_the_token_count():
    body = json.dumps({"id": "x", "message": {"role": "assistant"}, "usage": USAGE}).encode()
    assert dialect.response_usage(body) == Usage(prompt_tokens=12, completion_tokens=7)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"tokens": {"input_tokens": 30, "output_tokens": 4}}, Usage(prompt_tokens=30, completion_tokens=4)),
        ({"billed_units": {"input_tokens": 5.0, "output_tokens": 2.0}}, Usage(prompt_tokens=5, completion_tokens=2)),
        ({"billed_units": {"search_units": 1}, "tokens": {"input_tokens": 9}}, Usage(prompt_tokens=9)),
        ({"billed_units": {"input_tokens": -3, "output_tokens": "7"}}, Usage()),
        ({}, None),
        (None, None),
    ],
)
def test_usage_falls_back_to_tokens_and_reads_numbers_only(usage, expected):
    assert dialect.response_usage(json.dumps({"usage": usage}).encode()) == expected


def test_usage_of_a_body_that_is_not_json_is_an_error():
    with pytest.raises(ValueError, match="not JSON"):
        dialect.response_usage(b"<html>")
    assert dialect.response_usage(b"[1, 2]") is None


TEXT_STREAM = [
    {"type": "message-start", "id": "m1", "delta": {"message": {"role": "assistant"}}},
    {"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}},
    {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hello"}}}},
    {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": " there"}}}},
    {"type": "content-end", "index": 0},
    {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": USAGE}},
]


def test_stream_counter_finishes_at_message_end_with_its_usage():
    counter = dialect.stream_usage()
    events = cohere_events(TEXT_STREAM)
    for event in events[:-1]:
        assert counter.feed(event) is False
    assert not counter.finished and counter.result() is None
    assert counter.output_text() == (0, "Hello there")
    assert counter.feed(events[-1]) is False  # it also carries the finish reason: never withheld
    assert counter.finished and counter.result() == Usage(prompt_tokens=12, completion_tokens=7)
    assert counter.feed(SSEEvent(data="[DONE]")) is False


def test_stream_counter_keeps_tool_and_thinking_text_for_estimates():
    counter = dialect.stream_usage()
    for event in cohere_events(
        [
            {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"thinking": "hmm "}}}},
            {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will call f. "}}},
            {
                "type": "tool-call-start",
                "index": 0,
                "delta": {"message": {"tool_calls": {"id": "f_1", "function": {"name": "f", "arguments": "{"}}}},
            },
            {
                "type": "tool-call-delta",
                "index": 0,
                "delta": {"message": {"tool_calls": {"function": {"arguments": "}"}}}},
            },
            {"type": "message-end", "delta": {"finish_reason": "TOOL_CALL"}},
        ]
    ):
        counter.feed(event)
    assert counter.output_text() == (0, "hmm I will call f. f{}")
    assert counter.finished and counter.result() is None  # no usage: the host estimates from the text


def test_stream_counter_memory_stays_flat():
    counter = dialect.CohereStreamCounter(lambda text: len(text) // 4)
    delta = SSEEvent(data=json.dumps(TEXT_STREAM[2] | {"delta": {"message": {"content": {"text": "x" * 1000}}}}))
    for _ in range(1000):  # a million characters
        counter.feed(delta)
    counted, pending = counter.output_text()
    assert counted > 200_000 and len(pending) <= 64 * 1024 + 1000


def test_stream_counter_refuses_garbage_and_reports_upstream_errors():
    with pytest.raises(ValueError, match="not JSON"):
        dialect.stream_usage().feed(SSEEvent(data="{oops"))
    with pytest.raises(ValueError, match="not a JSON object"):
        dialect.stream_usage().feed(SSEEvent(data="[1]"))
    counter = dialect.stream_usage()
    failed = {"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "overloaded", "usage": USAGE}}
    with pytest.raises(ValueError, match="overloaded"):
        counter.feed(cohere_events([failed])[0])
    assert counter.finished and counter.result() == Usage(prompt_tokens=12, completion_tokens=7)  # still billed


def test_stream_counter_reads_the_event_name_when_the_payload_has_no_type():
    counter = dialect.stream_usage()
    counter.feed(SSEEvent(data=json.dumps({"delta": {"usage": USAGE}}), event="message-end"))
    assert counter.finished and counter.result().prompt_tokens == 12


def test_response_text_and_prompt_estimate():
    response = {
        "message": {
            "content": [{"type": "thinking", "thinking": "Think. "}, {"type": "text", "text": "Answer."}],
            "tool_plan": " Plan.",
            "tool_calls": [{"id": "1", "function": {"name": "f", "arguments": "{}"}}],
        }
    }
    assert dialect.response_text(json.dumps(response).encode()) == "Think. Answer. Plan.f{}"
    assert dialect.response_text(b"nope") == ""
    request = {"model": "command-a-03-2025", "messages": [{"role": "user", "content": "one two three four five"}]}
    small = dialect.estimate_prompt(json.dumps(request).encode(), "command-a-03-2025")
    request["messages"].append({"role": "user", "content": [{"type": "text", "text": "six seven eight nine " * 10}]})
    assert 5 < small < dialect.estimate_prompt(json.dumps(request).encode(), "command-a-03-2025")


# -- cohere.embed -----------------------------------------------------------------------------


def test_embed_peek_and_usage():
    assert embed.peek(b'{"model": "embed-v4.0", "texts": ["a"]}', {}).model == "embed-v4.0"
    for bad, fragment in (
        (b'{"texts": ["a"]}', "model"),
        (b'{"model": "e", "texts": [1]}', "texts"),
        (b'{"model": "e"}', "one of texts"),
    ):
        with pytest.raises(InvalidRequest, match=fragment):
            embed.peek(bad, {})
    answer = {"meta": {"billed_units": {"input_tokens": 40}, "tokens": {"input_tokens": 42}}}
    assert embed.response_usage(json.dumps(answer).encode()) == Usage(prompt_tokens=40)
    assert embed.response_usage(b'{"meta": {"tokens": {"input_tokens": 42}}}') == Usage(prompt_tokens=42)
    assert embed.response_usage(b'{"embeddings": {}}') is None
    with pytest.raises(ValueError):
        embed.response_usage(b"oops")
    assert embed.estimate_prompt(b'{"texts": ["one two", "three"]}', "embed-v4.0") >= 3
