"""Every official SDK against every upstream format, through the gateway, with a tool round trip.

Clients: ``openai`` (chat completions and responses), ``anthropic`` and ``google-genai``.
Upstreams: llmock speaking OpenAI, Anthropic and Gemini, over real HTTP. Each cell, streaming
and not, asks a question that makes the model call ``get_weather``, sends the tool result back,
and checks that the text, the tool call and the usage arrive intact and parse in the SDK.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import anthropic
import openai
import pytest
from google import genai
from google.genai import types as gtypes
from llmock.testing import LLMockServer

from .gateway import Gateway, start_gateway

UPSTREAMS = {"openai": (1, "/"), "anthropic": (14, "/anthropic"), "gemini": (24, "/gemini")}
CLIENTS = ["openai-chat", "openai-responses", "anthropic", "gemini"]
QUESTION = "What is the weather in Paris? Use the get_weather tool."
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "City name"}},
    "required": ["city"],
}


@pytest.fixture(scope="module")
def mock() -> Iterator[LLMockServer]:
    server = LLMockServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, mock: LLMockServer) -> Iterator[Gateway]:
    gateway = start_gateway(tmp_path_factory.mktemp("gw"))
    for name, (type_id, prefix) in UPSTREAMS.items():
        base = mock.url.rstrip("/") + (prefix if prefix != "/" else "")
        gateway.channel(base_url=base, models=[f"m-{name}"], type=type_id, key="llmock-test-key")
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def key(gw: Gateway) -> str:
    return gw.token(gw.user())


def run_openai_chat(gw: Gateway, key: str, model: str, stream: bool) -> tuple[str, str, int]:
    client = openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0)
    tools = [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "Weather of a city", "parameters": WEATHER_SCHEMA},
        }
    ]
    messages: list = [{"role": "user", "content": QUESTION}]

    def ask() -> tuple[str, list, int]:
        if not stream:
            r = client.chat.completions.create(model=model, messages=messages, tools=tools)
            m = r.choices[0].message
            calls = [(c.id, c.function.name, c.function.arguments) for c in m.tool_calls or []]
            return m.content or "", calls, r.usage.total_tokens
        text, calls, usage = "", {}, 0
        for chunk in client.chat.completions.create(
            model=model, messages=messages, tools=tools, stream=True, stream_options={"include_usage": True}
        ):
            if chunk.usage:
                usage = chunk.usage.total_tokens
            for choice in chunk.choices:
                text += choice.delta.content or ""
                for tc in choice.delta.tool_calls or []:
                    slot = calls.setdefault(tc.index, ["", "", ""])
                    slot[0] = tc.id or slot[0]
                    slot[1] = (tc.function.name if tc.function and tc.function.name else "") or slot[1]
                    slot[2] += (tc.function.arguments if tc.function and tc.function.arguments else "") or ""
        return text, [tuple(v) for _, v in sorted(calls.items())], usage

    _, calls, usage1 = ask()
    assert calls and calls[0][1] == "get_weather", calls
    call_id, name, arguments = calls[0]
    assert isinstance(json.loads(arguments), dict)
    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}],
        }
    )
    messages.append({"role": "tool", "tool_call_id": call_id, "content": "Sunny, 21 C"})
    text, calls2, usage2 = ask()
    return text, name, min(usage1, usage2)


def run_openai_responses(gw: Gateway, key: str, model: str, stream: bool) -> tuple[str, str, int]:
    client = openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0)
    tools = [
        {"type": "function", "name": "get_weather", "description": "Weather of a city", "parameters": WEATHER_SCHEMA}
    ]
    inputs: list = [{"role": "user", "content": QUESTION}]

    def ask():
        if stream:
            with client.responses.stream(model=model, input=inputs, tools=tools) as s:
                for _ in s:
                    pass
                return s.get_final_response()
        return client.responses.create(model=model, input=inputs, tools=tools)

    first = ask()
    calls = [item for item in first.output if item.type == "function_call"]
    assert calls and calls[0].name == "get_weather", first.output
    assert isinstance(json.loads(calls[0].arguments), dict)
    inputs.append(
        {"type": "function_call", "call_id": calls[0].call_id, "name": "get_weather", "arguments": calls[0].arguments}
    )
    inputs.append({"type": "function_call_output", "call_id": calls[0].call_id, "output": "Sunny, 21 C"})
    second = ask()
    return second.output_text, calls[0].name, min(first.usage.total_tokens, second.usage.total_tokens)


def run_anthropic(gw: Gateway, key: str, model: str, stream: bool) -> tuple[str, str, int]:
    client = anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)
    tools = [{"name": "get_weather", "description": "Weather of a city", "input_schema": WEATHER_SCHEMA}]
    messages: list = [{"role": "user", "content": QUESTION}]

    def ask():
        if stream:
            with client.messages.stream(model=model, max_tokens=512, messages=messages, tools=tools) as s:
                for _ in s:
                    pass
                return s.get_final_message()
        return client.messages.create(model=model, max_tokens=512, messages=messages, tools=tools)

    first = ask()
    uses = [b for b in first.content if b.type == "tool_use"]
    assert uses and uses[0].name == "get_weather" and first.stop_reason == "tool_use", first
    assert isinstance(uses[0].input, dict)
    messages.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
    messages.append(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "Sunny, 21 C"}]}
    )
    second = ask()
    text = "".join(b.text for b in second.content if b.type == "text")
    usage = min(
        first.usage.input_tokens + first.usage.output_tokens, second.usage.input_tokens + second.usage.output_tokens
    )
    return text, uses[0].name, usage


def run_gemini(gw: Gateway, key: str, model: str, stream: bool) -> tuple[str, str, int]:
    client = genai.Client(api_key=key, http_options=gtypes.HttpOptions(base_url=gw.url, api_version="v1beta"))
    tool = gtypes.Tool(
        function_declarations=[
            gtypes.FunctionDeclaration(
                name="get_weather", description="Weather of a city", parameters_json_schema=WEATHER_SCHEMA
            )
        ]
    )
    config = gtypes.GenerateContentConfig(
        tools=[tool], automatic_function_calling=gtypes.AutomaticFunctionCallingConfig(disable=True)
    )
    contents: list = [gtypes.Content(role="user", parts=[gtypes.Part(text=QUESTION)])]

    def ask():
        if not stream:
            r = client.models.generate_content(model=model, contents=contents, config=config)
            return r.candidates[0].content.parts, r.usage_metadata
        parts, usage = [], None
        for chunk in client.models.generate_content_stream(model=model, contents=contents, config=config):
            if chunk.candidates and chunk.candidates[0].content and chunk.candidates[0].content.parts:
                parts.extend(chunk.candidates[0].content.parts)
            usage = chunk.usage_metadata or usage
        return parts, usage

    parts, usage1 = ask()
    calls = [p.function_call for p in parts if p.function_call]
    assert calls and calls[0].name == "get_weather", parts
    contents.append(gtypes.Content(role="model", parts=[gtypes.Part(function_call=calls[0])]))
    contents.append(
        gtypes.Content(
            role="user",
            parts=[
                gtypes.Part(
                    function_response=gtypes.FunctionResponse(name="get_weather", response={"result": "Sunny, 21 C"})
                )
            ],
        )
    )
    parts2, usage2 = ask()
    text = "".join(p.text or "" for p in parts2 if not p.thought)
    return text, calls[0].name, min(usage1.total_token_count or 0, usage2.total_token_count or 0)


RUNNERS = {
    "openai-chat": run_openai_chat,
    "openai-responses": run_openai_responses,
    "anthropic": run_anthropic,
    "gemini": run_gemini,
}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("upstream", list(UPSTREAMS))
@pytest.mark.parametrize("client", CLIENTS)
def test_matrix(gw, key, client, upstream, stream):
    text, tool, usage = RUNNERS[client](gw, key, f"m-{upstream}", stream)
    assert tool == "get_weather"
    assert text.strip(), "the answer after the tool result is empty"
    assert usage > 0, "usage did not arrive"
    logs = [row for row in gw.logs(model_name=f"m-{upstream}") if row["quota"] > 0]
    assert logs, "nothing was charged"


def test_switching_a_format_plugin_off_removes_its_dialect_channels_and_converters(gw, key):
    host = gw.host
    chat = openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0)
    claude = anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)
    ask = [{"role": "user", "content": "hello"}]
    assert chat.chat.completions.create(model="m-anthropic", messages=ask).choices[0].message.content
    gw.run(host.states.set_enabled("claude", False))
    gw.run(host.watcher.changed("plugins"))
    try:
        with pytest.raises(anthropic.NotFoundError):  # /v1/messages is gone
            claude.messages.create(model="m-openai", max_tokens=16, messages=ask)
        with pytest.raises(openai.NotFoundError) as err:  # its only channel's type is switched off
            chat.chat.completions.create(model="m-anthropic", messages=ask)
        assert err.value.status_code == 404 and "is not available" in err.value.message
        assert chat.chat.completions.create(model="m-gemini", messages=ask).choices[0].message.content
    finally:
        gw.run(host.states.set_enabled("claude", True))
        gw.run(host.watcher.changed("plugins"))
    assert claude.messages.create(model="m-openai", max_tokens=16, messages=ask).content


@pytest.mark.parametrize("upstream", list(UPSTREAMS))
def test_openai_streams_carry_usage_only_when_asked_and_are_billed_either_way(gw: Gateway, upstream: str):
    """A converted stream withholds the usage chunk from a client that did not ask for it, as a
    native one does; the gateway still reads the upstream's usage and bills it."""
    uid = gw.user()
    client = openai.OpenAI(base_url=gw.base_url, api_key=gw.token(uid), max_retries=0)
    model = f"m-{upstream}"
    seen = {}
    for asked in (False, True):
        extra = {"stream_options": {"include_usage": True}} if asked else {}
        chunks = list(
            client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hi"}], stream=True, **extra
            )
        )
        seen[asked] = [c.usage.total_tokens for c in chunks if c.usage]
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert seen[False] == [] and len(seen[True]) == 1 and seen[True][0] > 0
    logs = gw.logs(user_id=uid)
    assert len(logs) == 2 and all(row["quota"] > 0 for row in logs)
    assert not any(json.loads(row["other"])["usage_estimated"] for row in logs)  # the upstream's own usage


def test_the_channel_test_reaches_every_upstream_format(gw: Gateway):
    """The test request is OpenAI chat, converted for Claude and Gemini channels on the way."""
    gw.option(**{"fetch_setting.allow_private_ip": "true", "fetch_setting.allowed_ports": "[]"})  # llmock is local
    root = gw.session(f"root-{id(gw)}", role=100)
    with contextlib.closing(root):
        channels = root.get("/api/channel/", params={"page_size": 100}).json()["data"]["items"]
        by_type = {c["type"]: c["id"] for c in channels if c["name"].startswith("ch-")}
        for type_id, _ in UPSTREAMS.values():
            r = root.get(f"/api/channel/test/{by_type[type_id]}").json()
            assert r["success"], (type_id, r)


def test_fetch_models_reaches_every_upstream_format(gw: Gateway):
    """Each provider plugin lists its upstream's models its own way (adapter capability)."""
    gw.option(**{"fetch_setting.allow_private_ip": "true", "fetch_setting.allowed_ports": "[]"})  # llmock is local
    root = gw.session(f"lister-{id(gw)}", role=100)
    with contextlib.closing(root):
        channels = root.get("/api/channel/", params={"page_size": 100}).json()["data"]["items"]
        by_type = {c["type"]: c["id"] for c in channels if c["name"].startswith("ch-")}
        listed = {t: root.get(f"/api/channel/fetch_models/{by_type[t]}").json() for t in (1, 14, 24)}
    assert all(answer["success"] and answer["data"] for answer in listed.values()), listed
    assert any(m.startswith("claude") for m in listed[14]["data"])
    assert any(m.startswith("gemini") for m in listed[24]["data"]) and not any("/" in m for m in listed[24]["data"])
