"""OpenAI chat <-> Cohere v2 chat: requests, full responses, streams, tool calls both ways."""

from __future__ import annotations

import json

import pytest
from cohere_helpers import cohere_events, openai_final_completion, payloads, run
from openai.types.chat import ChatCompletion

from newapi_cohere.chat_via_cohere import CONVERTER, CohereToChatStream, convert_request, convert_response
from newapi_host.sdk import ConvertContext, InvalidRequest, SSEEvent

CTX = ConvertContext(model="command-a-03-2025")
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def test_the_converter_goes_from_openai_chat_to_cohere_chat():
    assert (CONVERTER.source, CONVERTER.target) == ("openai.chat", "cohere.chat")


# -- requests ----------------------------------------------------------------------------------


def test_request_messages_and_parameters():
    body = {
        "model": "command-a-03-2025",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "system", "content": [{"type": "text", "text": "Speak French."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
                ],
            },
            {"role": "assistant", "content": "A square."},
            {"role": "user", "content": "Thanks"},
        ],
        "max_completion_tokens": 200,
        "max_tokens": 50,
        "temperature": 0.4,
        "top_p": 1,
        "frequency_penalty": -1,
        "presence_penalty": 0.5,
        "seed": 7,
        "stop": "END",
        "user": "u-1",
        "stream_options": {"include_usage": True},
        "stream": True,
    }
    assert convert_request(body, CTX) == {
        "model": "command-a-03-2025",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "system", "content": [{"type": "text", "text": "Speak French."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
                ],
            },
            {"role": "assistant", "content": "A square."},
            {"role": "user", "content": "Thanks"},
        ],
        "max_tokens": 200,
        "temperature": 0.4,
        "p": 0.99,
        "frequency_penalty": 0.0,
        "presence_penalty": 0.5,
        "seed": 7,
        "stop_sequences": ["END"],
        "stream": True,
    }


def test_request_tool_round_trip_history():
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": "I will look it up.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "Sunny"}]},
            {"role": "assistant", "content": None, "function_call": {"name": "legacy", "arguments": {"a": 1}}},
            {"role": "function", "name": "legacy", "content": "done"},
        ],
        "tools": [TOOL, {"type": "web_search"}],
    }
    out = convert_request(body, CTX)
    assert out["messages"][1:] == [
        {
            "role": "assistant",
            "tool_plan": "I will look it up.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "Sunny"}]},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "legacy", "type": "function", "function": {"name": "legacy", "arguments": '{"a":1}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "legacy", "content": "done"},
    ]
    assert out["tools"] == [TOOL]  # Cohere's tool shape is OpenAI's; hosted tools do not exist there
    assert "tool_choice" not in out


@pytest.mark.parametrize(
    ("choice", "expected", "tools"),
    [
        ("auto", None, ["get_weather", "other"]),
        ("required", "REQUIRED", ["get_weather", "other"]),
        ("none", "NONE", ["get_weather", "other"]),
        ({"type": "function", "function": {"name": "other"}}, "REQUIRED", ["other"]),
    ],
)
def test_request_tool_choice(choice, expected, tools):
    other = {"type": "function", "function": {"name": "other"}}
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [TOOL, other], "tool_choice": choice}
    out = convert_request(body, CTX)
    assert out.get("tool_choice") == expected
    assert [t["function"]["name"] for t in out["tools"]] == tools
    assert out["tools"][-1]["function"]["parameters"] == (
        {"type": "object", "properties": {}} if tools[-1] == "other" else TOOL["function"]["parameters"]
    )


def test_request_legacy_functions_and_a_named_tool_that_is_missing():
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "functions": [TOOL["function"]]}
    assert convert_request(body, CTX)["tools"] == [TOOL]
    body["tool_choice"] = {"type": "function", "function": {"name": "nope"}}
    with pytest.raises(InvalidRequest, match="nope"):
        convert_request(body, CTX)


@pytest.mark.parametrize(
    ("effort", "thinking"), [("none", "disabled"), ("minimal", "disabled"), ("low", "enabled"), ("high", "enabled")]
)
def test_request_reasoning_effort_switches_thinking(effort, thinking):
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": effort}
    assert convert_request(body, CTX)["thinking"] == {"type": thinking}


def test_request_response_format():
    base = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    wanted = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    assert convert_request({**base, "response_format": wanted}, CTX)["response_format"] == {
        "type": "json_object",
        "json_schema": schema,
    }
    assert convert_request({**base, "response_format": {"type": "json_object"}}, CTX)["response_format"] == {
        "type": "json_object"
    }
    assert "response_format" not in convert_request({**base, "response_format": {"type": "text"}}, CTX)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"messages": [{"role": "user", "content": "x"}], "n": 2}, "n must be 1"),
        ({"messages": []}, "non-empty"),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]}, "input_audio"),
        (
            {"messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}]},
            "image_url",
        ),
        ({"messages": [{"role": "critic", "content": "x"}]}, "critic"),
        ({"messages": [{"role": "assistant", "tool_calls": [{"id": "1"}]}]}, "function name"),
    ],
)
def test_request_refuses_what_cohere_cannot_take(body, fragment):
    with pytest.raises(InvalidRequest, match=fragment):
        convert_request({"model": "m", **body}, CTX)


# -- responses ---------------------------------------------------------------------------------

USAGE = {"billed_units": {"input_tokens": 10, "output_tokens": 4}, "tokens": {"input_tokens": 210, "output_tokens": 4}}


def test_response_text_with_thinking_and_usage():
    body = {
        "id": "abc",
        "finish_reason": "MAX_TOKENS",
        "message": {
            "role": "assistant",
            "content": [{"type": "thinking", "thinking": "Let me see."}, {"type": "text", "text": "Forty-two."}],
        },
        "usage": USAGE,
    }
    out = convert_response(body, CTX)
    ChatCompletion.model_validate(out)
    assert out["id"] == "chatcmpl-abc" and out["model"] == "command-a-03-2025"
    choice = out["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"] == {"role": "assistant", "reasoning_content": "Let me see.", "content": "Forty-two."}
    assert out["usage"] == {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}
    think = ConvertContext(model="m", options={"thinking_to_content": True})
    assert convert_response(body, think)["choices"][0]["message"] == {
        "role": "assistant",
        "content": "<think>\nLet me see.\n</think>\nForty-two.",
    }


def test_response_tool_calls_carry_the_tool_plan_as_text():
    body = {
        "id": "t1",
        "finish_reason": "TOOL_CALL",
        "message": {
            "role": "assistant",
            "tool_plan": "I will check the weather.",
            "tool_calls": [
                {
                    "id": "get_weather_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        "usage": USAGE,
    }
    out = ChatCompletion.model_validate(convert_response(body, CTX))
    assert out.choices[0].finish_reason == "tool_calls"
    assert out.choices[0].message.content == "I will check the weather."
    call = out.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (
        "get_weather_1",
        "get_weather",
        {"city": "Paris"},
    )


@pytest.mark.parametrize(("reason", "finish"), [("COMPLETE", "stop"), ("STOP_SEQUENCE", "stop"), ("TIMEOUT", "stop")])
def test_response_finish_reasons(reason, finish):
    body = {"id": "x", "finish_reason": reason, "message": {"content": [{"type": "text", "text": "a"}]}}
    out = convert_response(body, CTX)
    assert out["choices"][0]["finish_reason"] == finish
    assert out["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def test_response_without_a_message_is_an_upstream_error():
    with pytest.raises(ValueError, match="no message"):
        convert_response({"message": "upstream busy"}, CTX)


# -- streams -----------------------------------------------------------------------------------

TEXT_STREAM = [
    {"type": "message-start", "id": "s1", "delta": {"message": {"role": "assistant"}}},
    {"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}},
    {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hello"}}}},
    {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": " world"}}}},
    {"type": "content-end", "index": 0},
    {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": USAGE}},
]


@pytest.mark.parametrize("wants_usage", [True, False])
def test_stream_ends_with_done_and_a_usage_chunk_only_when_asked(wants_usage):
    ctx = ConvertContext(model="command-a-03-2025", stream=True, wants_usage=wants_usage)
    out = payloads(run(CONVERTER.stream(ctx), cohere_events(TEXT_STREAM)))
    assert out[-1] == "[DONE]"
    body = out[:-1]
    assert all(c["id"] == "chatcmpl-s1" and c["object"] == "chat.completion.chunk" for c in body)
    assert [c["choices"][0]["delta"] for c in body if c["choices"]] == [
        {"role": "assistant", "content": ""},
        {"content": "Hello"},
        {"content": " world"},
        {},
    ]
    assert [c["choices"][0]["finish_reason"] for c in body if c["choices"]][-1] == "stop"
    usage = [c["usage"] for c in body if "usage" in c]
    assert usage == ([{"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}] if wants_usage else [])
    if wants_usage:
        assert body[-1]["choices"] == []  # the usage chunk comes last, with no choices, as OpenAI sends it


def test_stream_replayed_through_the_openai_sdk():
    ctx = ConvertContext(model="command-a-03-2025", stream=True)
    final = openai_final_completion(run(CONVERTER.stream(ctx), cohere_events(TEXT_STREAM)))
    assert final.choices[0].message.content == "Hello world"
    assert final.choices[0].finish_reason == "stop"
    assert final.usage.total_tokens == 14


def tool_stream(index_base: int = 0) -> list[dict]:
    def start(i, name):
        call = {"id": f"{name}_{i}", "type": "function", "function": {"name": name, "arguments": ""}}
        return {"type": "tool-call-start", "index": index_base + i, "delta": {"message": {"tool_calls": call}}}

    def delta(i, text):
        piece = {"function": {"arguments": text}}
        return {"type": "tool-call-delta", "index": index_base + i, "delta": {"message": {"tool_calls": piece}}}

    return [
        {"type": "message-start", "id": "s2", "delta": {"message": {"role": "assistant"}}},
        {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will call two tools."}}},
        start(0, "get_weather"),
        delta(0, '{"city":'),
        start(1, "get_time"),
        delta(1, '{"zone":"CET"}'),
        delta(0, '"Paris"}'),
        {"type": "tool-call-end", "index": index_base},
        {"type": "tool-call-end", "index": index_base + 1},
        {"type": "message-end", "delta": {"finish_reason": "TOOL_CALL", "usage": USAGE}},
    ]


@pytest.mark.parametrize("index_base", [0, 3])
def test_stream_tool_calls_are_numbered_in_start_order(index_base):
    ctx = ConvertContext(model="m", stream=True)
    final = openai_final_completion(run(CONVERTER.stream(ctx), cohere_events(tool_stream(index_base))))
    message = final.choices[0].message
    assert message.content == "I will call two tools."
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls] == [
        ("get_weather_0", "get_weather", {"city": "Paris"}),
        ("get_time_1", "get_time", {"zone": "CET"}),
    ]
    assert final.choices[0].finish_reason == "tool_calls"


def thinking_stream() -> list[dict]:
    def block(index, kind, pieces):
        start = {"type": "content-start", "index": index, "delta": {"message": {"content": {"type": kind, kind: ""}}}}
        deltas = [
            {"type": "content-delta", "index": index, "delta": {"message": {"content": {kind: p}}}} for p in pieces
        ]
        return [start, *deltas, {"type": "content-end", "index": index}]

    return [
        {"type": "message-start", "id": "s3", "delta": {"message": {"role": "assistant"}}},
        *block(0, "thinking", ["Hmm", "."]),
        *block(1, "text", ["Yes."]),
        {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": USAGE}},
    ]


def test_stream_thinking_as_reasoning_content_or_in_think_tags():
    ctx = ConvertContext(model="m", stream=True, wants_usage=False)
    out = payloads(run(CONVERTER.stream(ctx), cohere_events(thinking_stream())))
    deltas = [c["choices"][0]["delta"] for c in out[:-1]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "Hmm."
    assert "".join(d.get("content", "") for d in deltas) == "Yes."
    ctx = ConvertContext(model="m", stream=True, wants_usage=False, options={"thinking_to_content": True})
    out = payloads(run(CONVERTER.stream(ctx), cohere_events(thinking_stream())))
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in out[:-1])
    assert text == "<think>\nHmm.\n</think>\nYes."


def test_stream_error_at_message_end_is_raised():
    stream = CohereToChatStream(CTX)
    stream.feed(cohere_events(TEXT_STREAM)[0])
    failed = {"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "model overloaded"}}
    with pytest.raises(ValueError, match="model overloaded"):
        stream.feed(cohere_events([failed])[0])


def test_stream_ignores_done_unknown_events_and_anything_after_the_end():
    stream = CohereToChatStream(CTX)
    events = cohere_events(TEXT_STREAM)
    assert stream.feed(SSEEvent(data="[DONE]")) == []
    assert stream.feed(SSEEvent(data=json.dumps({"type": "citation-start", "index": 0}))) == []
    out = [e for event in events for e in stream.feed(event)]
    assert out[-1].data == "[DONE]"
    assert stream.feed(events[2]) == [] and stream.finish() == []


def test_stream_cut_off_before_message_end_adds_nothing():
    stream = CohereToChatStream(CTX)
    out = [e for event in cohere_events(TEXT_STREAM[:3]) for e in stream.feed(event)]
    assert out and stream.finish() == []  # no [DONE]: the host reports the stream as cut off
    with pytest.raises(ValueError, match="not JSON"):
        stream.feed(SSEEvent(data="garbage"))
