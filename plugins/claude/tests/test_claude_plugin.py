"""Plugin registration, default prices and the count_tokens route."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from newapi_claude import plugin
from newapi_claude.count_tokens import count_tokens
from newapi_claude.pricing import PRICING
from newapi_host.plugins.registry import Registrar, Registry, routes_of
from newapi_host.relay.keys import TokenEntry


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
    assert routes_of(c.route_handlers) == ["POST /v1/messages/count_tokens"]
    Registry().add(c)  # no conflicts within the plugin


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


class FakeKeys:
    def __init__(self, entry: TokenEntry | None) -> None:
        self.entry = entry
        self.asked: list[str] = []

    async def lookup(self, key: str) -> TokenEntry | None:
        self.asked.append(key)
        return self.entry


def entry() -> TokenEntry:
    return TokenEntry(
        id=1,
        key="abc",
        name="t",
        status=1,
        expired_time=-1,
        remain_quota=100,
        unlimited_quota=True,
        model_limits=None,
        networks=(),
        ip_restricted=False,
        group="",
        user_id=1,
        username="u",
        user_status=1,
        role=1,
        user_group="default",
        user_quota=1000,
        loaded_at=time.monotonic(),
    )


def client(keys: FakeKeys) -> TestClient:
    app = Litestar(route_handlers=[count_tokens])
    app.state.host = SimpleNamespace(relay=SimpleNamespace(keys=keys))
    return TestClient(app)


REQUEST = {
    "model": "claude-sonnet-4-5",
    "system": "You are helpful.",
    "messages": [{"role": "user", "content": "Hello, how are you today?"}],
}


def test_count_tokens():
    keys = FakeKeys(entry())
    with client(keys) as c:
        response = c.post("/v1/messages/count_tokens", json=REQUEST, headers={"x-api-key": "sk-abc"})
    assert response.status_code == 200
    assert response.json()["input_tokens"] > 5
    assert keys.asked == ["abc"]


def test_count_tokens_needs_a_valid_key():
    with client(FakeKeys(None)) as c:
        response = c.post("/v1/messages/count_tokens", json=REQUEST, headers={"authorization": "Bearer sk-nope"})
        assert response.status_code == 401
        assert response.json()["type"] == "error"
        assert response.json()["error"]["type"] == "authentication_error"
        missing = c.post("/v1/messages/count_tokens", json=REQUEST)
        assert missing.status_code == 401


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"{nope", "JSON"),
        (b'{"messages": []}', "model"),
        (b'{"model": "m", "messages": 7}', "$.messages"),
        (b'{"model": "m", "messages": [], "tools": 5}', "$.tools"),
    ],
)
def test_count_tokens_bad_body(raw, fragment):
    with client(FakeKeys(entry())) as c:
        response = c.post("/v1/messages/count_tokens", content=raw, headers={"x-api-key": "sk-abc"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert fragment in response.json()["error"]["message"]
