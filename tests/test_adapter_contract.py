"""What an adapter is handed: the body with the channel's model mapping already applied, and its
plugin's current settings; converters get their own plugin's settings and the client's wish for
stream usage."""

from __future__ import annotations

import json
import logging
import types

from pydantic import BaseModel

from newapi_host.plugins import hookimpl
from newapi_host.plugins.contracts import (
    ChannelType,
    ErrorVerdict,
    UpstreamCall,
    UpstreamRequest,
)

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

    def classify_error(self, status: int, body: bytes) -> ErrorVerdict | None:
        # this vendor answers 429 when it has suspended the account
        return ErrorVerdict(retry=False, disable_channel=True) if status == 429 else None


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


async def test_an_adapters_disable_verdict_is_acted_on_at_once(sqlite_config):
    """The status is a 429, which the status-code rules never count, and the error threshold is
    three: the adapter's verdict that the account is unusable still disables at once, as long as
    the admin lets channels be disabled automatically; otherwise it is logged."""
    up = shared_fake_openai()
    async with running(sqlite_config, extra={"pass": passing_plugin()}) as client:
        await as_root(client)
        await client.put("/api/option/", json={"key": "SelfUseModeEnabled", "value": True})
        model = "pass-fail-429"
        r = await client.post(
            "/api/channel/", json={"type": 19_001, "key": "sk-pass", "base_url": up.url, "models": model}
        )
        assert r.json()["success"], r.text
        channel = (await client.get("/api/channel/")).json()["data"]["items"][0]["id"]
        key = (await client.post("/api/token/", json={"name": "k", "unlimited_quota": True})).json()["data"]["key"]
        chat = {"model": model, "messages": [{"role": "user", "content": "hi"}]}

        async def ask_and_status() -> int:
            r = await client.post("/v1/chat/completions", json=chat, headers={"authorization": f"Bearer {key}"})
            assert r.status_code == 429
            return (await client.get(f"/api/channel/{channel}")).json()["data"]["status"]

        warnings: list[str] = []
        handler = logging.Handler(logging.WARNING)
        handler.emit = lambda record: warnings.append(record.getMessage())  # type: ignore[method-assign]
        logging.getLogger("newapi_host.relay.pipeline").addHandler(handler)  # (the app reconfigures the root)
        try:
            assert await ask_and_status() == 1  # automatic disabling is off (the default)...
        finally:
            logging.getLogger("newapi_host.relay.pipeline").removeHandler(handler)
        assert any("reports the account unusable" in w for w in warnings)  # ...so the verdict is logged
        await client.put("/api/option/", json={"key": "AutomaticDisableChannelEnabled", "value": True})
        assert await ask_and_status() == 3  # on: the first verdict disables


async def test_a_switched_off_provider_takes_its_channels_models_with_it(sqlite_config):
    """Its channels stop serving: the models leave /v1/models and a request says the model is not
    available (not that it has no price, which went with the plugin's defaults)."""
    up = shared_fake_openai()
    async with running(sqlite_config) as client:
        await as_root(client)
        model = "claude-3-5-haiku-20241022"  # priced by the Claude plugin's defaults
        r = await client.post("/api/channel/", json={"type": 14, "key": "sk-ant", "base_url": up.url, "models": model})
        assert r.json()["success"], r.text
        key = (await client.post("/api/token/", json={"name": "k", "unlimited_quota": True})).json()["data"]["key"]
        auth = {"authorization": f"Bearer {key}"}
        assert model in (await client.get("/v1/models", headers=auth)).text
        assert (await client.put("/api/plugins/claude", json={"enabled": False})).json()["success"]
        assert model not in (await client.get("/v1/models", headers=auth)).text
        chat = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        r = await client.post("/v1/chat/completions", json=chat, headers=auth)
        assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found", r.text
        assert (await client.put("/api/plugins/claude", json={"enabled": True})).json()["success"]
        assert model in (await client.get("/v1/models", headers=auth)).text
