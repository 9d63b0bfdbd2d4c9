"""Golden tests: Gemini clients on OpenAI Chat upstreams (source gemini.generate, target openai.chat)."""

from __future__ import annotations

import json

from google.genai import types as gtypes

from newapi_gemini.gemini_via_chat import CONVERTER, ChatToGeminiStream
from newapi_host.sdk import ConvertContext, SSEEvent

CTX = ConvertContext(model="gpt-4o")
STREAM_CTX = ConvertContext(model="gpt-4o", stream=True)


def _events(data: list) -> list[SSEEvent]:
    return [SSEEvent(d if isinstance(d, str) else json.dumps(d)) for d in data]


def _run(chunks: list, ctx: ConvertContext = STREAM_CTX) -> list[dict]:
    conv = CONVERTER.stream(ctx)
    out: list[SSEEvent] = []
    for event in _events(chunks):
        out.extend(conv.feed(event))
    out.extend(conv.finish())
    for event in out:
        assert event.event is None
    parsed = [json.loads(e.data) for e in out]
    for chunk in parsed:
        if "error" not in chunk:
            gtypes.GenerateContentResponse.model_validate(chunk)
    return parsed


# -- request -----------------------------------------------------------------------------------


def test_request_full_conversation():
    body = {
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Use tools."}]},
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "What is in this image, and the weather in Paris and Rome?"},
                    {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                ],
            },
            {
                "role": "model",
                "parts": [
                    {"text": "thinking...", "thought": True},
                    {"text": "Let me check."},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                    {"functionCall": {"name": "get_time", "args": {"tz": "CET"}}},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "get_time", "response": {"result": "12:00"}}},
                    {"functionResponse": {"name": "get_weather", "response": {"temp": 21, "sky": "clear"}}},
                    {"functionResponse": {"name": "get_weather", "response": {"output": "rainy"}}},
                    {"text": "Thanks!"},
                ],
            },
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "get_weather",
                        "description": "Weather for a city",
                        "parameters": {
                            "type": "OBJECT",
                            "properties": {
                                "city": {"type": "STRING", "nullable": True},
                                "days": {"type": "ARRAY", "items": {"type": "INTEGER"}},
                            },
                            "required": ["city"],
                        },
                    },
                    {"name": "get_time"},
                ]
            },
            {"googleSearch": {}},
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.9,
            "maxOutputTokens": 512,
            "stopSequences": ["END"],
            "candidateCount": 1,
        },
    }
    assert CONVERTER.request(body, CTX) == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Be brief.\nUse tools."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image, and the weather in Paris and Rome?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                ],
            },
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": '{"tz": "CET"}'},
                    },
                    {
                        "id": "call_3",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "call_2", "content": "12:00"},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"temp":21,"sky":"clear"}'},
            {"role": "tool", "tool_call_id": "call_3", "content": "rainy"},
            {"role": "user", "content": "Thanks!"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "city": {"type": ["string", "null"]},
                            "days": {"type": "array", "items": {"type": "integer"}},
                        },
                        "required": ["city"],
                    },
                },
            },
            {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}},
        ],
        "tool_choice": "required",
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 512,
        "n": 1,
        "stop": ["END"],
    }


def test_request_stream_flags_and_tool_choice_variants():
    body = {
        "contents": [{"parts": [{"text": "hi"}]}],
        "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "object"}}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
        "generationConfig": {"responseMimeType": "application/json"},
    }
    out = CONVERTER.request(body, STREAM_CTX)
    assert out["messages"] == [{"role": "user", "content": "hi"}]
    assert out["stream"] is True and out["stream_options"] == {"include_usage": True}
    assert out["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert out["response_format"] == {"type": "json_object"}
    body["toolConfig"]["functionCallingConfig"] = {"mode": "NONE"}
    assert CONVERTER.request(body, CTX)["tool_choice"] == "none"
    assert "stream" not in CONVERTER.request(body, CTX)


def test_request_function_response_ids_and_snake_case():
    body = {
        "system_instruction": {"parts": [{"text": "sys"}]},
        "contents": [
            {"role": "model", "parts": [{"function_call": {"id": "abc", "name": "f", "args": {}}}]},
            {"role": "user", "parts": [{"function_response": {"id": "abc", "name": "f", "response": {"x": [1]}}}]},
            {"role": "user", "parts": [{"fileData": {"mimeType": "application/pdf", "fileUri": "gs://b/doc.pdf"}}]},
        ],
    }
    assert CONVERTER.request(body, CTX)["messages"] == [
        {"role": "system", "content": "sys"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "abc", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "abc", "content": '{"x":[1]}'},
        {"role": "user", "content": "[file application/pdf: gs://b/doc.pdf]"},
    ]


# -- response ----------------------------------------------------------------------------------


def test_response_text_reasoning_tools_usage():
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Checking.",
                    "reasoning_content": "User wants weather.",
                    "tool_calls": [
                        {"id": "call_a", "type": "function", "function": {"name": "w", "arguments": '{"c":"P"}'}},
                        {"id": "call_b", "type": "function", "function": {"name": "t", "arguments": ""}},
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 30,
            "total_tokens": 130,
            "prompt_tokens_details": {"cached_tokens": 64},
            "completion_tokens_details": {"reasoning_tokens": 10},
        },
    }
    out = CONVERTER.response(body, CTX)
    assert out == {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "User wants weather.", "thought": True},
                        {"text": "Checking."},
                        {"functionCall": {"name": "w", "args": {"c": "P"}, "id": "call_a"}},
                        {"functionCall": {"name": "t", "args": {}, "id": "call_b"}},
                    ],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 100,
            "candidatesTokenCount": 20,
            "totalTokenCount": 130,
            "cachedContentTokenCount": 64,
            "thoughtsTokenCount": 10,
        },
        "modelVersion": "gpt-4o",
        "responseId": "chatcmpl-1",
    }
    parsed = gtypes.GenerateContentResponse.model_validate(out)
    assert parsed.function_calls[0].args == {"c": "P"}
    assert parsed.usage_metadata.cached_content_token_count == 64


def test_response_stop_reasons_and_empty_content():
    for reason, expected in (
        ("stop", "STOP"),
        ("length", "MAX_TOKENS"),
        ("content_filter", "SAFETY"),
        ("tool_calls", "STOP"),
    ):
        body = {
            "id": "x",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": reason}],
        }
        out = CONVERTER.response(body, CTX)
        assert out["candidates"][0]["finishReason"] == expected
        assert out["candidates"][0]["content"] == {"role": "model", "parts": []}
        assert "usageMetadata" not in out
        gtypes.GenerateContentResponse.model_validate(out)


# -- stream ------------------------------------------------------------------------------------


def _chunk(delta=None, finish=None, index=0, usage=None, choices=True):
    out = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"}
    out["choices"] = [{"index": index, "delta": delta or {}, "finish_reason": finish}] if choices else []
    if usage is not None:
        out["usage"] = usage
    return out


def test_stream_text_then_parallel_tool_calls_with_usage():
    chunks = [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"reasoning_content": "Need both"}),
        _chunk({"content": "Let me"}),
        _chunk({"content": " check."}),
        _chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "call_a", "type": "function", "function": {"name": "w", "arguments": ""}}
                ]
            }
        ),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}),
        _chunk(
            {
                "tool_calls": [
                    {"index": 1, "id": "call_b", "type": "function", "function": {"name": "t", "arguments": '{"tz"'}}
                ]
            }
        ),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty":"Paris"}'}}]}),
        _chunk({"tool_calls": [{"index": 1, "function": {"arguments": ':"CET"}'}}]}),
        _chunk(finish="tool_calls"),
        _chunk(
            choices=False,
            usage={
                "prompt_tokens": 50,
                "completion_tokens": 20,
                "total_tokens": 70,
                "prompt_tokens_details": {"cached_tokens": 32},
                "completion_tokens_details": {"reasoning_tokens": 5},
            },
        ),
        "[DONE]",
    ]
    base = {"modelVersion": "gpt-4o", "responseId": "chatcmpl-9"}
    assert _run(chunks) == [
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": "Need both", "thought": True}]}, "index": 0}
            ],
            **base,
        },
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Let me"}]}, "index": 0}], **base},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": " check."}]}, "index": 0}], **base},
        {
            "candidates": [
                {
                    "content": {
                        "role": "model",
                        "parts": [
                            {"functionCall": {"name": "w", "args": {"city": "Paris"}, "id": "call_a"}},
                            {"functionCall": {"name": "t", "args": {"tz": "CET"}, "id": "call_b"}},
                        ],
                    },
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": 50,
                "candidatesTokenCount": 15,
                "totalTokenCount": 70,
                "cachedContentTokenCount": 32,
                "thoughtsTokenCount": 5,
            },
            **base,
        },
    ]


def test_stream_length_finish_without_usage_is_flushed_at_finish():
    out = _run([_chunk({"content": "abc"}), _chunk(finish="length"), "[DONE]"])
    assert out[-1]["candidates"] == [
        {"content": {"role": "model", "parts": []}, "finishReason": "MAX_TOKENS", "index": 0}
    ]
    assert "usageMetadata" not in out[-1]
    assert len(out) == 2


def test_stream_finish_and_usage_in_one_chunk_and_done_emits_nothing():
    conv = ChatToGeminiStream(STREAM_CTX)
    usage = {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    (event,) = conv.feed(SSEEvent(json.dumps(_chunk({"content": ""}, finish="stop", usage=usage))))
    assert json.loads(event.data)["usageMetadata"] == {
        "promptTokenCount": 3,
        "candidatesTokenCount": 1,
        "totalTokenCount": 4,
    }
    assert conv.feed(SSEEvent("[DONE]")) == []
    assert conv.finish() == []


def test_stream_error_chunk_becomes_google_error():
    out = _run([{"error": {"message": "overloaded", "type": "server_error", "code": 503}}])
    assert out == [{"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}]
