"""Plugin registration, default prices and the count_tokens route."""

from __future__ import annotations

import httpx
import pytest

from newapi_claude import plugin
from newapi_claude.pricing import PRICING
from newapi_host.sdk import Registrar


def test_registration():
    registrar = Registrar("claude")
    plugin.newapi_register_providers(registry=registrar)
    c = registrar.contributions
    c.route_handlers = list(plugin.newapi_routes())
    assert [d.name for d in c.dialects] == ["claude.messages"]
    assert [ct.id for ct in c.channel_types] == [14]
    assert sorted((x.source, x.target) for x in c.converters) == [
        ("claude.messages", "openai.chat"),
        ("openai.chat", "claude.messages"),
    ]
    assert c.provides()["routes"] == ["POST /v1/messages", "POST /v1/messages/count_tokens"]


@pytest.mark.parametrize(
    ("model", "ratio", "completion"),
    [
        ("claude-3-haiku-20240307", 0.125, 5.0),
        ("claude-3-5-haiku-20241022", 0.5, 5.0),
        ("claude-haiku-4-5", 0.5, 5.0),
        ("claude-sonnet-4-5-20250929", 1.5, 5.0),
        ("claude-sonnet-4-5-thinking", 1.5, 5.0),
        ("claude-3-7-sonnet-20250219-thinking", 1.5, 5.0),
        ("claude-opus-4-1", 7.5, 5.0),
        ("claude-opus-4-20250514", 7.5, 5.0),
        ("claude-opus-4-5-20251101", 2.5, 5.0),
    ],
)
def test_prices(model, ratio, completion):
    tables = PRICING.tables()
    assert tables["ModelRatio"][model] == ratio
    assert tables["CompletionRatio"][model] == completion
    assert tables["CacheRatio"][model] == 0.1
    assert tables["CreateCacheRatio"][model] == 1.25


REQUEST = {
    "model": "claude-sonnet-4-5",
    "system": "You are helpful.",
    "messages": [{"role": "user", "content": "Hello, how are you today?"}],
}


def test_count_tokens(newapi_gateway):
    key = newapi_gateway.key()
    response = httpx.post(f"{newapi_gateway.url}/v1/messages/count_tokens", json=REQUEST, headers={"x-api-key": key})
    assert response.status_code == 200, response.text
    assert response.json()["input_tokens"] > 5


def test_count_tokens_needs_a_valid_key(newapi_gateway):
    url = f"{newapi_gateway.url}/v1/messages/count_tokens"
    response = httpx.post(url, json=REQUEST, headers={"authorization": "Bearer sk-nope"})
    assert response.status_code == 401
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "authentication_error"
    assert httpx.post(url, json=REQUEST).status_code == 401


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"{nope", "JSON"),
        (b'{"messages": []}', "model"),
        (b'{"model": "m", "messages": 7}', "$.messages"),
        (b'{"model": "m", "messages": [], "tools": 5}', "$.tools"),
    ],
)
def test_count_tokens_bad_body(newapi_gateway, raw, fragment):
    key = newapi_gateway.key()
    url = f"{newapi_gateway.url}/v1/messages/count_tokens"
    response = httpx.post(url, content=raw, headers={"x-api-key": key, "content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert fragment in response.json()["error"]["message"]
