"""Golden tests: an OpenAI Chat client on a Claude upstream (openai.chat -> claude.messages)."""

from __future__ import annotations

import openai
import pytest
from claude_sdk_helpers import claude_events, decoded, openai_chunks, openai_final_completion, run
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from newapi_claude.chat_via_claude import CONVERTER, convert_request, convert_response, stream
from newapi_host.sdk import ConvertContext, SSEEvent

CTX = ConvertContext(model="claude-sonnet-4-5", stream=True)
THINK_CTX = ConvertContext(model="claude-sonnet-4-5", stream=True, options={"thinking_to_content": True})
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


def test_converter_direction():
    assert (CONVERTER.source, CONVERTER.target) == ("openai.chat", "claude.messages")


# -- request -----------------------------------------------------------------------------------


def test_request_golden():
    body = {
        "model": "claude-sonnet-4-5",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather and time?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg", "detail": "high"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "12:00"}]},
            {"role": "assistant", "content": "It is 18C at noon."},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER_SCHEMA},
            },
            {"type": "function", "function": {"name": "get_time", "parameters": {}}},
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "max_completion_tokens": 1000,
        "temperature": 1.5,
        "top_p": 0.8,
        "stop": "END",
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "u-9",
    }
    assert convert_request(body, CTX) == {
        "model": "claude-sonnet-4-5",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather and time?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
                    {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "12:00"}]},
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "It is 18C at noon."}]},
            {"role": "user", "content": [{"type": "text", "text": "Thanks"}]},
        ],
        "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use metric units."}],
        "max_tokens": 1000,
        "temperature": 1.0,
        "top_p": 0.8,
        "stop_sequences": ["END"],
        "tools": [
            {"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA},
            {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
        ],
        "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        "metadata": {"user_id": "u-9"},
        "stream": True,
    }


def test_request_defaults_and_fillers():
    body = {
        "model": "m",
        "messages": [{"role": "assistant", "content": "Hi, how can I help?"}, {"role": "user", "content": ""}],
    }
    assert convert_request(body, CTX) == {
        "model": "m",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "..."}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Hi, how can I help?"}]},
            {"role": "user", "content": [{"type": "text", "text": "..."}]},
        ],
        "max_tokens": 8192,
    }


def test_request_pdf_and_stop_list():
    body = {
        "model": "m",
        "max_tokens": 50,
        "stop": ["a", "b"],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "file", "file": {"filename": "x.pdf", "file_data": "data:application/pdf;base64,JVBE"}}
                ],
            }
        ],
    }
    out = convert_request(body, CTX)
    assert out["stop_sequences"] == ["a", "b"]
    assert out["messages"][0]["content"] == [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}}
    ]


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("required", None, {"type": "any"}),
        ("none", None, {"type": "none"}),
        ("none", False, {"type": "none"}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        ("required", True, {"type": "any", "disable_parallel_tool_use": False}),
    ],
)
def test_request_tool_choice(choice, parallel, expected):
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": WEATHER_SCHEMA}}],
    }
    if choice is not None:
        body["tool_choice"] = choice
    if parallel is not None:
        body["parallel_tool_calls"] = parallel
    assert convert_request(body, CTX)["tool_choice"] == expected


@pytest.mark.parametrize(
    ("effort", "max_tokens", "budget", "expected_max"),
    [("low", None, 1280, 8192), ("medium", 4000, 2048, 4000), ("high", 1000, 4096, 5096)],
)
def test_request_reasoning_effort(effort, max_tokens, budget, expected_max):
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "reasoning_effort": effort,
        "temperature": 0.2,
    }
    if max_tokens:
        body["max_tokens"] = max_tokens
    out = convert_request(body, CTX)
    assert out["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert out["max_tokens"] == expected_max
    assert out["max_tokens"] > budget
    assert "temperature" not in out


# -- response ----------------------------------------------------------------------------------


def claude_message(content: list, stop_reason: str, usage: dict | None = None) -> dict:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 3, "output_tokens": 1},
    }


THINKING_TOOL_MESSAGE = claude_message(
    [
        {"type": "thinking", "thinking": "Let me think.", "signature": "abc"},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}},
    ],
    "tool_use",
    {"input_tokens": 10, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 100, "output_tokens": 40},
)


def test_response_golden_thinking_then_tools_with_cache():
    out = convert_response(THINKING_TOOL_MESSAGE, CTX)
    assert isinstance(out["created"], int)
    assert out == {
        "id": "chatcmpl-01",
        "object": "chat.completion",
        "created": out["created"],
        "model": "claude-sonnet-4-5",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "reasoning_content": "Let me think.",
                    "content": "Checking.",
                    "tool_calls": [
                        {
                            "id": "toolu_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        },
                        {"id": "toolu_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
                    ],
                },
                "finish_reason": "tool_calls",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": 115,
            "completion_tokens": 40,
            "total_tokens": 155,
            "prompt_tokens_details": {"cached_tokens": 100},
        },
    }
    ChatCompletion.model_validate(out)


def test_response_thinking_to_content():
    out = convert_response(THINKING_TOOL_MESSAGE, THINK_CTX)
    message = out["choices"][0]["message"]
    assert message["content"] == "<think>\nLet me think.\n</think>\nChecking."
    assert "reasoning_content" not in message


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
def test_response_stop_reasons(stop_reason, finish):
    out = convert_response(claude_message([{"type": "text", "text": "x"}], stop_reason), CTX)
    assert out["choices"][0]["finish_reason"] == finish
    ChatCompletion.model_validate(out)


def test_response_empty_content():
    out = convert_response(claude_message([], "end_turn", {"input_tokens": 4, "output_tokens": 0}), CTX)
    assert out["choices"][0]["message"] == {"role": "assistant", "content": ""}
    assert out["usage"] == {
        "prompt_tokens": 4,
        "completion_tokens": 0,
        "total_tokens": 4,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    ChatCompletion.model_validate(out)


def test_response_tool_only_has_null_content():
    content = [{"type": "tool_use", "id": "t", "name": "f", "input": {"x": [1, 2]}}]
    message = convert_response(claude_message(content, "tool_use"), CTX)["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"][0]["function"]["arguments"] == '{"x":[1,2]}'


# -- stream ------------------------------------------------------------------------------------


def start(usage: dict) -> dict:
    message = {
        "id": "msg_s",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    return {"type": "message_start", "message": message}


def block_start(index: int, block: dict) -> dict:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, value: dict) -> dict:
    return {"type": "content_block_delta", "index": index, "delta": value}


def stop(index: int) -> dict:
    return {"type": "content_block_stop", "index": index}


def message_delta(stop_reason: str, usage: dict) -> dict:
    return {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": usage}


def json_delta(index: int, fragment: str) -> dict:
    return delta(index, {"type": "input_json_delta", "partial_json": fragment})


THINKING_TEXT_TWO_TOOLS = [
    start({"input_tokens": 12, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 30, "output_tokens": 1}),
    {"type": "ping"},
    block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
    delta(0, {"type": "thinking_delta", "thinking": "Plan"}),
    delta(0, {"type": "signature_delta", "signature": "sig"}),
    stop(0),
    block_start(1, {"type": "text", "text": ""}),
    delta(1, {"type": "text_delta", "text": "Sure."}),
    stop(1),
    block_start(2, {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}}),
    json_delta(2, ""),
    json_delta(2, '{"city":'),
    json_delta(2, '"Paris"}'),
    stop(2),
    block_start(3, {"type": "tool_use", "id": "toolu_b", "name": "get_time", "input": {}}),
    json_delta(3, "{}"),
    stop(3),
    message_delta("tool_use", {"output_tokens": 42}),
    {"type": "message_stop"},
]


def chunk(delta_: dict, finish: str | None = None) -> tuple:
    return (
        None,
        {
            "id": "chatcmpl-s",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "claude-sonnet-4-5",
            "choices": [{"index": 0, "delta": delta_, "logprobs": None, "finish_reason": finish}],
        },
    )


def usage_chunk(prompt: int, completion: int, cached: int) -> tuple:
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }
    payload = {
        "id": "chatcmpl-s",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "claude-sonnet-4-5",
        "choices": [],
        "usage": usage,
    }
    return (None, payload)


def tool_start(index: int, call_id: str, name: str) -> dict:
    return {
        "tool_calls": [{"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}]
    }


def tool_args(index: int, fragment: str) -> dict:
    return {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}


def normalised(events) -> list:
    """Decoded events with ``created`` zeroed (it is the wall clock)."""
    out = []
    for name, payload in decoded(events):
        if isinstance(payload, dict) and "created" in payload:
            payload["created"] = 0
        out.append((name, payload))
    return out


def test_stream_golden_thinking_text_and_parallel_tool_calls():
    out = run(stream(CTX), claude_events(THINKING_TEXT_TWO_TOOLS))
    assert normalised(out) == [
        chunk({"role": "assistant", "content": ""}),
        chunk({"reasoning_content": "Plan"}),
        chunk({"content": "Sure."}),
        chunk(tool_start(0, "toolu_a", "get_weather")),
        chunk(tool_args(0, '{"city":')),
        chunk(tool_args(0, '"Paris"}')),
        chunk(tool_start(1, "toolu_b", "get_time")),
        chunk(tool_args(1, "{}")),
        chunk({}, "tool_calls"),
        usage_chunk(42, 42, 30),
        (None, "[DONE]"),
    ]
    for _name, payload in decoded(out)[:-1]:
        ChatCompletionChunk.model_validate(payload)


def test_stream_through_openai_sdk():
    events = run(stream(CTX), claude_events(THINKING_TEXT_TWO_TOOLS))
    chunks = openai_chunks(events)
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 42
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == 30
    final = openai_final_completion(events)
    message = final.choices[0].message
    assert message.content == "Sure."
    assert [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls] == [
        ("toolu_a", "get_weather", '{"city":"Paris"}'),
        ("toolu_b", "get_time", "{}"),
    ]
    assert final.choices[0].finish_reason == "tool_calls"
    assert final.usage.completion_tokens == 42


def test_stream_thinking_to_content():
    events = [
        start({"input_tokens": 5, "output_tokens": 1}),
        block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "Hmm"}),
        delta(0, {"type": "thinking_delta", "thinking": " ok"}),
        stop(0),
        block_start(1, {"type": "text", "text": ""}),
        delta(1, {"type": "text_delta", "text": "Answer"}),
        stop(1),
        message_delta("end_turn", {"output_tokens": 7}),
        {"type": "message_stop"},
    ]
    out = normalised(run(stream(THINK_CTX), claude_events(events)))
    assert out == [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "<think>\nHmm"}),
        chunk({"content": " ok"}),
        chunk({"content": "\n</think>\n"}),
        chunk({"content": "Answer"}),
        chunk({}, "stop"),
        usage_chunk(5, 7, 0),
        (None, "[DONE]"),
    ]


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
def test_stream_stop_reasons(stop_reason, finish):
    events = [
        start({"input_tokens": 1, "output_tokens": 1}),
        message_delta(stop_reason, {"output_tokens": 2}),
        {"type": "message_stop"},
    ]
    out = normalised(run(stream(CTX), claude_events(events)))
    assert out[-3] == chunk({}, finish)


def test_stream_empty_answer_and_cache_usage_from_message_delta():
    # Some upstreams report input and cache counts only in message_delta.
    events = [
        start({"input_tokens": 0, "output_tokens": 0}),
        message_delta(
            "end_turn",
            {"input_tokens": 8, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 20, "output_tokens": 0},
        ),
        {"type": "message_stop"},
    ]
    assert normalised(run(stream(CTX), claude_events(events))) == [
        chunk({"role": "assistant", "content": ""}),
        chunk({}, "stop"),
        usage_chunk(128, 0, 100),
        (None, "[DONE]"),
    ]


def test_stream_missing_message_stop_is_completed_by_finish():
    events = [start({"input_tokens": 1, "output_tokens": 1}), message_delta("end_turn", {"output_tokens": 3})]
    out = normalised(run(stream(CTX), claude_events(events)))
    assert out[-2:] == [usage_chunk(1, 3, 0), (None, "[DONE]")]


def test_stream_cut_off_emits_nothing_more():
    converter = stream(CTX)
    run(converter, claude_events([start({"input_tokens": 1, "output_tokens": 1})]))
    assert converter.finish() == []


def test_stream_error_event_becomes_openai_error_chunk():
    events = [
        start({"input_tokens": 1, "output_tokens": 1}),
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    ]
    out = decoded(run(stream(CTX), claude_events(events)))
    assert out[-1] == (
        None,
        {"error": {"message": "Overloaded", "type": "overloaded_error", "param": None, "code": None}},
    )
    with pytest.raises(openai.APIError, match="Overloaded"):
        openai_chunks(run(stream(CTX), claude_events(events)))


def test_stream_malformed_event_raises():
    with pytest.raises(ValueError):
        stream(CTX).feed(SSEEvent(data="{oops", event="ping"))
