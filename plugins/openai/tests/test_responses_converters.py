"""Golden tests for the Responses <-> Chat Completions converters, checked against the openai SDK types."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from newapi_host.sdk import ConvertContext, InvalidRequest, Registrar, SSEEvent
from newapi_openai import plugin
from newapi_openai.chat_via_responses import CONVERTER as CHAT_TO_RESPONSES
from newapi_openai.responses_via_chat import CONVERTER as RESPONSES_TO_CHAT

CTX = ConvertContext(model="gpt-client")
SCTX = ConvertContext(model="gpt-client", stream=True)
EVENT = TypeAdapter(ResponseStreamEvent)


# -- helpers ---------------------------------------------------------------------------------


def run(converter: Any, events: list[SSEEvent]) -> list[SSEEvent]:
    stream = converter.stream(SCTX)
    out: list[SSEEvent] = []
    for event in events:
        out.extend(stream.feed(event))
    out.extend(stream.finish())
    return out


def sse(events: list[SSEEvent]) -> bytes:
    return "".join((f"event: {e.event}\n" if e.event else "") + f"data: {e.data}\n\n" for e in events).encode()


def client(body: bytes) -> openai.OpenAI:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return openai.OpenAI(
        api_key="sk-test",
        base_url="http://upstream.test/v1",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        max_retries=0,
    )


def chunk(delta: dict | None = None, finish: str | None = None, usage: dict | None = None) -> SSEEvent:
    body: dict[str, Any] = {
        "id": "chatcmpl-abc",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "upstream-model",
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage
    return SSEEvent(json.dumps(body))


def rev(kind: str, **fields: Any) -> SSEEvent:
    """A hand-written upstream Responses event (sequence numbers are filled in by ``numbered``)."""
    return SSEEvent(json.dumps({"type": kind, **fields}), event=kind)


def numbered(events: list[SSEEvent]) -> list[SSEEvent]:
    out = []
    for i, e in enumerate(events):
        payload = json.loads(e.data)
        payload["sequence_number"] = i
        out.append(SSEEvent(json.dumps(payload), e.event))
    return out


def check_responses_stream(out: list[SSEEvent]) -> list[dict]:
    """Event names equal types, sequence numbers count up from 0, every event parses with the SDK."""
    payloads = [json.loads(e.data) for e in out]
    assert [e.event for e in out] == [p["type"] for p in payloads]
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    for p in payloads:
        EVENT.validate_python(p)
    # the SDK's raw stream parser and its strict accumulating helper both accept it
    raw = list(client(sse(out)).responses.create(model="m", input="x", stream=True))
    assert [e.type for e in raw] == [p["type"] for p in payloads]
    return payloads


def final_response(out: list[SSEEvent]) -> Any:
    with client(sse(out)).responses.stream(model="m", input="x") as stream:
        return stream.get_final_response()


def project(payloads: list[dict]) -> list[tuple]:
    """The shape of a Responses stream: type plus the fields that locate and carry content."""
    rows = []
    for p in payloads:
        row: tuple = (p["type"],)
        if "output_index" in p:
            row += (p["output_index"],)
        if "item" in p:
            row += (p["item"]["type"], p["item"]["id"])
        elif "item_id" in p:
            row += (p["item_id"],)
        for key in ("delta", "text", "arguments"):
            if key in p:
                row += (p[key],)
        if "response" in p:
            row += (p["response"]["status"],)
        rows.append(row)
    return rows


USAGE_CHAT = {
    "prompt_tokens": 120,
    "completion_tokens": 30,
    "total_tokens": 150,
    "prompt_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 20},
    "completion_tokens_details": {"reasoning_tokens": 12},
}
USAGE_RESPONSES = {
    "input_tokens": 120,
    "input_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 20},
    "output_tokens": 30,
    "output_tokens_details": {"reasoning_tokens": 12},
    "total_tokens": 150,
}


def envelope(**overrides: Any) -> dict:
    """The Responses object the converter builds around an output (the fields the SDK requires and more)."""
    base = {
        "id": "resp_abc",
        "object": "response",
        "created_at": 1700000000,
        "status": "completed",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": "gpt-client",
        "output": [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": None,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
        "truncation": "disabled",
        "usage": None,
        "metadata": {},
    }
    base.update(overrides)
    return base


def test_converter_objects():
    assert [(c.source, c.target) for c in (RESPONSES_TO_CHAT, CHAT_TO_RESPONSES)] == [
        ("openai.responses", "openai.chat"),
        ("openai.chat", "openai.responses"),
    ]


# ============================================================================================
# openai.responses (client) -> openai.chat (upstream)


def test_r2c_request_full():
    body = {
        "model": "gpt-4.1",
        "instructions": "Be brief.",
        "input": [
            {"role": "developer", "content": "Use metric units."},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Weather here?"},
                    {"type": "input_image", "image_url": "https://x.test/a.png", "detail": "low"},
                ],
            },
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "hmm"}]},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Checking.", "annotations": []}],
            },
            {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": '{"city":"Paris"}'},
            {"type": "function_call", "call_id": "call_2", "name": "time", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
            {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "noon"}]},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [
            {"type": "function", "name": "weather", "description": "Weather", "parameters": {"type": "object"}},
            {"type": "function", "name": "time", "parameters": {"type": "object"}, "strict": False},
            {"type": "web_search"},
        ],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "max_output_tokens": 500,
        "temperature": 0.2,
        "top_p": 0.9,
        "reasoning": {"effort": "high", "summary": "auto"},
        "text": {
            "format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"}, "strict": True},
            "verbosity": "low",
        },
        "store": True,
        "include": ["reasoning.encrypted_content"],
        "stream": True,
    }
    assert RESPONSES_TO_CHAT.request(body, CTX) == {
        "model": "gpt-4.1",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "system", "content": "Use metric units."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather here?"},
                    {"type": "image_url", "image_url": {"url": "https://x.test/a.png", "detail": "low"}},
                ],
            },
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                    },
                    {"id": "call_2", "type": "function", "function": {"name": "time", "arguments": "{}"}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {"name": "weather", "description": "Weather", "parameters": {"type": "object"}},
            },
            {"type": "function", "function": {"name": "time", "parameters": {"type": "object"}, "strict": False}},
        ],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "max_tokens": 500,
        "temperature": 0.2,
        "top_p": 0.9,
        "reasoning_effort": "high",
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
        },
        "verbosity": "low",
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_r2c_request_string_input_and_forced_function():
    body = {
        "model": "m",
        "input": "Hi",
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
        "tool_choice": {"type": "function", "name": "f"},
    }
    assert RESPONSES_TO_CHAT.request(body, CTX) == {
        "model": "m",
        "messages": [{"role": "user", "content": "Hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
    }


def test_r2c_request_only_builtin_tools_drops_tools_and_choice():
    body = {"model": "m", "input": "Hi", "tools": [{"type": "web_search"}], "tool_choice": {"type": "web_search"}}
    assert RESPONSES_TO_CHAT.request(body, CTX) == {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}


def test_r2c_request_function_call_without_preceding_text():
    body = {
        "model": "m",
        "input": [
            {"role": "user", "content": "go"},
            {"type": "function_call", "call_id": "call_a", "name": "a", "arguments": "{}"},
            {"type": "function_call", "call_id": "call_b", "name": "b", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_a", "output": "1"},
            {"type": "function_call_output", "call_id": "call_b", "output": "2"},
        ],
    }
    messages = RESPONSES_TO_CHAT.request(body, CTX)["messages"]
    assert messages == [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "a", "arguments": "{}"}},
                {"id": "call_b", "type": "function", "function": {"name": "b", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "1"},
        {"role": "tool", "tool_call_id": "call_b", "content": "2"},
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "input": "x", "previous_response_id": "resp_1"},
        {"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]},
    ],
)
def test_r2c_request_stateful_features_are_refused(body):
    with pytest.raises(InvalidRequest):
        RESPONSES_TO_CHAT.request(body, CTX)


def _chat_completion(message: dict, finish: str, usage: dict | None = USAGE_CHAT) -> dict:
    body = {
        "id": "chatcmpl-abc",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "upstream-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def test_r2c_response_reasoning_text_and_cached_usage():
    body = _chat_completion({"role": "assistant", "content": "Hello!", "reasoning_content": "User greets."}, "stop")
    out = RESPONSES_TO_CHAT.response(body, CTX)
    assert out == {
        "id": "resp_abc",
        "object": "response",
        "created_at": 1700000000,
        "status": "completed",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": "gpt-client",
        "output": [
            {"type": "reasoning", "id": "rs_abc_0", "summary": [{"type": "summary_text", "text": "User greets."}]},
            {
                "type": "message",
                "id": "msg_abc_1",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Hello!", "annotations": [], "logprobs": []}],
            },
        ],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": None,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
        "truncation": "disabled",
        "usage": {
            "input_tokens": 120,
            "input_tokens_details": {"cached_tokens": 100, "cache_write_tokens": 20},
            "output_tokens": 30,
            "output_tokens_details": {"reasoning_tokens": 12},
            "total_tokens": 150,
        },
        "metadata": {},
    }
    parsed = Response.model_validate(out)
    assert parsed.output_text == "Hello!"
    assert parsed.usage.input_tokens_details.cached_tokens == 100


def test_r2c_response_reasoning_then_parallel_tool_calls():
    body = _chat_completion(
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "Need both.",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"c":"P"}'}},
                {"id": "call_2", "type": "function", "function": {"name": "time", "arguments": "{}"}},
            ],
        },
        "tool_calls",
    )
    out = RESPONSES_TO_CHAT.response(body, CTX)
    assert out == envelope(
        output=[
            {"type": "reasoning", "id": "rs_abc_0", "summary": [{"type": "summary_text", "text": "Need both."}]},
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_1",
                "name": "weather",
                "arguments": '{"c":"P"}',
                "status": "completed",
            },
            {
                "type": "function_call",
                "id": "fc_2",
                "call_id": "call_2",
                "name": "time",
                "arguments": "{}",
                "status": "completed",
            },
        ],
        usage=USAGE_RESPONSES,
    )
    Response.model_validate(out)


def test_r2c_response_empty_text():
    out = RESPONSES_TO_CHAT.response(_chat_completion({"role": "assistant", "content": ""}, "stop", None), CTX)
    assert out["output"] == [
        {
            "type": "message",
            "id": "msg_abc_0",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "", "annotations": [], "logprobs": []}],
        }
    ]
    assert out["usage"] is None
    assert Response.model_validate(out).output_text == ""


def test_r2c_response_length_is_incomplete():
    out = RESPONSES_TO_CHAT.response(_chat_completion({"role": "assistant", "content": "Once upon"}, "length"), CTX)
    assert out["status"] == "incomplete"
    assert out["incomplete_details"] == {"reason": "max_output_tokens"}
    assert out["output"][0]["status"] == "incomplete"
    Response.model_validate(out)


def test_r2c_stream_text_golden():
    events = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk({}, "stop"),
        chunk(None, usage=USAGE_CHAT),
        SSEEvent("[DONE]"),
    ]
    out = run(RESPONSES_TO_CHAT, events)
    payloads = check_responses_stream(out)
    msg = {"type": "message", "id": "msg_abc_0", "status": "in_progress", "role": "assistant", "content": []}
    part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    done_part = {**part, "text": "Hello"}
    done_msg = {**msg, "status": "completed", "content": [done_part]}
    where = {"item_id": "msg_abc_0", "output_index": 0, "content_index": 0}
    assert payloads == [
        {"type": "response.created", "sequence_number": 0, "response": envelope(status="in_progress")},
        {"type": "response.in_progress", "sequence_number": 1, "response": envelope(status="in_progress")},
        {"type": "response.output_item.added", "sequence_number": 2, "output_index": 0, "item": msg},
        {"type": "response.content_part.added", "sequence_number": 3, **where, "part": part},
        {"type": "response.output_text.delta", "sequence_number": 4, **where, "delta": "Hel", "logprobs": []},
        {"type": "response.output_text.delta", "sequence_number": 5, **where, "delta": "lo", "logprobs": []},
        {"type": "response.output_text.done", "sequence_number": 6, **where, "text": "Hello", "logprobs": []},
        {"type": "response.content_part.done", "sequence_number": 7, **where, "part": done_part},
        {"type": "response.output_item.done", "sequence_number": 8, "output_index": 0, "item": done_msg},
        {
            "type": "response.completed",
            "sequence_number": 9,
            "response": envelope(output=[done_msg], usage=USAGE_RESPONSES),
        },
    ]
    final = final_response(out)
    assert final.output_text == "Hello"
    assert final.usage.input_tokens_details.cached_tokens == 100


def test_r2c_stream_reasoning_then_parallel_tool_calls():
    events = [
        chunk({"role": "assistant", "content": None}),
        chunk({"reasoning_content": "Need "}),
        chunk({"reasoning_content": "both."}),
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "call_1", "type": "function", "function": {"name": "weather", "arguments": ""}}
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"c":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"P"}'}}]}),
        chunk(
            {
                "tool_calls": [
                    {"index": 1, "id": "call_2", "type": "function", "function": {"name": "time", "arguments": ""}}
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": "{"}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": "}"}}]}),
        chunk({}, "tool_calls"),
        chunk(None, usage=USAGE_CHAT),
        SSEEvent("[DONE]"),
    ]
    out = run(RESPONSES_TO_CHAT, events)
    payloads = check_responses_stream(out)
    assert project(payloads) == [
        ("response.created", "in_progress"),
        ("response.in_progress", "in_progress"),
        ("response.output_item.added", 0, "reasoning", "rs_abc_0"),
        ("response.reasoning_summary_part.added", 0, "rs_abc_0"),
        ("response.reasoning_summary_text.delta", 0, "rs_abc_0", "Need "),
        ("response.reasoning_summary_text.delta", 0, "rs_abc_0", "both."),
        ("response.reasoning_summary_text.done", 0, "rs_abc_0", "Need both."),
        ("response.reasoning_summary_part.done", 0, "rs_abc_0"),
        ("response.output_item.done", 0, "reasoning", "rs_abc_0"),
        ("response.output_item.added", 1, "function_call", "fc_1"),
        ("response.function_call_arguments.delta", 1, "fc_1", '{"c":'),
        ("response.function_call_arguments.delta", 1, "fc_1", '"P"}'),
        ("response.output_item.added", 2, "function_call", "fc_2"),
        ("response.function_call_arguments.delta", 2, "fc_2", "{"),
        ("response.function_call_arguments.delta", 2, "fc_2", "}"),
        ("response.function_call_arguments.done", 1, "fc_1", '{"c":"P"}'),
        ("response.output_item.done", 1, "function_call", "fc_1"),
        ("response.function_call_arguments.done", 2, "fc_2", "{}"),
        ("response.output_item.done", 2, "function_call", "fc_2"),
        ("response.completed", "completed"),
    ]
    assert payloads[9]["item"] == {
        "type": "function_call",
        "id": "fc_1",
        "call_id": "call_1",
        "name": "weather",
        "arguments": "",
        "status": "in_progress",
    }
    assert payloads[-1]["response"] == envelope(
        output=[
            {"type": "reasoning", "id": "rs_abc_0", "summary": [{"type": "summary_text", "text": "Need both."}]},
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_1",
                "name": "weather",
                "arguments": '{"c":"P"}',
                "status": "completed",
            },
            {
                "type": "function_call",
                "id": "fc_2",
                "call_id": "call_2",
                "name": "time",
                "arguments": "{}",
                "status": "completed",
            },
        ],
        usage=USAGE_RESPONSES,
    )
    final = final_response(out)
    assert [(o.type, getattr(o, "arguments", None)) for o in final.output] == [
        ("reasoning", None),
        ("function_call", '{"c":"P"}'),
        ("function_call", "{}"),
    ]


def test_r2c_stream_text_then_tool_call_in_one_chunk():
    # some upstreams send a whole call (no index, full arguments) in one chunk
    events = [
        chunk({"role": "assistant", "content": "Let me look."}),
        chunk({"tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}),
        chunk({}, "tool_calls"),
        SSEEvent("[DONE]"),
    ]
    out = run(RESPONSES_TO_CHAT, events)
    payloads = check_responses_stream(out)
    assert [row for row in project(payloads) if row[0] != "response.content_part.added"] == [
        ("response.created", "in_progress"),
        ("response.in_progress", "in_progress"),
        ("response.output_item.added", 0, "message", "msg_abc_0"),
        ("response.output_text.delta", 0, "msg_abc_0", "Let me look."),
        ("response.output_text.done", 0, "msg_abc_0", "Let me look."),
        ("response.content_part.done", 0, "msg_abc_0"),
        ("response.output_item.done", 0, "message", "msg_abc_0"),
        ("response.output_item.added", 1, "function_call", "fc_9"),
        ("response.function_call_arguments.delta", 1, "fc_9", "{}"),
        ("response.function_call_arguments.done", 1, "fc_9", "{}"),
        ("response.output_item.done", 1, "function_call", "fc_9"),
        ("response.completed", "completed"),
    ]
    assert payloads[-1]["response"]["usage"] is None  # the upstream sent none


def test_r2c_stream_empty_text():
    out = run(RESPONSES_TO_CHAT, [chunk({"role": "assistant", "content": ""}), chunk({}, "stop"), SSEEvent("[DONE]")])
    payloads = check_responses_stream(out)
    assert [p["type"] for p in payloads] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert payloads[4]["text"] == ""
    assert final_response(out).output_text == ""


def test_r2c_stream_length_is_incomplete():
    events = [chunk({"content": "Once"}), chunk({}, "length"), chunk(None, usage=USAGE_CHAT), SSEEvent("[DONE]")]
    out = run(RESPONSES_TO_CHAT, events)
    payloads = check_responses_stream(out)
    last = payloads[-1]
    assert last["type"] == "response.incomplete"
    assert last["response"]["status"] == "incomplete"
    assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert last["response"]["output"][0]["status"] == "incomplete"
    assert last["response"]["usage"] == USAGE_RESPONSES


def test_r2c_stream_done_emits_nothing_more_and_finish_completes_without_done():
    stream = RESPONSES_TO_CHAT.stream(SCTX)
    stream.feed(chunk({"content": "x"}))
    stream.feed(chunk({}, "stop"))
    assert stream.feed(chunk(None, usage=USAGE_CHAT)) == []  # usage is held for response.completed
    completed = stream.feed(SSEEvent("[DONE]"))
    assert [e.event for e in completed] == ["response.completed"]
    assert stream.finish() == []
    # without [DONE], finish() closes the response
    stream = RESPONSES_TO_CHAT.stream(SCTX)
    stream.feed(chunk({"content": "x"}))
    assert [e.event for e in stream.finish()][-1] == "response.completed"


def test_r2c_stream_rejects_garbage():
    with pytest.raises(ValueError):
        RESPONSES_TO_CHAT.stream(SCTX).feed(SSEEvent("not json"))


# ============================================================================================
# openai.chat (client) -> openai.responses (upstream)


def test_c2r_request_full():
    body = {
        "model": "gpt-5",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Metric units."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather here?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "high"}},
                ],
            },
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"c":"P"}'}},
                    {"id": "call_2", "type": "function", "function": {"name": "time", "arguments": "{}"}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "noon"}]},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [
            {"type": "function", "function": {"name": "weather", "description": "W", "parameters": {"type": "object"}}},
            {
                "type": "function",
                "function": {"name": "time", "parameters": {"type": "object"}, "strict": True},
            },
        ],
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        "parallel_tool_calls": True,
        "max_completion_tokens": 800,
        "max_tokens": 5,
        "temperature": 1,
        "reasoning_effort": "low",
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}},
        "stop": ["\n"],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert CHAT_TO_RESPONSES.request(body, CTX) == {
        "model": "gpt-5",
        "instructions": "Be brief.\n\nMetric units.",
        "input": [
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Weather here?"},
                    {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "high"},
                ],
            },
            {"type": "message", "role": "assistant", "content": "Checking."},
            {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": '{"c":"P"}'},
            {"type": "function_call", "call_id": "call_2", "name": "time", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
            {"type": "function_call_output", "call_id": "call_2", "output": "noon"},
            {"type": "message", "role": "user", "content": "Thanks"},
        ],
        "tools": [
            {
                "type": "function",
                "name": "weather",
                "description": "W",
                "parameters": {"type": "object"},
                "strict": False,
            },
            {"type": "function", "name": "time", "parameters": {"type": "object"}, "strict": True},
        ],
        "tool_choice": {"type": "function", "name": "weather"},
        "parallel_tool_calls": True,
        "max_output_tokens": 800,
        "temperature": 1,
        "reasoning": {"effort": "low"},
        "text": {"format": {"type": "json_schema", "name": "a", "schema": {"type": "object"}}},
        "store": False,
        "stream": True,
    }


def test_c2r_request_minimal():
    body = {"model": "m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 10}
    assert CHAT_TO_RESPONSES.request(body, CTX) == {
        "model": "m",
        "input": [{"type": "message", "role": "user", "content": "Hi"}],
        "max_output_tokens": 10,
        "store": False,
    }


def _responses_body(output: list, status: str = "completed", usage: dict | None = USAGE_RESPONSES, **extra) -> dict:
    return {
        "id": "resp_xyz",
        "object": "response",
        "created_at": 1700000001,
        "status": status,
        "model": "upstream-model",
        "output": output,
        "usage": usage,
        **extra,
    }


REASONING_ITEM = {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Think."}]}


def _message(text: str, status: str = "completed") -> dict:
    return {
        "type": "message",
        "id": "msg_1",
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def test_c2r_response_reasoning_text_and_cached_usage():
    out = CHAT_TO_RESPONSES.response(_responses_body([REASONING_ITEM, _message("Hello!")]), CTX)
    assert out == {
        "id": "chatcmpl-xyz",
        "object": "chat.completion",
        "created": 1700000001,
        "model": "gpt-client",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello!", "reasoning_content": "Think."},
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE_CHAT,
    }
    assert ChatCompletion.model_validate(out).usage.prompt_tokens_details.cached_tokens == 100


def test_c2r_response_reasoning_then_tool_calls():
    calls = [
        {
            "type": "function_call",
            "id": "fc_1",
            "call_id": "call_1",
            "name": "a",
            "arguments": "{}",
            "status": "completed",
        },
        {"type": "function_call", "id": "fc_2", "call_id": "call_2", "name": "b", "arguments": '{"x":1}'},
    ]
    out = CHAT_TO_RESPONSES.response(_responses_body([REASONING_ITEM, *calls], usage=None), CTX)
    assert out == {
        "id": "chatcmpl-xyz",
        "object": "chat.completion",
        "created": 1700000001,
        "model": "gpt-client",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "reasoning_content": "Think.",
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
                        {"id": "call_2", "type": "function", "function": {"name": "b", "arguments": '{"x":1}'}},
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
    }
    ChatCompletion.model_validate(out)


def test_c2r_response_empty_text():
    out = CHAT_TO_RESPONSES.response(_responses_body([_message("")]), CTX)
    assert out["choices"][0]["message"] == {"role": "assistant", "content": ""}
    assert out["choices"][0]["finish_reason"] == "stop"
    ChatCompletion.model_validate(out)


def test_c2r_response_incomplete_is_length():
    body = _responses_body(
        [_message("Once upon", "incomplete")], "incomplete", incomplete_details={"reason": "max_output_tokens"}
    )
    out = CHAT_TO_RESPONSES.response(body, CTX)
    assert out["choices"][0]["finish_reason"] == "length"
    assert out["choices"][0]["message"]["content"] == "Once upon"
    ChatCompletion.model_validate(out)


def _created() -> dict:
    return {"id": "resp_xyz", "object": "response", "created_at": 1700000001, "status": "in_progress", "output": []}


def _completed(output: list, status: str = "completed", **extra) -> dict:
    return {**_created(), "status": status, "output": output, "usage": USAGE_RESPONSES, **extra}


def chat_payloads(out: list[SSEEvent]) -> list[Any]:
    assert all(e.event is None for e in out)
    assert out[-1].data == "[DONE]"
    payloads = [json.loads(e.data) for e in out[:-1]]
    for p in payloads:
        ChatCompletionChunk.model_validate(p)
    # the SDK's stream parser reads it, and its accumulator assembles a valid completion
    sdk_chunks = list(client(sse(out)).chat.completions.create(model="m", messages=[], stream=True))
    assert len(sdk_chunks) == len(payloads)
    return payloads


def deltas(payloads: list[dict]) -> list[Any]:
    rows = []
    for p in payloads:
        if not p["choices"]:
            rows.append(("usage", p["usage"]))
        else:
            choice = p["choices"][0]
            rows.append((choice["delta"], choice["finish_reason"]) if choice["finish_reason"] else choice["delta"])
    return rows


def test_c2r_stream_text_golden():
    msg = _message("")
    events = numbered(
        [
            rev("response.created", response=_created()),
            rev("response.in_progress", response=_created()),
            rev("response.output_item.added", output_index=0, item={**msg, "status": "in_progress", "content": []}),
            rev(
                "response.content_part.added", item_id="msg_1", output_index=0, content_index=0, part=msg["content"][0]
            ),
            rev("response.output_text.delta", item_id="msg_1", output_index=0, content_index=0, delta="Hel"),
            rev("response.output_text.delta", item_id="msg_1", output_index=0, content_index=0, delta="lo"),
            rev("response.output_text.done", item_id="msg_1", output_index=0, content_index=0, text="Hello"),
            rev("response.output_item.done", output_index=0, item=_message("Hello")),
            rev("response.completed", response=_completed([_message("Hello")])),
        ]
    )
    out = run(CHAT_TO_RESPONSES, events)
    payloads = chat_payloads(out)
    head = {"id": "chatcmpl-xyz", "object": "chat.completion.chunk", "created": 1700000001, "model": "gpt-client"}

    def c(delta: dict, finish: str | None = None) -> dict:
        return {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    assert payloads == [
        c({"role": "assistant", "content": ""}),
        c({"content": "Hel"}),
        c({"content": "lo"}),
        c({}, "stop"),
        {**head, "choices": [], "usage": USAGE_CHAT},
    ]


def test_c2r_stream_reasoning_then_parallel_tool_calls():
    fc1 = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "weather", "arguments": ""}
    fc2 = {"type": "function_call", "id": "fc_2", "call_id": "call_2", "name": "time", "arguments": ""}
    events = numbered(
        [
            rev("response.created", response=_created()),
            rev("response.output_item.added", output_index=0, item={**REASONING_ITEM, "summary": []}),
            rev("response.reasoning_summary_part.added", item_id="rs_1", output_index=0, summary_index=0, part={}),
            rev("response.reasoning_summary_text.delta", item_id="rs_1", output_index=0, summary_index=0, delta="A."),
            rev("response.reasoning_summary_text.delta", item_id="rs_1", output_index=0, summary_index=1, delta="B."),
            rev("response.output_item.done", output_index=0, item=REASONING_ITEM),
            rev("response.output_item.added", output_index=1, item={**fc1, "status": "in_progress"}),
            rev("response.function_call_arguments.delta", item_id="fc_1", output_index=1, delta='{"c":'),
            rev("response.function_call_arguments.delta", item_id="fc_1", output_index=1, delta='"P"}'),
            rev("response.function_call_arguments.done", item_id="fc_1", output_index=1, arguments='{"c":"P"}'),
            rev("response.output_item.done", output_index=1, item={**fc1, "arguments": '{"c":"P"}'}),
            rev("response.output_item.added", output_index=2, item={**fc2, "status": "in_progress"}),
            rev("response.function_call_arguments.delta", item_id="fc_2", output_index=2, delta="{"),
            rev("response.function_call_arguments.delta", item_id="fc_2", output_index=2, delta="}"),
            rev("response.function_call_arguments.done", item_id="fc_2", output_index=2, arguments="{}"),
            rev("response.output_item.done", output_index=2, item={**fc2, "arguments": "{}"}),
            rev("response.completed", response=_completed([REASONING_ITEM, fc1, fc2])),
        ]
    )
    out = run(CHAT_TO_RESPONSES, events)
    payloads = chat_payloads(out)
    assert deltas(payloads) == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "A."},
        {"reasoning_content": "\n\n"},
        {"reasoning_content": "B."},
        {
            "tool_calls": [
                {"index": 0, "id": "call_1", "type": "function", "function": {"name": "weather", "arguments": ""}}
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"c":'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '"P"}'}}]},
        {
            "tool_calls": [
                {"index": 1, "id": "call_2", "type": "function", "function": {"name": "time", "arguments": ""}}
            ]
        },
        {"tool_calls": [{"index": 1, "function": {"arguments": "{"}}]},
        {"tool_calls": [{"index": 1, "function": {"arguments": "}"}}]},
        ({}, "tool_calls"),
        ("usage", USAGE_CHAT),
    ]
    # the SDK's accumulator rebuilds both calls
    with client(sse(out)).chat.completions.stream(model="m", messages=[]) as stream:
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        ("call_1", "weather", '{"c":"P"}'),
        ("call_2", "time", "{}"),
    ]
    assert final.choices[0].finish_reason == "tool_calls"


def test_c2r_stream_arguments_only_in_done_item():
    fc = {"type": "function_call", "id": "fc_7", "call_id": "call_7", "name": "f", "arguments": '{"a":1}'}
    events = numbered(
        [
            rev("response.created", response=_created()),
            rev("response.output_item.done", output_index=0, item=fc),
            rev("response.completed", response=_completed([fc])),
        ]
    )
    assert deltas(chat_payloads(run(CHAT_TO_RESPONSES, events))) == [
        {"role": "assistant", "content": ""},
        {"tool_calls": [{"index": 0, "id": "call_7", "type": "function", "function": {"name": "f", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":1}'}}]},
        ({}, "tool_calls"),
        ("usage", USAGE_CHAT),
    ]


def test_c2r_stream_empty_text_and_incomplete():
    events = numbered(
        [
            rev("response.created", response=_created()),
            rev(
                "response.incomplete",
                response=_completed([], "incomplete", incomplete_details={"reason": "max_output_tokens"}),
            ),
        ]
    )
    assert deltas(chat_payloads(run(CHAT_TO_RESPONSES, events))) == [
        {"role": "assistant", "content": ""},
        ({}, "length"),
        ("usage", USAGE_CHAT),
    ]


def test_c2r_stream_failed_becomes_error_chunk():
    events = numbered(
        [
            rev("response.created", response=_created()),
            rev(
                "response.failed",
                response={**_created(), "status": "failed", "error": {"code": "server_error", "message": "boom"}},
            ),
        ]
    )
    out = run(CHAT_TO_RESPONSES, events)
    assert json.loads(out[1].data) == {"error": {"message": "boom", "type": "server_error", "code": "server_error"}}
    assert out[-1].data == "[DONE]"


# ============================================================================================
# round trips


def test_round_trip_chat_stream_through_responses():
    """chat upstream -> Responses client events -> back to chat: the same deltas come out."""
    events = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"reasoning_content": "Hmm."}),
        chunk({"content": "Sure: "}),
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "call_1", "type": "function", "function": {"name": "a", "arguments": "{"}}
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]}),
        chunk({}, "tool_calls"),
        chunk(None, usage=USAGE_CHAT),
        SSEEvent("[DONE]"),
    ]
    responses_events = run(RESPONSES_TO_CHAT, events)
    back = run(CHAT_TO_RESPONSES, responses_events)
    assert deltas(chat_payloads(back)) == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "Hmm."},
        {"content": "Sure: "},
        {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "a", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": "{"}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]},
        ({}, "tool_calls"),
        ("usage", USAGE_CHAT),
    ]


def test_round_trip_requests():
    chat = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "S"},
            {"role": "user", "content": "Q"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "R"},
        ],
        "max_tokens": 9,
    }
    responses = CHAT_TO_RESPONSES.request(chat, CTX)
    assert RESPONSES_TO_CHAT.request(responses, CTX) == chat


def test_r2c_stream_upstream_error_becomes_error_event():
    error = SSEEvent(json.dumps({"error": {"message": "overloaded", "type": "server_error", "code": None}}))
    out = run(RESPONSES_TO_CHAT, [chunk({"content": "x"}), error, SSEEvent("[DONE]")])
    payloads = [json.loads(e.data) for e in out]
    for p in payloads:
        EVENT.validate_python(p)
    assert payloads[-1] == {
        "type": "error",
        "sequence_number": len(payloads) - 1,
        "code": "server_error",
        "message": "overloaded",
        "param": None,
    }


def test_c2r_thinking_to_content():
    ctx = ConvertContext(model="gpt-client", stream=True, options={"thinking_to_content": True})
    body = _responses_body([REASONING_ITEM, _message("Hi")])
    message = CHAT_TO_RESPONSES.response(body, ctx)["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "<think>\nThink.\n</think>\n\nHi"}
    events = numbered(
        [
            rev("response.created", response=_created()),
            rev("response.output_item.added", output_index=0, item={**REASONING_ITEM, "summary": []}),
            rev("response.reasoning_summary_text.delta", item_id="rs_1", output_index=0, summary_index=0, delta="Th"),
            rev("response.reasoning_summary_text.delta", item_id="rs_1", output_index=0, summary_index=0, delta="ink."),
            rev("response.output_item.done", output_index=0, item=REASONING_ITEM),
            rev("response.output_item.added", output_index=1, item={**_message(""), "content": []}),
            rev("response.output_text.delta", item_id="msg_1", output_index=1, content_index=0, delta="Hi"),
            rev("response.completed", response=_completed([REASONING_ITEM, _message("Hi")])),
        ]
    )
    stream = CHAT_TO_RESPONSES.stream(ctx)
    out = [e for event in events for e in stream.feed(event)] + list(stream.finish())
    assert deltas(chat_payloads(out)) == [
        {"role": "assistant", "content": ""},
        {"content": "<think>\nTh"},
        {"content": "ink."},
        {"content": "\n</think>\n\n"},
        {"content": "Hi"},
        ({}, "stop"),
        ("usage", USAGE_CHAT),
    ]


def test_both_converters_are_registered():
    registrar = Registrar("openai")
    plugin.newapi_register_providers(registry=registrar)
    converters = registrar.contributions.converters
    assert RESPONSES_TO_CHAT in converters and CHAT_TO_RESPONSES in converters
