"""The admin plugin API: listing, switching on and off at run time, settings with validation."""

from __future__ import annotations

import asyncio
import time

import newapi_fixture_acme

from newapi_host.auth.users import create_user
from newapi_host.db.tables import PluginState

from .conftest import ROOT_PASSWORD, as_root, eventually, login, running, setup_root


def by_name(body: dict) -> dict[str, dict]:
    assert body["success"], body
    return {p["name"]: p for p in body["data"]}


async def test_list_shows_distribution_provides_errors_and_schema(sqlite_config):
    async with running(sqlite_config, "acme", "wallet", "broken", "rival") as client:
        await as_root(client)
        plugins = by_name((await client.get("/api/plugins")).json())
        acme = plugins["acme"]
        assert acme["distribution"] == "newapi_plugin_acme" and acme["version"] == "1.2.0"
        assert acme["enabled"] and acme["loaded"] and acme["load_error"] is None
        assert acme["provides"]["channel_types"] == [{"id": 9001, "name": "Acme"}]
        assert acme["provides"]["dialects"] == ["acme.chat"]
        assert sorted(acme["provides"]["routes"]) == ["GET /acme/hello", "POST /acme/v1/chat"]
        assert acme["provides"]["jobs"] == ["tick"]
        assert acme["provides"]["tables"] == ["newapi_fixture_acme_db.piccolo_app"]
        assert acme["settings_schema"]["properties"]["max_items"]["maximum"] == 100
        assert plugins["password"]["builtin"] is True
        assert plugins["wallet"]["provides"]["payment_methods"] == ["fakepay"]
        assert plugins["broken"]["loaded"] is False and "ModuleNotFoundError" in plugins["broken"]["load_error"]
        assert plugins["rival"]["load_error"] == "channel type 9001 is claimed by both plugin 'acme' and plugin 'rival'"
        assert plugins["rival"]["enabled"] is False


async def test_toggle_removes_routes_channel_types_and_methods_without_restart(db_config):
    async with running(db_config, "acme", "wallet") as client:
        await as_root(client)
        registry = client.app.state.host.registry
        assert (await client.get("/acme/hello")).json() == {"greeting": "hello", "max_items": 10}

        r = await client.put("/api/plugins/acme", json={"enabled": False})
        assert r.json()["success"] and r.json()["data"]["enabled"] is False
        assert (await client.get("/acme/hello")).status_code == 404
        assert registry.channel_type(9001) is None and registry.dialect("acme.chat") is None
        assert await PluginState.select(PluginState.enabled).where(PluginState.name == "acme").first() == {
            "enabled": False
        }

        await client.put("/api/plugins/wallet", json={"enabled": False})
        status = (await client.get("/api/status")).json()["data"]
        assert [m["id"] for m in status["login_methods"]] == ["password"]
        assert "fakepay" not in [m.id for m in registry.payment_methods()]

        r = await client.put("/api/plugins/acme", json={"enabled": True})
        assert r.json()["data"]["enabled"] is True
        assert (await client.get("/acme/hello")).status_code == 200
        assert registry.channel_type(9001).name == "Acme"

    # The choice survives a restart.
    async with running(db_config, "acme", "wallet") as client:
        assert client.app.state.host.registry.is_enabled("acme")
        assert not client.app.state.host.registry.is_enabled("wallet")


async def test_toggle_reaches_another_worker_within_two_seconds(db_config):
    async with running(db_config, "acme") as first, running(db_config, "acme") as second:
        await as_root(first)
        assert (await second.get("/acme/hello")).status_code == 200
        await first.put("/api/plugins/acme", json={"enabled": False})
        started = time.monotonic()
        while (await second.get("/acme/hello")).status_code != 404:
            assert time.monotonic() - started < 2, "the other worker still serves the disabled plugin"
            await asyncio.sleep(0.05)
        await first.put("/api/plugins/acme/settings", json={"greeting": "hi"})
        started = time.monotonic()
        await first.put("/api/plugins/acme", json={"enabled": True})
        while (await second.get("/acme/hello")).status_code != 200:
            assert time.monotonic() - started < 2
            await asyncio.sleep(0.05)
        assert (await second.get("/acme/hello")).json()["greeting"] == "hi"


async def test_toggle_bad_requests(sqlite_config):
    async with running(sqlite_config, "acme", "broken") as client:
        await as_root(client)
        for body in ({}, {"enabled": "yes"}, {"enabled": 1}, [], None):
            r = await client.put("/api/plugins/acme", json=body)
            assert r.status_code == 200 and r.json()["success"] is False
            assert "enabled" in r.json()["message"]
        r = await client.put("/api/plugins/acme", content=b"{oops")
        assert r.json()["success"] is False
        assert (await client.put("/api/plugins/nope", json={"enabled": True})).json()[
            "message"
        ] == "no plugin named 'nope' is installed"
        r = await client.put("/api/plugins/broken", json={"enabled": True})
        assert r.json()["success"] is False and "failed to load" in r.json()["message"]
        assert client.app.state.host.registry.is_enabled("acme")


async def test_blocked_plugin_is_listed_but_cannot_be_enabled(tmp_path):
    from newapi_host.config import Config

    config = Config(data_dir=tmp_path, session_secret="s", disabled_plugins=frozenset({"acme"}))
    async with running(config, "acme") as client:
        await as_root(client)
        acme = by_name((await client.get("/api/plugins")).json())["acme"]
        assert acme["blocked"] is True and acme["enabled"] is False and acme["loaded"] is False
        r = await client.put("/api/plugins/acme", json={"enabled": True})
        assert "NEWAPI_DISABLED_PLUGINS" in r.json()["message"]
        assert (await client.get("/acme/hello")).status_code == 404


async def test_settings_are_validated_by_the_plugin_model_and_take_effect(db_config):
    async with running(db_config, "acme") as client:
        await as_root(client)
        r = await client.get("/api/plugins/acme/settings")
        assert r.json()["data"]["settings"] == {"greeting": "hello", "max_items": 10, "api_secret": ""}
        assert r.json()["data"]["schema"]["title"] == "AcmeSettings"

        r = await client.put("/api/plugins/acme/settings", json={"greeting": "bonjour", "max_items": 500})
        body = r.json()
        assert body["success"] is False
        assert list(body["data"]["errors"]) == ["max_items"]
        assert "less than or equal to 100" in body["data"]["errors"]["max_items"]
        r = await client.put("/api/plugins/acme/settings", json={"max_items": "many"})
        assert list(r.json()["data"]["errors"]) == ["max_items"]
        assert (await client.get("/acme/hello")).json()["greeting"] == "hello"  # nothing half-written

        r = await client.put(
            "/api/plugins/acme/settings", json={"greeting": "bonjour", "max_items": 5, "api_secret": "s3cret"}
        )
        assert r.json()["success"], r.json()
        assert r.json()["data"]["settings"]["api_secret"] == "**********"
        assert (await client.get("/acme/hello")).json() == {"greeting": "bonjour", "max_items": 5}
        # Secrets are never sent back, and sending the mask back keeps the stored secret.
        got = (await client.get("/api/plugins/acme/settings")).json()["data"]["settings"]
        assert got["api_secret"] == "**********"
        await client.put("/api/plugins/acme/settings", json={**got, "greeting": "hallo"})
        assert client.app.state.host.states.settings("acme").api_secret.get_secret_value() == "s3cret"

        for bad in ([1, 2], "text"):
            r = await client.put("/api/plugins/acme/settings", json=bad)
            assert r.json() == {"success": False, "message": "request body must be a JSON object of settings"}
        assert (await client.get("/api/plugins/password/settings")).json()[
            "message"
        ] == "plugin 'password' has no settings"


async def test_invalid_stored_settings_fall_back_to_defaults_and_are_reported(sqlite_config):
    async with running(sqlite_config, "acme") as client:
        await as_root(client)
        await PluginState.insert(PluginState(name="acme", enabled=True, settings='{"max_items": 1000}')).on_conflict(
            target=PluginState.name, action="DO UPDATE", values=[PluginState.settings]
        )
        await client.app.state.host.states.load()
        assert (await client.get("/acme/hello")).json()["max_items"] == 10
        acme = by_name((await client.get("/api/plugins")).json())["acme"]
        assert "max_items" in acme["settings_error"]


async def test_role_matrix_for_plugin_routes(sqlite_config):
    async with running(sqlite_config, "acme") as client:
        await setup_root(client)
        await create_user("alice", "alice-pass-1")
        await create_user("adam", "adam-pass-1", role=10)
        routes = [
            ("GET", "/api/plugins", None, 10),
            ("GET", "/api/plugins/acme/settings", None, 10),
            ("PUT", "/api/plugins/acme", {"enabled": False}, 100),
            ("PUT", "/api/plugins/acme/settings", {"greeting": "x"}, 100),
        ]
        for method, path, body, _ in routes:
            r = await client.request(method, path, json=body)
            assert r.status_code == 401, (method, path)
            assert r.json()["success"] is False
        for username, password, role in (
            ("alice", "alice-pass-1", 1),
            ("adam", "adam-pass-1", 10),
            ("root", ROOT_PASSWORD, 100),
        ):
            await login(client, username, password)
            for method, path, body, needed in routes:
                r = await client.request(method, path, json=body)
                if role >= needed:
                    assert r.json()["success"], (username, method, path, r.text)
                else:
                    assert r.status_code == 403, (username, method, path)
                    assert r.json() == {"success": False, "message": "Unauthorized, insufficient privileges"}
            await client.get("/api/user/logout")


async def test_jobs_run_with_current_settings_and_pause_while_disabled(sqlite_config):
    newapi_fixture_acme.TICKS.clear()
    async with running(sqlite_config, "acme") as client:
        await as_root(client)
        ticks = newapi_fixture_acme.TICKS
        await eventually(lambda: ticks, what="a run of the plugin's job")
        await client.put("/api/plugins/acme/settings", json={"greeting": "tock"})
        await eventually(lambda: ticks[-1] == "tock", what="the job seeing its new settings")
        await client.put("/api/plugins/acme", json={"enabled": False})
        turns = client.app.state.host.jobs.turns
        start = turns["acme:tick"]
        await eventually(lambda: turns["acme:tick"] >= start + 2, what="the scheduler seeing the switch")
        paused_at = len(ticks)
        await eventually(lambda: turns["acme:tick"] >= start + 5, what="three more scheduler turns")
        assert len(ticks) == paused_at  # the job's turns come, but it does not run while switched off
