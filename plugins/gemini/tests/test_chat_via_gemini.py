"""Golden tests: OpenAI Chat clients on Gemini upstreams (source openai.chat, target gemini.generate)."""

from __future__ import annotations

import json
import re

from openai.lib.streaming.chat._completions import ChatCompletionStreamState
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from newapi_gemini.chat_via_gemini import CONVERTER, THOUGHT_SIGNATURE_BYPASS
from newapi_host.sdk import ConvertContext, SSEEvent

CTX = ConvertContext(model="gemini-2.5-pro")
CALL_ID = re.compile(r"^call_[0-9a-f]{24}$")


def _run(chunks: list, ctx: ConvertContext = CTX) -> list:
    conv = CONVERTER.stream(ctx)
    out: list[SSEEvent] = []
    for data in chunks:
        out.extend(conv.feed(SSEEvent(data if isinstance(data, str) else json.dumps(data))))
    out.extend(conv.finish())
    assert out[-1].data == "[DONE]"
    parsed = [json.loads(e.data) for e in out[:-1]]
    for chunk in parsed:
        if "error" not in chunk:
            ChatCompletionChunk.model_validate(chunk)
    return parsed


def _normalize_ids(chunks: list) -> list:
    for chunk in chunks:
        assert chunk.pop("created") > 0
        assert chunk.pop("id") == "chatcmpl-resp-1"
    return chunks


# -- request -----------------------------------------------------------------------------------


def test_request_full_conversation():
    body = {
        "model": "gemini-2.5-pro",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look:"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                    {"type": "image_url", "image_url": {"url": "https://x.test/cat.webp?s=1"}},
                    {"type": "input_audio", "input_audio": {"data": "UklGR", "format": "wav"}},
                ],
            },
            {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "w", "arguments": '{"city":"Paris"}'}},
                    {"id": "call_b", "type": "function", "function": {"name": "t", "arguments": ""}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_a", "content": '{"temp": 21}'},
            {"role": "tool", "tool_call_id": "call_b", "content": "12:00"},
            {"role": "user", "content": "Thanks"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "w",
                    "description": "weather",
                    "parameters": {
                        "$schema": "http://json-schema.org/draft-07/schema#",
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "city": {"type": ["string", "null"], "description": "City"},
                            "units": {"type": "string", "enum": ["c", "f"], "const": "c"},
                            "tags": {"type": "array", "items": {"type": "object", "additionalProperties": True}},
                        },
                        "required": ["city"],
                    },
                },
            },
            {"type": "function", "function": {"name": "t", "parameters": {"type": "object", "properties": {}}}},
        ],
        "tool_choice": "required",
        "max_tokens": 100,
        "max_completion_tokens": 200,
        "temperature": 0.5,
        "top_p": 0.8,
        "stop": "END",
        "n": 1,
        "reasoning_effort": "medium",
    }
    out = CONVERTER.request(body, ConvertContext(model="gemini-2.5-pro", stream=True))
    assert out == {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "Look:"},
                    {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                    {"fileData": {"mimeType": "image/webp", "fileUri": "https://x.test/cat.webp?s=1"}},
                    {"inlineData": {"mimeType": "audio/wav", "data": "UklGR"}},
                ],
            },
            {
                "role": "model",
                "parts": [
                    {"text": "Checking."},
                    {
                        "functionCall": {"name": "w", "args": {"city": "Paris"}},
                        "thoughtSignature": THOUGHT_SIGNATURE_BYPASS,
                    },
                    {"functionCall": {"name": "t", "args": {}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"name": "w", "response": {"temp": 21}}},
                    {"functionResponse": {"name": "t", "response": {"content": "12:00"}}},
                    {"text": "Thanks"},
                ],
            },
        ],
        "systemInstruction": {"parts": [{"text": "Be brief.\nUse tools."}]},
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "w",
                        "description": "weather",
                        "parameters": {
                            "type": "OBJECT",
                            "properties": {
                                "city": {"type": "STRING", "nullable": True, "description": "City"},
                                "units": {"type": "STRING", "enum": ["c", "f"]},
                                "tags": {"type": "ARRAY", "items": {"type": "OBJECT"}},
                            },
                            "required": ["city"],
                        },
                    },
                    {"name": "t"},
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "generationConfig": {
            "maxOutputTokens": 200,
            "temperature": 0.5,
            "topP": 0.8,
            "candidateCount": 1,
            "stopSequences": ["END"],
            "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": True},
        },
    }
    assert "model" not in out and "stream" not in out


def test_request_tool_choice_named_and_json_schema():
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": {"type": "object", "additionalProperties": False, "properties": {}}},
        },
        "reasoning_effort": "low",
    }
    out = CONVERTER.request(body, CTX)
    assert out["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}}
    assert out["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseSchema": {"type": "OBJECT", "properties": {}},
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True},
    }
    body["tool_choice"] = "none"
    assert CONVERTER.request(body, CTX)["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}


# -- response ----------------------------------------------------------------------------------

USAGE = {
    "promptTokenCount": 120,
    "candidatesTokenCount": 30,
    "thoughtsTokenCount": 12,
    "cachedContentTokenCount": 100,
    "totalTokenCount": 162,
}
CHAT_USAGE = {
    "prompt_tokens": 120,
    "completion_tokens": 42,
    "total_tokens": 162,
    "prompt_tokens_details": {"cached_tokens": 100},
    "completion_tokens_details": {"reasoning_tokens": 12},
}


def test_response_thinking_then_tool_use():
    body = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "Plan: call w.", "thought": True},
                        {"text": "On it."},
                        {"functionCall": {"name": "w", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"},
                        {"functionCall": {"name": "t", "args": {}}},
                    ],
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": USAGE,
        "modelVersion": "gemini-2.5-pro",
        "responseId": "resp-1",
    }
    out = CONVERTER.response(body, CTX)
    calls = out["choices"][0]["message"]["tool_calls"]
    assert all(CALL_ID.match(c["id"]) for c in calls) and calls[0]["id"] != calls[1]["id"]
    for c in calls:
        c["id"] = "ID"
    assert out["created"] > 0
    out["created"] = 0
    assert out == {
        "id": "chatcmpl-resp-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gemini-2.5-pro",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "On it.",
                    "reasoning_content": "Plan: call w.",
                    "tool_calls": [
                        {"id": "ID", "type": "function", "function": {"name": "w", "arguments": '{"city":"Paris"}'}},
                        {"id": "ID", "type": "function", "function": {"name": "t", "arguments": "{}"}},
                    ],
                },
                "finish_reason": "tool_calls",
                "logprobs": None,
            }
        ],
        "usage": CHAT_USAGE,
    }
    parsed = ChatCompletion.model_validate(out)
    assert parsed.usage.prompt_tokens_details.cached_tokens == 100


def test_response_thinking_to_content_and_stop_reasons():
    ctx = ConvertContext(model="g", options={"thinking_to_content": True})
    body = {
        "candidates": [
            {"content": {"parts": [{"text": "hmm", "thought": True}, {"text": "Hi"}]}, "finishReason": "STOP"}
        ]
    }
    message = CONVERTER.response(body, ctx)["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nHi"}
    for reason, expected in (
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("OTHER", "stop"),
    ):
        body = {"candidates": [{"content": {"role": "model", "parts": []}, "finishReason": reason}]}
        out = CONVERTER.response(body, CTX)
        assert out["choices"][0]["finish_reason"] == expected
        assert out["choices"][0]["message"] == {"role": "assistant", "content": ""}
        ChatCompletion.model_validate(out)


def test_response_prompt_blocked():
    out = CONVERTER.response(
        {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5}}, CTX
    )
    assert out["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": ""},
            "finish_reason": "content_filter",
            "logprobs": None,
        }
    ]
    assert out["usage"]["prompt_tokens"] == 5
    ChatCompletion.model_validate(out)


# -- stream ------------------------------------------------------------------------------------


def _g(parts, finish=None, usage=None):
    candidate = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    out = {"candidates": [candidate], "modelVersion": "gemini-2.5-pro", "responseId": "resp-1"}
    if usage:
        out["usageMetadata"] = usage
    return out


def _delta(delta, finish=None):
    return {
        "object": "chat.completion.chunk",
        "model": "gemini-2.5-pro",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def test_stream_thinking_then_parallel_tool_calls():
    chunks = [
        _g([{"text": "Plan", "thought": True}], usage={"promptTokenCount": 120, "totalTokenCount": 120}),
        _g([{"text": " more", "thought": True}]),
        _g([{"text": "On it."}]),
        _g([{"functionCall": {"name": "w", "args": {"city": "Paris"}}}, {"functionCall": {"name": "t", "args": {}}}]),
        _g([{"functionCall": {"name": "w", "args": {"city": "Rome"}}}], finish="STOP", usage=USAGE),
    ]
    out = _normalize_ids(_run(chunks))
    calls = [c for chunk in out for ch in chunk["choices"] for c in ch["delta"].get("tool_calls", ())]
    assert all(CALL_ID.match(c.pop("id")) for c in calls)
    assert out == [
        _delta({"role": "assistant", "content": ""}),
        _delta({"reasoning_content": "Plan"}),
        _delta({"reasoning_content": " more"}),
        _delta({"content": "On it."}),
        _delta(
            {
                "tool_calls": [
                    {"index": 0, "type": "function", "function": {"name": "w", "arguments": '{"city":"Paris"}'}}
                ]
            }
        ),
        _delta({"tool_calls": [{"index": 1, "type": "function", "function": {"name": "t", "arguments": "{}"}}]}),
        _delta(
            {
                "tool_calls": [
                    {"index": 2, "type": "function", "function": {"name": "w", "arguments": '{"city":"Rome"}'}}
                ]
            }
        ),
        _delta({}, "tool_calls"),
        {"object": "chat.completion.chunk", "model": "gemini-2.5-pro", "choices": [], "usage": CHAT_USAGE},
    ]
    state = ChatCompletionStreamState()
    for chunk in _run(chunks):
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    message = state.get_final_completion().choices[0].message
    assert [(c.function.name, c.function.arguments) for c in message.tool_calls] == [
        ("w", '{"city":"Paris"}'),
        ("t", "{}"),
        ("w", '{"city":"Rome"}'),
    ]


def test_stream_text_stop_and_sdk_accumulates():
    chunks = [
        _g([{"text": "Hel"}]),
        _g([{"text": "lo"}]),
        _g(
            [{"text": ""}],
            finish="MAX_TOKENS",
            usage={"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5},
        ),
    ]
    out = _normalize_ids(_run(chunks))
    assert out[-2]["choices"][0]["finish_reason"] == "length"
    assert out[-1]["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 2,
        "total_tokens": 5,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    # the SDK's accumulator rebuilds the final message from our chunks
    chunks[-1]["candidates"][0]["finishReason"] = "STOP"  # the SDK refuses to finish a "length" completion
    state = ChatCompletionStreamState()
    for chunk in _run(chunks):
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    final = state.get_final_completion()
    assert final.choices[0].message.content == "Hello"
    assert final.choices[0].finish_reason == "stop"
    assert final.usage.total_tokens == 5


def test_stream_thinking_to_content():
    ctx = ConvertContext(model="gemini-2.5-pro", stream=True, options={"thinking_to_content": True})
    chunks = [
        _g([{"text": "a", "thought": True}]),
        _g([{"text": "b", "thought": True}]),
        _g([{"text": "Hi"}], finish="STOP"),
    ]
    out = _run(chunks, ctx)
    assert [c["choices"][0]["delta"].get("content") for c in out] == ["", "<think>\na", "b", "\n</think>\n\nHi", None]


def test_stream_error_and_safety():
    out = _run([{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}])
    assert out == [{"error": {"message": "quota", "type": "RESOURCE_EXHAUSTED", "param": None, "code": 429}}]
    out = _run([_g([], finish="SAFETY")])
    assert out[-1]["choices"][0]["finish_reason"] == "content_filter"
    # an empty stream still ends with [DONE] and nothing else
    assert _run([]) == []


def test_stream_events_after_finish_are_ignored_and_done_is_silent():
    conv = CONVERTER.stream(CTX)
    conv.feed(SSEEvent(json.dumps(_g([{"text": "x"}], finish="STOP"))))
    assert conv.feed(SSEEvent(json.dumps(_g([{"text": "late"}])))) == []
    assert conv.feed(SSEEvent("[DONE]")) == []
    assert [e.data for e in conv.finish()] == ["[DONE]"]
    assert conv.finish() == []
