"""The Cohere adapter: URLs, headers, the stream flag, channel settings, error verdicts, model lists."""

from __future__ import annotations

import asyncio
import json

import pytest

from newapi_cohere.adapter import CohereAdapter, CohereChannelSettings, api_root
from newapi_host.sdk import ChannelView, ErrorVerdict, UpstreamCall, UpstreamFailed

ADAPTER = CohereAdapter()
CHAT = {"model": "command-a-03-2025", "messages": [{"role": "user", "content": "hi"}], "stream": False}


def call(body, *, dialect="cohere.chat", stream=False, base_url="https://api.cohere.com", **settings):
    channel = ChannelView(
        id=1, type=34, name="c", base_url=base_url, key="co-key", settings=CohereChannelSettings(**settings)
    )
    return UpstreamCall(
        channel=channel, dialect=dialect, model=body.get("model", ""), body=json.dumps(body).encode(), stream=stream
    )


@pytest.mark.parametrize(
    ("base", "root"),
    [
        ("https://api.cohere.com", "https://api.cohere.com"),
        ("https://api.cohere.com/", "https://api.cohere.com"),
        ("https://proxy.example/cohere/v2", "https://proxy.example/cohere"),
        ("https://proxy.example/cohere/v1/", "https://proxy.example/cohere"),
        ("", "https://api.cohere.com"),
    ],
)
def test_api_root(base, root):
    assert api_root(base) == root


def test_chat_request():
    request = ADAPTER.build_request(call(CHAT))
    assert (request.method, request.url) == ("POST", "https://api.cohere.com/v2/chat")
    assert request.headers["Authorization"] == "Bearer co-key"
    assert request.headers["Accept"] == "application/json"
    assert request.body == json.dumps(CHAT).encode()  # nothing to change: passed on as it came


def test_the_stream_flag_follows_the_call():
    request = ADAPTER.build_request(call(CHAT, stream=True))
    assert json.loads(request.body)["stream"] is True
    assert request.headers["Accept"] == "text/event-stream"
    request = ADAPTER.build_request(call({**CHAT, "stream": True}, stream=False))
    assert json.loads(request.body)["stream"] is False


def test_safety_mode_is_added_without_tools_or_documents_only():
    body = json.loads(ADAPTER.build_request(call(CHAT, safety_mode="STRICT")).body)
    assert body["safety_mode"] == "STRICT"
    tools = {**CHAT, "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}
    assert "safety_mode" not in json.loads(ADAPTER.build_request(call(tools, safety_mode="STRICT")).body)
    mine = {**CHAT, "safety_mode": "OFF"}
    assert json.loads(ADAPTER.build_request(call(mine, safety_mode="STRICT")).body)["safety_mode"] == "OFF"
    assert "safety_mode" not in json.loads(ADAPTER.build_request(call(CHAT, stream=True)).body)


def test_embed_request_gets_the_channel_input_type_unless_the_client_chose():
    body = {"model": "embed-v4.0", "texts": ["a"], "embedding_types": ["float"]}
    request = ADAPTER.build_request(call(body, dialect="cohere.embed"))
    assert request.url == "https://api.cohere.com/v2/embed" and "Accept" not in request.headers
    assert json.loads(request.body)["input_type"] == "search_document"
    request = ADAPTER.build_request(call(body, dialect="cohere.embed", embed_input_type="clustering"))
    assert json.loads(request.body)["input_type"] == "clustering"
    request = ADAPTER.build_request(call({**body, "input_type": "search_query"}, dialect="cohere.embed"))
    assert json.loads(request.body)["input_type"] == "search_query"


def test_settings_are_checked():
    with pytest.raises(ValueError):
        CohereChannelSettings(safety_mode="LOOSE")
    schema = CohereChannelSettings.model_json_schema()
    assert set(schema["properties"]) == {"safety_mode", "embed_input_type"}


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (401, ErrorVerdict(retry=True, disable_channel=True, status=401)),
        (498, ErrorVerdict(retry=True, disable_channel=True, status=401)),
        (429, ErrorVerdict(retry=True)),
        (400, None),
        (500, None),
        (503, None),
    ],
)
def test_classify_error(status, verdict):
    assert ADAPTER.classify_error(status, b'{"message": "whatever"}') == verdict


def test_no_balance_capability():
    assert not hasattr(ADAPTER, "read_balance")  # Cohere has no balance endpoint


PAGES = {
    "https://api.cohere.com/v1/models?page_size=1000": {
        "models": [
            {"name": "command-a-03-2025", "endpoints": ["chat", "generate"]},
            {"name": "rerank-v3.5", "endpoints": ["rerank"]},
            {"name": "mystery"},
            {"endpoints": ["chat"]},
        ],
        "next_page_token": "a b",
    },
    "https://api.cohere.com/v1/models?page_size=1000&page_token=a%20b": {
        "models": [{"name": "embed-v4.0", "endpoints": ["embed"]}]
    },
}


def test_list_models_follows_pages_and_keeps_chat_and_embed_models():
    seen = []

    async def fetch(url, *, headers=None):
        seen.append((url, headers))
        return PAGES[url]

    channel = ChannelView(id=1, type=34, name="c", base_url="https://api.cohere.com/v2", key="co-key")
    names = asyncio.run(ADAPTER.list_models(channel, fetch))
    assert names == ["command-a-03-2025", "mystery", "embed-v4.0"]
    assert [h for _, h in seen] == [{"Authorization": "Bearer co-key"}] * 2


def test_list_models_of_an_unexpected_shape_fails_readably():
    async def fetch(url, *, headers=None):
        return {"data": []}

    channel = ChannelView(id=1, type=34, name="c", base_url="", key="k")
    with pytest.raises(UpstreamFailed, match="unexpected shape"):
        asyncio.run(ADAPTER.list_models(channel, fetch))
