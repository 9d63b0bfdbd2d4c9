"""What an adapter is handed: the body with the channel's model mapping already applied, and its
plugin's current settings; converters get their own plugin's settings and the client's wish for
stream usage."""

from __future__ import annotations

import json
import types

from pydantic import BaseModel

from newapi_host.plugins import hookimpl
from newapi_host.plugins.contracts import ChannelType, ConvertContext, Converter, UpstreamCall, UpstreamRequest
from newapi_host.relay.convert import step_contexts

from .conftest import LOCAL_UPSTREAMS, as_root, running
from .upstreams import shared_fake_openai


class PassSettings(BaseModel):
    tag: str = "first"


class PassThrough:
    """Sends the body exactly as handed over: it does not rewrite the model itself."""

    def build_request(self, call: UpstreamCall) -> UpstreamRequest:
        tag = call.settings.tag if isinstance(call.settings, PassSettings) else "none"
        return UpstreamRequest(
            "POST",
            f"{call.channel.base_url}/v1/chat/completions",
            {"authorization": f"Bearer {call.channel.key}", "content-type": "application/json", "x-tag": tag},
            call.body,
        )

    def classify_error(self, status: int, body: bytes) -> None:
        return None


def passing_plugin() -> types.SimpleNamespace:
    @hookimpl
    def newapi_register_providers(registry):  # type: ignore[no-untyped-def]
        registry.channel_type(ChannelType(id=19_001, name="Pass", dialects=("openai.chat",), adapter=PassThrough()))

    @hookimpl
    def newapi_plugin_settings():  # type: ignore[no-untyped-def]
        return PassSettings

    return types.SimpleNamespace(
        newapi_register_providers=newapi_register_providers, newapi_plugin_settings=newapi_plugin_settings
    )


async def test_adapters_get_the_mapped_model_and_their_plugins_settings(sqlite_config):
    up = shared_fake_openai()
    async with running(sqlite_config, extra={"pass": passing_plugin()}) as client:
        await as_root(client)
        for key, value in LOCAL_UPSTREAMS.items():
            await client.put("/api/option/", json={"key": key, "value": value})
        await client.put("/api/option/", json={"key": "SelfUseModeEnabled", "value": True})
        r = await client.post(
            "/api/channel/",
            json={"type": 19_001, "key": "sk-pass", "base_url": up.url, "models": "alias-m",
                  "model_mapping": json.dumps({"alias-m": "pass-upstream-m"})},
        )  # fmt: skip
        assert r.json()["success"], r.text
        key = (await client.post("/api/token/", json={"name": "k", "unlimited_quota": True})).json()["data"]["key"]
        chat = {"model": "alias-m", "messages": [{"role": "user", "content": "hi"}]}
        r = await client.post("/v1/chat/completions", json=chat, headers={"authorization": f"Bearer {key}"})
        assert r.status_code == 200 and r.json()["model"] == "pass-upstream-m", r.text
        sent = up.requests_for("pass-upstream-m")[-1]
        assert sent["json"]["model"] == "pass-upstream-m" and sent["headers"]["x-tag"] == "first"
        await client.put("/api/plugins/pass/settings", json={"tag": "second"})
        await client.post("/v1/chat/completions", json=chat, headers={"authorization": f"Bearer {key}"})
        assert up.requests_for("pass-upstream-m")[-1]["headers"]["x-tag"] == "second"


def test_each_converter_gets_its_own_settings_and_only_the_first_the_clients_usage_wish():
    def converter(source: str, target: str) -> Converter:
        return Converter(source, target, lambda b, c: b, lambda b, c: b, lambda c: None)  # type: ignore[arg-type,return-value]

    path = [converter("a", "b"), converter("b", "c")]
    a, b = PassSettings(tag="a"), PassSettings(tag="b")
    steps = step_contexts(path, ConvertContext(model="m", wants_usage=False), [a, b])
    assert [(s.settings, s.wants_usage, s.model) for s in steps] == [(a, False, "m"), (b, True, "m")]
