"""The example plugin in docs/plugins.md loads and works, so the guide stays true."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

from newapi_host.plugins.manager import PluginHost

from .conftest import as_root, running

GUIDE = Path(__file__).parents[1] / "docs" / "plugins.md"


def example_module() -> types.ModuleType:
    text = GUIDE.read_text()
    block = re.search(r"<!-- example-plugin:start -->\n```python\n(.*?)```\n<!-- example-plugin:end -->", text, re.S)
    assert block, "the example plugin block is missing from docs/plugins.md"
    module = types.ModuleType("newapi_hello")
    sys.modules["newapi_hello"] = module  # pydantic resolves annotations through sys.modules
    exec(compile(block.group(1), str(GUIDE), "exec"), module.__dict__)
    return module


def test_example_registers_everything_it_claims():
    host = PluginHost()
    assert host.add("hello", example_module()), host.infos["hello"].load_error
    provides = host.registry.contributions("hello").provides()
    assert provides["channel_types"] == [{"id": 10001, "name": "Hello"}]
    assert provides["routes"] == ["GET /hello/ping"] and provides["jobs"] == ["refresh"]
    assert provides["priced_models"] == ["hello-1"]


async def test_example_route_serves_its_settings(sqlite_config):
    async with running(sqlite_config, extra={"hello": example_module()}) as client:
        await as_root(client)
        assert (await client.get("/hello/ping")).json() == {"greeting": "hello"}
        r = await client.put("/api/plugins/hello/settings", json={"greeting": "hi", "poll_seconds": 1})
        assert list(r.json()["data"]["errors"]) == ["poll_seconds"]
        await client.put("/api/plugins/hello/settings", json={"greeting": "hi"})
        assert (await client.get("/hello/ping")).json() == {"greeting": "hi"}


async def test_example_adapter_gets_the_mapped_model_and_its_settings(sqlite_config):
    """The guide's claims about the adapter hold: a channel of the example type with a model
    mapping sends the mapped model upstream, and the plugin's settings reach the adapter."""
    from .conftest import LOCAL_UPSTREAMS
    from .upstreams import shared_fake_openai

    up = shared_fake_openai()
    async with running(sqlite_config, extra={"hello": example_module()}) as client:
        await as_root(client)
        await client.app.state.host.options.set_many(LOCAL_UPSTREAMS)
        r = await client.post(
            "/api/channel/",
            json={"type": 10001, "key": "sk-hello", "base_url": up.url, "models": "hello-1",
                  "model_mapping": '{"hello-1": "hello-upstream"}'},
        )  # fmt: skip
        assert r.json()["success"], r.text
        await client.put("/api/plugins/hello/settings", json={"greeting": "bonjour"})
        key = (await client.post("/api/token/", json={"name": "k", "unlimited_quota": True})).json()["data"]["key"]
        chat = {"model": "hello-1", "messages": [{"role": "user", "content": "hi"}]}
        r = await client.post("/v1/chat/completions", json=chat, headers={"authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
        sent = up.requests_for("hello-upstream")[-1]
        assert sent["json"]["model"] == "hello-upstream" and sent["headers"]["x-greeting"] == "bonjour"
