"""Golden tests: a Claude Messages client on an OpenAI Chat upstream (claude.messages -> openai.chat)."""

from __future__ import annotations

import anthropic
import pytest
from claude_sdk_helpers import anthropic_final_message, decoded, openai_events, run

from newapi_claude.claude_via_chat import CONVERTER, convert_request, convert_response, effort_for_budget, stream
from newapi_host.sdk import ConvertContext

CTX = ConvertContext(model="claude-sonnet-4-5", stream=True)
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TIME_SCHEMA = {"type": "object", "properties": {"tz": {"type": "string"}}}


def test_converter_direction():
    assert (CONVERTER.source, CONVERTER.target) == ("claude.messages", "openai.chat")


# -- request -----------------------------------------------------------------------------------


def test_request_golden():
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": [
            {"type": "text", "text": "You are terse."},
            {"type": "text", "text": "Answer in English.", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe this."},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "QUJD"}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {"tz": "Europe/Paris"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_2",
                        "content": [{"type": "text", "text": "unknown tz"}],
                        "is_error": True,
                    },
                    {"type": "text", "text": "Thanks"},
                ],
            },
            {"role": "assistant", "content": "Paris is 18C."},
        ],
        "tools": [
            {"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA},
            {"name": "get_time", "input_schema": TIME_SCHEMA},
            {"type": "web_search_20250305", "name": "web_search"},
        ],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 40,
        "stop_sequences": ["END"],
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "metadata": {"user_id": "u-1"},
    }
    assert convert_request(body, CTX) == {
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "system", "content": "You are terse.\nAnswer in English."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe this."},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                ],
            },
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    },
                    {
                        "id": "toolu_2",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": '{"tz":"Europe/Paris"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: unknown tz"},
            {"role": "user", "content": "Thanks"},
            {"role": "assistant", "content": "Paris is 18C."},
        ],
        "max_tokens": 1024,
        "temperature": 0.5,
        "top_p": 0.9,
        "stop": ["END"],
        "tools": [
            {
                "type": "function",
                "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA},
            },
            {"type": "function", "function": {"name": "get_time", "parameters": TIME_SCHEMA}},
        ],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "reasoning_effort": "medium",
        "user": "u-1",
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_request_minimal_string_content_and_no_stream():
    body = {
        "model": "m",
        "max_tokens": 10,
        "system": "Be nice.",
        "messages": [{"role": "user", "content": "Hello"}],
    }
    assert convert_request(body, CTX) == {
        "model": "m",
        "messages": [{"role": "system", "content": "Be nice."}, {"role": "user", "content": "Hello"}],
        "max_tokens": 10,
    }


def test_request_tool_result_with_image_goes_to_user_turn():
    body = {
        "model": "m",
        "max_tokens": 10,
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [
                            {"type": "text", "text": "screenshot:"},
                            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA"}},
                        ],
                    }
                ],
            }
        ],
    }
    assert convert_request(body, CTX)["messages"] == [
        {"role": "tool", "tool_call_id": "t1", "content": "screenshot:"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]},
    ]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "get_weather"}, {"type": "function", "function": {"name": "get_weather"}}),
    ],
)
def test_request_tool_choice(choice, expected):
    body = {
        "model": "m",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"name": "get_weather", "input_schema": WEATHER_SCHEMA}],
        "tool_choice": choice,
    }
    out = convert_request(body, CTX)
    assert out["tool_choice"] == expected
    assert "parallel_tool_calls" not in out


@pytest.mark.parametrize(
    ("budget", "effort"),
    [(1024, "low"), (1280, "low"), (1281, "medium"), (2048, "medium"), (2049, "high"), (32000, "high")],
)
def test_thinking_budget_to_effort(budget, effort):
    assert effort_for_budget(budget) == effort
    body = {"model": "m", "max_tokens": 40000, "messages": [], "thinking": {"type": "enabled", "budget_tokens": budget}}
    assert convert_request(body, CTX)["reasoning_effort"] == effort


def test_thinking_disabled_sends_no_effort():
    body = {"model": "m", "max_tokens": 10, "messages": [], "thinking": {"type": "disabled"}}
    assert "reasoning_effort" not in convert_request(body, CTX)


# -- response ----------------------------------------------------------------------------------


def completion(message: dict, finish: str | None, usage: dict | None = None) -> dict:
    return {
        "id": "chatcmpl-abc",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage or {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }


def test_response_golden_thinking_then_tools_with_cache():
    body = completion(
        {
            "role": "assistant",
            "content": "Checking.",
            "reasoning_content": "Need the weather.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}},
            ],
        },
        "tool_calls",
        {
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "total_tokens": 120,
            "prompt_tokens_details": {"cached_tokens": 60},
        },
    )
    expected = {
        "id": "msg_abc",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "Need the weather.", "signature": ""},
            {"type": "text", "text": "Checking."},
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 40,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 60,
            "output_tokens": 20,
        },
    }
    out = convert_response(body, CTX)
    assert out == expected
    anthropic.types.Message.model_validate(out)


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("content_filter", "refusal")],
)
def test_response_stop_reasons(finish, stop_reason):
    out = convert_response(completion({"role": "assistant", "content": "x"}, finish), CTX)
    assert out["stop_reason"] == stop_reason
    anthropic.types.Message.model_validate(out)


def test_response_tool_calls_with_stop_finish_is_tool_use():
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    out = convert_response(completion(message, "stop"), CTX)
    assert out["stop_reason"] == "tool_use"
    assert out["content"] == [{"type": "tool_use", "id": "c", "name": "f", "input": {}}]


@pytest.mark.parametrize("content", [None, ""])
def test_response_empty_content(content):
    out = convert_response(completion({"role": "assistant", "content": content}, "stop"), CTX)
    assert out["content"] == []
    assert out["stop_reason"] == "end_turn"
    anthropic.types.Message.model_validate(out)


# -- stream ------------------------------------------------------------------------------------

BASE = {"id": "chatcmpl-s1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x"}


def chunk(delta: dict, finish: str | None = None) -> dict:
    return {**BASE, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def usage_chunk(prompt: int, completion_tokens: int, cached: int = 0) -> dict:
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached},
    }
    return {**BASE, "choices": [], "usage": usage}


def call(index: int, arguments: str, call_id: str | None = None, name: str | None = None) -> dict:
    entry: dict = {"index": index, "function": {"arguments": arguments}}
    if call_id:
        entry["id"], entry["type"] = call_id, "function"
        entry["function"]["name"] = name
    return {"tool_calls": [entry]}


MESSAGE_START = (
    "message_start",
    {
        "type": "message_start",
        "message": {
            "id": "msg_s1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        },
    },
)


def block_start(index: int, block: dict) -> tuple:
    return ("content_block_start", {"type": "content_block_start", "index": index, "content_block": block})


def block_delta(index: int, delta: dict) -> tuple:
    return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


def block_stop(index: int) -> tuple:
    return ("content_block_stop", {"type": "content_block_stop", "index": index})


def message_end(stop_reason: str, usage: dict) -> list[tuple]:
    return [
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": usage},
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


STREAM_THINKING_TEXT_TWO_TOOLS = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"reasoning_content": "Think"}),
    chunk({"reasoning_content": "ing."}),
    chunk({"content": "Hi"}),
    chunk(call(0, "", "call_a", "get_weather")),
    chunk(call(0, '{"city":')),
    chunk(call(0, '"Paris"}')),
    chunk(call(1, '{"tz"', "call_b", "get_time")),
    chunk(call(1, ':"CET"}')),
    chunk({}, "tool_calls"),
    usage_chunk(50, 30, cached=20),
    "[DONE]",
]


def test_stream_golden_thinking_text_and_parallel_tool_calls():
    out = run(stream(CTX), openai_events(STREAM_THINKING_TEXT_TWO_TOOLS))
    assert decoded(out) == [
        MESSAGE_START,
        block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        block_delta(0, {"type": "thinking_delta", "thinking": "Think"}),
        block_delta(0, {"type": "thinking_delta", "thinking": "ing."}),
        block_stop(0),
        block_start(1, {"type": "text", "text": ""}),
        block_delta(1, {"type": "text_delta", "text": "Hi"}),
        block_stop(1),
        block_start(2, {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {}}),
        block_delta(2, {"type": "input_json_delta", "partial_json": '{"city":'}),
        block_delta(2, {"type": "input_json_delta", "partial_json": '"Paris"}'}),
        block_stop(2),
        block_start(3, {"type": "tool_use", "id": "call_b", "name": "get_time", "input": {}}),
        block_delta(3, {"type": "input_json_delta", "partial_json": '{"tz"'}),
        block_delta(3, {"type": "input_json_delta", "partial_json": ':"CET"}'}),
        block_stop(3),
        *message_end(
            "tool_use",
            {"input_tokens": 30, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 20, "output_tokens": 30},
        ),
    ]


def test_stream_through_anthropic_sdk():
    message = anthropic_final_message(run(stream(CTX), openai_events(STREAM_THINKING_TEXT_TWO_TOOLS)))
    assert [b.type for b in message.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert message.content[0].thinking == "Thinking."
    assert message.content[1].text == "Hi"
    assert (message.content[2].id, message.content[2].input) == ("call_a", {"city": "Paris"})
    assert (message.content[3].name, message.content[3].input) == ("get_time", {"tz": "CET"})
    assert message.stop_reason == "tool_use"
    assert message.model == "claude-sonnet-4-5"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens, message.usage.output_tokens) == (
        30,
        20,
        30,
    )


def test_stream_text_only_with_stop():
    chunks = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hello"}),
        chunk({"content": " world"}),
        chunk({}, "stop"),
        usage_chunk(9, 2),
        "[DONE]",
    ]
    out = run(stream(CTX), openai_events(chunks))
    assert decoded(out) == [
        MESSAGE_START,
        block_start(0, {"type": "text", "text": ""}),
        block_delta(0, {"type": "text_delta", "text": "Hello"}),
        block_delta(0, {"type": "text_delta", "text": " world"}),
        block_stop(0),
        *message_end(
            "end_turn",
            {"input_tokens": 9, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 2},
        ),
    ]
    assert anthropic_final_message(out).content[0].text == "Hello world"


@pytest.mark.parametrize(
    ("finish", "stop_reason"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal"), ("tool_calls", "tool_use")],
)
def test_stream_stop_reasons(finish, stop_reason):
    out = run(stream(CTX), openai_events([chunk({"content": "x"}), chunk({}, finish), usage_chunk(1, 1), "[DONE]"]))
    assert decoded(out)[-2][1]["delta"]["stop_reason"] == stop_reason


def test_stream_empty_answer():
    out = run(
        stream(CTX), openai_events([chunk({"role": "assistant", "content": ""}), chunk({}, "stop"), usage_chunk(3, 0)])
    )
    assert decoded(out) == [
        MESSAGE_START,
        *message_end(
            "end_turn",
            {"input_tokens": 3, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0},
        ),
    ]
    assert anthropic_final_message(out).content == []


def test_stream_without_usage_chunk_closes_at_finish():
    out = run(stream(CTX), openai_events([chunk({"content": "a"}), chunk({}, "stop"), "[DONE]"]))
    assert decoded(out) == [
        MESSAGE_START,
        block_start(0, {"type": "text", "text": ""}),
        block_delta(0, {"type": "text_delta", "text": "a"}),
        block_stop(0),
        *message_end("end_turn", {"output_tokens": 0}),
    ]


def test_stream_ignores_events_after_message_stop():
    converter = stream(CTX)
    run(converter, openai_events([chunk({}, "stop"), usage_chunk(1, 1)]))
    assert converter.feed(openai_events(["[DONE]"])[0]) == []
    assert converter.feed(openai_events([usage_chunk(1, 1)])[0]) == []


def test_stream_cut_off_only_closes_the_block():
    out = run(stream(CTX), openai_events([chunk({"content": "partial"})]))
    assert decoded(out)[-1] == block_stop(0)
    assert all(name != "message_stop" for name, _ in decoded(out))


def test_stream_interleaved_tool_fragments_keep_their_index():
    chunks = [
        chunk(call(0, '{"a":', "call_a", "f")),
        chunk(call(1, '{"b":1}', "call_b", "g")),
        chunk(call(0, "1}")),
        chunk({}, "tool_calls"),
        usage_chunk(1, 1),
    ]
    events = decoded(run(stream(CTX), openai_events(chunks)))
    deltas = [(p["index"], p["delta"]["partial_json"]) for name, p in events if name == "content_block_delta"]
    assert deltas == [(0, '{"a":'), (1, '{"b":1}'), (0, "1}")]
    message = anthropic_final_message(run(stream(CTX), openai_events(chunks)))
    assert [b.input for b in message.content] == [{"a": 1}, {"b": 1}]


def test_stream_upstream_error_chunk_becomes_error_event():
    out = run(
        stream(CTX), openai_events([chunk({"content": "a"}), {"error": {"message": "boom", "type": "server_error"}}])
    )
    assert decoded(out)[-1] == ("error", {"type": "error", "error": {"type": "api_error", "message": "boom"}})


def test_stream_malformed_event_raises():
    with pytest.raises(ValueError):
        stream(CTX).feed(openai_events(["{not json"])[0])
