"""The gemini.generate dialect (peek, errors, usage, stream counter), channel type 24 and plugin wiring."""

from __future__ import annotations

import json

import httpx
import pytest

from newapi_gemini import plugin
from newapi_gemini.adapter import GeminiAdapter, GeminiChannelSettings, thinking_split
from newapi_gemini.dialect import GENERATE, estimate_prompt, peek, response_text, response_usage, stream_usage
from newapi_gemini.pricing import COMPLETION_RATIO, MODEL_RATIO
from newapi_host.sdk import ChannelView, InvalidRequest, Registrar, SSEEvent, UpstreamCall, Usage

BODY = b'{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":64}}'

# -- peek --------------------------------------------------------------------------------------


def test_peek_reads_model_and_action_from_path():
    p = peek(BODY, {"model_action": "gemini-2.5-pro:streamGenerateContent"})
    assert (p.model, p.stream, p.max_tokens, p.wants_usage) == ("gemini-2.5-pro", True, 64, True)
    p = peek(b"{}", {"model_action": "models/gemini-2.0-flash:generateContent"})
    assert (p.model, p.stream, p.max_tokens) == ("gemini-2.0-flash", False, None)
    # a model name with a colon in it keeps everything before the last one
    assert peek(b"{}", {"model_action": "tuned:v1:generateContent"}).model == "tuned:v1"
    assert peek(b"{}", {"model_action": "m:generateContent"}).n == 1
    assert peek(b'{"generationConfig":{"candidateCount":8}}', {"model_action": "m:generateContent"}).n == 8


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("gemini-2.5-pro:embedContent", "not supported yet"),
        ("gemini-2.5-pro:batchEmbedContents", "not supported yet"),
        ("gemini-2.5-pro:countTokens", "unknown action 'countTokens'"),
        ("gemini-2.5-pro", "unknown action"),
        (":generateContent", "model is required"),
    ],
)
def test_peek_rejects_bad_paths(action, message):
    with pytest.raises(InvalidRequest, match=message):
        peek(BODY, {"model_action": action})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"{nope", "not valid JSON"),
        (b"[]", "invalid request"),
        (b'{"contents":"hi"}', r"\$.contents"),
        (b'{"generationConfig":{"maxOutputTokens":"9"}}', "maxOutputTokens"),
        (b'{"generationConfig":{"maxOutputTokens":-1}}', "must not be negative"),
        (b'{"generationConfig":{"candidateCount":0}}', "candidateCount must be between 1 and 8"),
        (b'{"generationConfig":{"candidateCount":1000000000}}', "candidateCount must be between 1 and 8"),
        (b'{"generationConfig":{"candidateCount":"2"}}', "candidateCount"),
    ],
)
def test_peek_rejects_bad_bodies(body, message):
    with pytest.raises(InvalidRequest, match=message):
        peek(body, {"model_action": "gemini-2.5-pro:generateContent"})


# -- errors and usage --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (400, "INVALID_ARGUMENT"),
        (401, "UNAUTHENTICATED"),
        (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"),
        (429, "RESOURCE_EXHAUSTED"),
        (500, "INTERNAL"),
        (503, "UNAVAILABLE"),
        (502, "INTERNAL"),
    ],
)
def test_error_body_google_shape(status, name):
    body = json.loads(GENERATE.error_body(status, "boom", "new_api_error", "x"))
    assert body == {"error": {"code": status, "message": "boom", "status": name}}


def test_usage_from_response():
    body = {
        "candidates": [],
        "usageMetadata": {
            "promptTokenCount": 100,
            "candidatesTokenCount": 20,
            "thoughtsTokenCount": 30,
            "cachedContentTokenCount": 60,
            "toolUsePromptTokenCount": 5,
            "totalTokenCount": 155,
        },
    }
    assert response_usage(json.dumps(body).encode()) == Usage(
        prompt_tokens=105, completion_tokens=50, cached_tokens=60, reasoning_tokens=30
    )
    assert response_usage(b'{"candidates":[]}') is None
    assert response_usage(b"[1]") is None
    with pytest.raises(ValueError):
        response_usage(b"<html>")


def test_stream_counter_keeps_last_usage_and_finish():
    counter = stream_usage()
    chunk = {"candidates": [{"content": {"parts": [{"text": "Hello"}]}}], "usageMetadata": {"promptTokenCount": 7}}
    assert counter.feed(SSEEvent(json.dumps(chunk))) is False
    assert not counter.finished
    call = {"functionCall": {"name": "f", "args": {"a": 1}}}
    last = {
        "candidates": [{"content": {"parts": [call]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 3, "thoughtsTokenCount": 2},
    }
    assert counter.feed(SSEEvent(json.dumps(last))) is False
    assert counter.finished
    assert counter.feed(SSEEvent(json.dumps({"usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 4}})))
    assert counter.result() == Usage(prompt_tokens=7, completion_tokens=4)
    assert counter.output_text() == (0, 'Hellof{"a":1}')
    with pytest.raises(ValueError):
        counter.feed(SSEEvent("not json"))
    with pytest.raises(ValueError, match="error mid-stream"):
        counter.feed(SSEEvent('{"error":{"code":500,"message":"x"}}'))


def test_estimate_and_response_text():
    body = {
        "systemInstruction": {"parts": [{"text": "be nice"}]},
        "contents": [{"role": "user", "parts": [{"text": "hello world"}, {"inlineData": {"mimeType": "image/png"}}]}],
    }
    tokens = estimate_prompt(json.dumps(body).encode(), "gemini-2.5-pro")
    assert 258 < tokens < 300
    assert estimate_prompt(b"nope", "m") == 0
    response = {"candidates": [{"content": {"parts": [{"text": "a", "thought": True}, {"text": "b"}]}}]}
    assert response_text(json.dumps(response).encode()) == "ab"
    assert response_text(b"x") == ""


# -- adapter -----------------------------------------------------------------------------------


def _call(model="gemini-2.5-flash", stream=False, base="", other="", settings=None, body=BODY):
    channel = ChannelView(id=1, type=24, name="g", base_url=base, key="AIza-key", other=other, settings=settings)
    return UpstreamCall(channel=channel, dialect="gemini.generate", model=model, body=body, stream=stream)


def test_adapter_urls_and_versions():
    adapter = GeminiAdapter()
    req = adapter.build_request(_call())
    assert req.method == "POST"
    assert req.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    assert req.headers["x-goog-api-key"] == "AIza-key"
    assert req.body == BODY  # passed through untouched
    req = adapter.build_request(
        _call(stream=True, base="https://proxy.test/", settings=GeminiChannelSettings(api_version="v1"))
    )
    assert req.url == "https://proxy.test/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert adapter.build_request(_call(other="v1alpha")).url.endswith(
        "/v1alpha/models/gemini-2.5-flash:generateContent"
    )
    assert adapter.build_request(_call(base="https://p.test/v1beta")).url == (
        "https://p.test/v1beta/models/gemini-2.5-flash:generateContent"
    )


@pytest.mark.parametrize(
    ("model", "upstream", "thinking"),
    [
        ("gemini-2.5-flash-thinking", "gemini-2.5-flash", {"includeThoughts": True}),
        ("gemini-2.5-flash-nothinking", "gemini-2.5-flash", {"thinkingBudget": 0}),
        ("gemini-2.5-flash-thinking-2048", "gemini-2.5-flash", {"thinkingBudget": 2048, "includeThoughts": True}),
        ("gemini-2.5-flash-thinking-99999", "gemini-2.5-flash", {"thinkingBudget": 24576, "includeThoughts": True}),
        ("gemini-2.5-pro-thinking-10", "gemini-2.5-pro", {"thinkingBudget": 128, "includeThoughts": True}),
        ("gemini-2.5-pro-nothinking", "gemini-2.5-pro", None),  # 2.5 Pro cannot turn thinking off
        ("gemini-2.0-flash-thinking-exp", "gemini-2.0-flash-thinking-exp", None),
    ],
)
def test_adapter_thinking_suffixes(model, upstream, thinking):
    assert thinking_split(model)[0] == upstream
    req = GeminiAdapter().build_request(_call(model=model))
    assert f"/models/{upstream}:generateContent" in req.url
    body = json.loads(req.body)
    assert body["generationConfig"].get("thinkingConfig") == thinking
    assert body["generationConfig"]["maxOutputTokens"] == 64


def test_adapter_suffixes_can_be_switched_off():
    settings = GeminiChannelSettings(thinking_suffixes=False)
    req = GeminiAdapter().build_request(_call(model="gemini-2.5-flash-thinking", settings=settings))
    assert "/models/gemini-2.5-flash-thinking:" in req.url and req.body == BODY


def test_adapter_classifies_key_errors():
    adapter = GeminiAdapter()
    bad_key = b'{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT"}}'
    assert adapter.classify_error(400, bad_key).disable_channel
    assert adapter.classify_error(429, b"{}").retry
    assert adapter.classify_error(400, b'{"error":{"message":"bad"}}') is None


# -- plugin wiring -----------------------------------------------------------------------------


def test_registration_and_pricing():
    registrar = Registrar("gemini")
    plugin.newapi_register_providers(registry=registrar)
    c = registrar.contributions
    assert [d.name for d in c.dialects] == ["gemini.generate", "gemini.embed"]
    assert [(t.id, t.name, t.dialects) for t in c.channel_types] == [
        (24, "Gemini", ("gemini.generate", "gemini.embed"))
    ]
    assert {(v.source, v.target) for v in c.converters} == {
        ("gemini.generate", "openai.chat"),
        ("openai.chat", "gemini.generate"),
        ("gemini.embed", "openai.embeddings"),
        ("openai.embeddings", "gemini.embed"),
    }
    assert GENERATE.api_key_headers == ("x-goog-api-key", "authorization") and GENERATE.api_key_query == "key"
    # the plugin serves the /models/{model_action} routes itself and picks the dialect by action
    assert GENERATE.routes == () and all(d.routes == () for d in c.dialects)
    paths = {p for h in plugin.newapi_routes() for p in h.paths}
    assert {"/v1beta/models/{model_action:str}", "/v1/models/{model_action:str}"} <= paths
    assert MODEL_RATIO["gemini-2.5-pro"] == 0.625 and COMPLETION_RATIO["gemini-2.5-pro"] == 8
    assert MODEL_RATIO["gemini-2.5-flash"] == 0.15 and COMPLETION_RATIO["gemini-2.5-flash"] == pytest.approx(2.5 / 0.3)
    assert MODEL_RATIO["gemini-2.0-flash"] == 0.05 and COMPLETION_RATIO["gemini-2.0-flash"] == 4


METHODS = ["generateContent", "streamGenerateContent"]


def test_list_models_route(newapi_gateway):
    """The key's models in the Gemini API's list shape: its group's channels, narrowed by its allow-list."""
    gw = newapi_gateway
    gw.channel(24, base_url="http://127.0.0.1:9", models=["gemini-list-a", "gemini-list-b"])
    gw.channel(1, base_url="http://127.0.0.1:9", models=["gpt-list-c"])
    key = gw.key(model_limits_enabled=True, model_limits="gemini-list-b,gpt-list-c")
    r = httpx.get(f"{gw.url}/v1beta/models", headers={"x-goog-api-key": key})
    assert r.status_code == 200
    assert r.json() == {
        "models": [
            {
                "name": f"models/{m}",
                "displayName": m,
                "supportedGenerationMethods": ["generateContent", "streamGenerateContent"],
            }
            for m in ("gemini-list-b", "gpt-list-c")
        ]
    }
    assert httpx.get(f"{gw.url}/v1beta/models?key={key}").status_code == 200
    r = httpx.get(f"{gw.url}/v1beta/models?key=nope")
    assert r.status_code == 401
    assert r.json()["error"]["status"] == "UNAUTHENTICATED" and r.json()["error"]["code"] == 401


def test_routes_are_served_by_the_app(newapi_gateway):
    """With every installed plugin loaded, the Gemini routes exist and answer in Google's error shape."""
    for path in ("/v1beta/models/gemini-2.5-pro:generateContent", "/v1/models/gemini-2.5-pro:streamGenerateContent"):
        r = httpx.post(f"{newapi_gateway.url}{path}", params={"key": "nope"}, content=b"{}")
        assert r.status_code == 401
        assert r.json()["error"]["status"] == "UNAUTHENTICATED"
    r = httpx.get(f"{newapi_gateway.url}/v1beta/models", headers={"x-goog-api-key": "nope"})
    assert r.status_code == 401 and r.json()["error"]["code"] == 401
