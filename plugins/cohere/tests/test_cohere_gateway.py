"""Cohere channels end to end: the kit's gateway, the official SDKs, the fake Cohere API.

Every client format the gateway speaks reaches Cohere through the converter chain (Responses,
Anthropic and Gemini clients through ``openai.chat``), with a tool round trip, streaming and
not. Each answer's log row is checked against the pricing formula on the usage the fake billed:
quota = (billed input + billed output x completion ratio) x model ratio (group ratio 1).
"""

from __future__ import annotations

import base64
import json
import math
import struct

import anthropic
import openai
import pytest
from fake_cohere import KEY, PREAMBLE_TOKENS, FakeCohere, embedding
from google import genai
from google.genai import types as gtypes

from newapi_cohere.pricing import COMPLETION_RATIO, MODEL_RATIO

CHAT_MODEL = "command-a-03-2025"
QUESTION = "What is the weather in Paris? Use the get_weather tool."
RESULT = "Sunny, 21 C"
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.fixture(scope="module")
def channels(newapi_gateway, fake_cohere: FakeCohere) -> dict[str, int]:
    gw = newapi_gateway
    main = gw.channel(
        34,
        name="cohere-main",
        base_url=fake_cohere.url,
        key=KEY,
        models=[CHAT_MODEL, "command-a-reasoning-08-2025", "embed-v4.0"],
    )
    tuned = gw.channel(
        34,
        name="cohere-tuned",
        base_url=fake_cohere.url + "/v2",
        key=KEY,
        models=["command-r-08-2024", "embed-english-v3.0"],
        settings={"safety_mode": "STRICT", "embed_input_type": "search_query"},
    )
    return {"main": main, "tuned": tuned}


def expected_quota(model: str, billed: tuple[int, int]) -> int:
    quota = (billed[0] + billed[1] * COMPLETION_RATIO[model]) * MODEL_RATIO[model]
    return max(1, math.floor(quota + 0.5))


def check_billing(gw, token: str, model: str, sent: list[dict]) -> None:
    """One log row per upstream call, each charged by the formula on what the fake billed."""
    rows = gw.logs(token_name=token)
    assert [(r["prompt_tokens"], r["completion_tokens"]) for r in rows] == [r["billed"] for r in sent]
    assert [r["quota"] for r in rows] == [expected_quota(model, r["billed"]) for r in sent]
    assert all(r["model_name"] == model and not json.loads(r["other"])["usage_estimated"] for r in rows)


class Recorder:
    """The fake's records of the calls one test made."""

    def __init__(self, fake: FakeCohere) -> None:
        self.fake, self.start = fake, len(fake.requests)

    @property
    def calls(self) -> list[dict]:
        return self.fake.requests[self.start :]


# -- OpenAI chat -------------------------------------------------------------------------------


def test_openai_chat_answer_is_billed_on_billed_units(newapi_gateway, fake_cohere, channels):
    gw, seen = newapi_gateway, Recorder(fake_cohere)
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.key(name="co-chat"), max_retries=0)
    answer = client.chat.completions.create(
        model=CHAT_MODEL,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there Cohere"}],
        max_tokens=100,
        top_p=0.5,
    )
    assert answer.choices[0].message.content == "Hello from Cohere! You said: Hi there Cohere"
    assert answer.choices[0].finish_reason == "stop" and answer.model == CHAT_MODEL
    [call] = seen.calls
    assert call["path"] == "/v2/chat" and call["headers"]["authorization"] == f"Bearer {KEY}"
    assert call["json"] == {
        "model": CHAT_MODEL,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there Cohere"}],
        "max_tokens": 100,
        "p": 0.5,
        "stream": False,
    }
    billed = call["billed"]
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == billed  # not the preamble-inflated count
    assert billed[0] < billed[0] + PREAMBLE_TOKENS
    check_billing(gw, "co-chat", CHAT_MODEL, seen.calls)


def test_openai_chat_streams_carry_usage_only_when_asked_and_are_billed_either_way(
    newapi_gateway, fake_cohere, channels
):
    gw, seen = newapi_gateway, Recorder(fake_cohere)
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.key(name="co-stream"), max_retries=0)
    usages = {}
    for asked in (False, True):
        extra = {"stream_options": {"include_usage": True}} if asked else {}
        chunks = list(
            client.chat.completions.create(
                model=CHAT_MODEL, messages=[{"role": "user", "content": "stream me"}], stream=True, **extra
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "Hello from Cohere! You said: stream me"
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        usages[asked] = [(c.usage.prompt_tokens, c.usage.completion_tokens) for c in chunks if c.usage]
    assert all(call["json"]["stream"] is True for call in seen.calls)
    assert usages == {False: [], True: [seen.calls[1]["billed"]]}
    check_billing(gw, "co-stream", CHAT_MODEL, seen.calls)


def test_reasoning_effort_brings_thinking_back_as_reasoning_content(newapi_gateway, fake_cohere, channels):
    gw, seen = newapi_gateway, Recorder(fake_cohere)
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.key(name="co-think"), max_retries=0)
    model, ask = "command-a-reasoning-08-2025", [{"role": "user", "content": "Think first"}]
    answer = client.chat.completions.create(model=model, messages=ask, reasoning_effort="high")
    message = answer.choices[0].message
    assert message.content == "Hello from Cohere! You said: Think first"
    assert message.model_extra["reasoning_content"] == "The user wants an answer; keep it short."
    streamed = list(client.chat.completions.create(model=model, messages=ask, reasoning_effort="high", stream=True))
    reasoning = "".join((c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in streamed)
    assert reasoning == "The user wants an answer; keep it short."
    assert [call["json"]["thinking"] for call in seen.calls] == [{"type": "enabled"}] * 2
    check_billing(gw, "co-think", model, seen.calls)


# -- every client format, with a tool round trip -------------------------------------------------


def run_openai_chat(gw, key: str, stream: bool) -> tuple[str, str]:
    client = openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
    messages: list = [{"role": "user", "content": QUESTION}]

    def ask():
        if not stream:
            return client.chat.completions.create(model=CHAT_MODEL, messages=messages, tools=tools).choices[0].message
        with client.chat.completions.stream(model=CHAT_MODEL, messages=messages, tools=tools) as s:
            for _ in s:
                pass
            return s.get_final_completion().choices[0].message

    first = ask()
    call = first.tool_calls[0]
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert first.content == "I will call get_weather for Paris."  # Cohere's tool plan
    messages.append(first.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": RESULT})
    return ask().content, call.function.name


def run_openai_responses(gw, key: str, stream: bool) -> tuple[str, str]:
    client = openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0)
    tools = [{"type": "function", "name": "get_weather", "parameters": WEATHER}]
    inputs: list = [{"role": "user", "content": QUESTION}]

    def ask():
        if not stream:
            return client.responses.create(model=CHAT_MODEL, input=inputs, tools=tools)
        with client.responses.stream(model=CHAT_MODEL, input=inputs, tools=tools) as s:
            for _ in s:
                pass
            return s.get_final_response()

    first = ask()
    [call] = [item for item in first.output if item.type == "function_call"]
    inputs.append({"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments})
    inputs.append({"type": "function_call_output", "call_id": call.call_id, "output": RESULT})
    return ask().output_text, call.name


def run_anthropic(gw, key: str, stream: bool) -> tuple[str, str]:
    client = anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)
    tools = [{"name": "get_weather", "input_schema": WEATHER}]
    messages: list = [{"role": "user", "content": QUESTION}]

    def ask():
        if not stream:
            return client.messages.create(model=CHAT_MODEL, max_tokens=256, messages=messages, tools=tools)
        with client.messages.stream(model=CHAT_MODEL, max_tokens=256, messages=messages, tools=tools) as s:
            for _ in s:
                pass
            return s.get_final_message()

    first = ask()
    [use] = [b for b in first.content if b.type == "tool_use"]
    assert first.stop_reason == "tool_use" and use.input == {"city": "Paris"}
    messages.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
    messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": RESULT}]})
    second = ask()
    return "".join(b.text for b in second.content if b.type == "text"), use.name


def run_gemini(gw, key: str, stream: bool) -> tuple[str, str]:
    client = genai.Client(api_key=key, http_options=gtypes.HttpOptions(base_url=gw.url, api_version="v1beta"))
    declaration = gtypes.FunctionDeclaration(name="get_weather", parameters_json_schema=WEATHER)
    config = gtypes.GenerateContentConfig(
        tools=[gtypes.Tool(function_declarations=[declaration])],
        automatic_function_calling=gtypes.AutomaticFunctionCallingConfig(disable=True),
    )
    contents: list = [gtypes.Content(role="user", parts=[gtypes.Part(text=QUESTION)])]

    def ask() -> list:
        if not stream:
            return (
                client.models.generate_content(model=CHAT_MODEL, contents=contents, config=config)
                .candidates[0]
                .content.parts
            )
        parts = []
        for chunk in client.models.generate_content_stream(model=CHAT_MODEL, contents=contents, config=config):
            if chunk.candidates and chunk.candidates[0].content and chunk.candidates[0].content.parts:
                parts.extend(chunk.candidates[0].content.parts)
        return parts

    [call] = [p.function_call for p in ask() if p.function_call]
    assert call.args == {"city": "Paris"}
    contents.append(gtypes.Content(role="model", parts=[gtypes.Part(function_call=call)]))
    answer = gtypes.FunctionResponse(name="get_weather", response={"result": RESULT})
    contents.append(gtypes.Content(role="user", parts=[gtypes.Part(function_response=answer)]))
    return "".join(p.text or "" for p in ask()), call.name


RUNNERS = {
    "openai-chat": run_openai_chat,
    "openai-responses": run_openai_responses,
    "anthropic": run_anthropic,
    "gemini": run_gemini,
}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("client", list(RUNNERS))
def test_every_client_format_calls_a_tool_on_cohere(newapi_gateway, fake_cohere, channels, client, stream):
    gw, seen = newapi_gateway, Recorder(fake_cohere)
    token = f"co-{client}-{stream}"
    text, tool = RUNNERS[client](gw, gw.key(name=token), stream)
    assert tool == "get_weather"
    assert text.startswith("The tool said:") and RESULT in text
    first, second = (call["json"] for call in seen.calls)
    assert all(call["path"] == "/v2/chat" and call["json"]["stream"] is stream for call in seen.calls)
    assert [t["function"]["name"] for t in first["tools"]] == ["get_weather"]
    # The tool call went back to Cohere as Cohere wrote it, its result tied to its id.
    call_message = next(m for m in second["messages"] if m["role"] == "assistant")
    result_message = second["messages"][-1]
    assert call_message["tool_calls"][0]["function"]["name"] == "get_weather"
    assert json.loads(call_message["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert result_message["role"] == "tool"
    assert result_message["tool_call_id"] == call_message["tool_calls"][0]["id"]
    check_billing(gw, token, CHAT_MODEL, seen.calls)


# -- embeddings --------------------------------------------------------------------------------


def test_openai_embeddings_float_and_base64(newapi_gateway, fake_cohere, channels):
    gw, seen = newapi_gateway, Recorder(fake_cohere)
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.key(name="co-embed"), max_retries=0)
    texts = ["first text", "second text"]
    as_floats = client.embeddings.create(model="embed-v4.0", input=texts, encoding_format="float")
    raw = client.embeddings.with_raw_response.create(model="embed-v4.0", input=texts, encoding_format="base64")
    packed = [d["embedding"] for d in json.loads(raw.text)["data"]]
    as_base64 = [list(struct.unpack("<8f", base64.b64decode(p))) for p in packed]
    by_default = client.embeddings.create(model="embed-v4.0", input=texts)  # the SDK asks for base64 and decodes
    for response in (as_floats.data, by_default.data):
        assert [d.embedding for d in response] == [pytest.approx(embedding(t, 8), abs=1e-6) for t in texts]
    assert as_base64 == [pytest.approx(embedding(t, 8), abs=1e-6) for t in texts]
    assert as_floats.usage.prompt_tokens == seen.calls[0]["billed"][0]
    for call in seen.calls:
        assert call["path"] == "/v2/embed"
        assert call["json"] == {
            "model": "embed-v4.0",
            "texts": texts,
            "embedding_types": ["float"],
            "input_type": "search_document",
        }
    check_billing(gw, "co-embed", "embed-v4.0", seen.calls)


def test_channel_settings_choose_input_type_and_safety_mode(newapi_gateway, fake_cohere, channels):
    gw, seen = newapi_gateway, Recorder(fake_cohere)
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.key(name="co-tuned"), max_retries=0)
    vectors = client.embeddings.create(
        model="embed-english-v3.0", input="query", dimensions=16, encoding_format="float"
    )
    assert len(vectors.data[0].embedding) == 16
    ask = [{"role": "user", "content": "Hello"}]
    assert client.chat.completions.create(model="command-r-08-2024", messages=ask).choices[0].message.content
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
    answer = client.chat.completions.create(model="command-r-08-2024", messages=ask, tools=tools)
    assert answer.choices[0].message.tool_calls  # the fake refuses safety_mode with tools: it was not sent
    embed, plain, with_tools = (call["json"] for call in seen.calls)
    assert (embed["input_type"], embed["output_dimension"]) == ("search_query", 16)
    assert plain["safety_mode"] == "STRICT" and "safety_mode" not in with_tools
    assert [call["path"] for call in seen.calls] == ["/v2/embed", "/v2/chat", "/v2/chat"]  # base URL ended in /v2


# -- the channel tools and error handling --------------------------------------------------------


def test_fetch_models_reads_every_page_and_keeps_chat_and_embed_models(newapi_gateway, fake_cohere, channels):
    seen = Recorder(fake_cohere)
    answer = newapi_gateway.admin.get(f"/api/channel/fetch_models/{channels['main']}").json()
    assert answer["success"], answer
    assert answer["data"] == ["command-a-03-2025", "embed-v4.0", "command-r7b-12-2024"]
    assert [c["path"] for c in seen.calls] == [
        "/v1/models?page_size=1000",
        "/v1/models?page_size=1000&page_token=page-2",
    ]


def test_the_channel_test_reaches_cohere(newapi_gateway, fake_cohere, channels):
    seen = Recorder(fake_cohere)
    answer = newapi_gateway.admin.get(f"/api/channel/test/{channels['main']}").json()
    assert answer["success"], answer
    [call] = seen.calls
    assert call["path"] == "/v2/chat" and call["json"]["model"] == CHAT_MODEL


def test_cohere_has_no_balance_to_read(newapi_gateway, channels):
    answer = newapi_gateway.admin.get(f"/api/channel/update_balance/{channels['main']}").json()
    assert not answer["success"] and "not supported" in answer["message"]


def test_an_invalid_key_disables_the_channel_at_once(newapi_gateway, fake_cohere):
    gw = newapi_gateway
    channel = gw.channel(
        34, name="cohere-bad-key", base_url=fake_cohere.url, key="co-revoked", models=["command-r-plus"]
    )
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.key(), max_retries=0)
    gw.option("AutomaticDisableChannelEnabled", "true")
    try:
        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(model="command-r-plus", messages=[{"role": "user", "content": "hi"}])
    finally:
        gw.option("AutomaticDisableChannelEnabled", "false")
    status = gw.admin.get(f"/api/channel/{channel}").json()["data"]["status"]
    assert status == 3  # disabled automatically, after one error


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_llmock_cohere_emulation_is_served_too(newapi_gateway, llmock, stream):
    """A second Cohere emulation, written by others (llmock's ``/cohere/v2``), through the same plugin."""
    gw, model = newapi_gateway, "command-r7b-12-2024"
    gw.channel(34, name=f"cohere-llmock-{stream}", base_url=f"{llmock.url}/cohere", key="co-any", models=[model])
    token = f"co-llmock-{stream}"
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.key(name=token), max_retries=0)
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
    messages: list = [{"role": "user", "content": QUESTION}]
    usages = []

    def ask():
        if not stream:
            answer = client.chat.completions.create(model=model, messages=messages, tools=tools)
            usages.append((answer.usage.prompt_tokens, answer.usage.completion_tokens))
            return answer.choices[0].message
        options = {"include_usage": True}
        with client.chat.completions.stream(model=model, messages=messages, tools=tools, stream_options=options) as s:
            for _ in s:
                pass
            final = s.get_final_completion()
        usages.append((final.usage.prompt_tokens, final.usage.completion_tokens))
        return final.choices[0].message

    first = ask()
    [call] = first.tool_calls
    assert call.function.name == "get_weather" and isinstance(json.loads(call.function.arguments), dict)
    messages.append(first.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": RESULT})
    assert ask().content
    rows = gw.logs(token_name=token)
    assert [(r["prompt_tokens"], r["completion_tokens"]) for r in rows] == usages
    assert [r["quota"] for r in rows] == [expected_quota(model, u) for u in usages]
