"""API keys page: the markup keys.js relies on, and the exact bodies it sends, through the real API."""

from __future__ import annotations

import re
import time

from newapi_host.auth.users import create_user
from newapi_host.config import Config
from newapi_host.db.tables import Token
from newapi_host.web.i18n import TRANSLATIONS
from newapi_host.web.layout import STATIC_FILES

from .conftest import Client, as_root, login, running


def key_body(**changes: object) -> dict:
    """What keys.js sends for POST /api/token/ (PUT adds ``id``): every writable field, always."""
    body = {
        "name": "ci-key",
        "remain_quota": 250_000,  # $0.50 at the default 500000 per USD
        "expired_time": -1,
        "unlimited_quota": False,
        "model_limits_enabled": False,
        "model_limits": "",
        "allow_ips": "",
        "group": "",
        "cross_group_retry": False,
    }
    return {**body, **changes}


async def as_alice(client: Client) -> None:
    await as_root(client)
    r = await client.post(
        "/api/channel/",
        json={"type": 1, "key": "sk-up", "base_url": "http://127.0.0.1:9", "models": "m-a,m-b", "name": "c"},
    )
    assert r.json()["success"], r.text
    await create_user("alice", "alice-pass-1", quota=10**9)
    client.cookies.clear()
    await login(client, "alice", "alice-pass-1")


async def test_keys_markup(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_alice(client)
        for lang in ("en", "zh"):
            client.cookies.set("lang", lang)
            html = (await client.get("/console/keys")).text
            form = re.search(r'<form[^>]*data-form="token".*?</form>', html, re.S).group(0)
            assert 'name="id"' in form and 'type="hidden"' in form
            assert re.search(r'name="name" type="text" required maxlength="50"', form)
            assert re.search(r'name="unlimited_quota" type="checkbox" checked', form)
            assert re.search(r'name="remain_quota" type="number" min="0"', form)
            assert 'name="expired_time" type="datetime-local"' in form
            for span in ("never", "1h", "1d", "1m"):
                assert f'data-expiry="{span}"' in form
            assert '<select name="group">' in form and '<option value="">' in form
            for name in ("cross_group_retry", "model_limits_enabled"):
                assert f'name="{name}" type="checkbox"' in form
            assert 'name="model_limits"' in form and "data-models" in form
            assert '<textarea name="allow_ips"' in form
            assert 'data-action="cancel-edit"' in form
            for hook in ("data-newkey", "data-copy", 'data-list="tokens"', 'data-page="prev"', 'data-page="next"'):
                assert hook in html, hook
            for key in ("keys_used", "keys_expiry", "keys_group", "keys_model_limits", "keys_allow_ips"):
                assert TRANSLATIONS[lang][key] in html, key
        js = STATIC_FILES["keys.js"].decode()
        for needle in (
            '"/api/token/?p="',
            '"/api/token/?status_only=true"',
            '"/key"',
            '"/api/user/self/groups"',
            '"/api/user/models"',
            '"data-action": action',
            '"data-id": tok.id',
        ):
            assert needle in js, needle
        for action in ("edit", "copy", "toggle", "delete"):
            assert f'button("{action}"' in js, action
        assert "innerHTML" not in js


async def test_create_edit_copy_round_trip(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_alice(client)
        groups = (await client.get("/api/user/self/groups")).json()["data"]
        assert "vip" in groups and {"ratio", "desc"} <= set(groups["vip"])
        assert (await client.get("/api/user/models")).json()["data"] == ["m-a", "m-b"]

        later = int(time.time()) + 86400
        sent = key_body(
            expired_time=later,
            model_limits_enabled=True,
            model_limits="m-a,m-b",
            allow_ips="10.0.0.0/8\n192.168.1.7",
            group="vip",
        )
        made = (await client.post("/api/token/", json=sent)).json()
        assert made["success"], made
        assert made["data"]["key"].startswith("sk-")

        page = (await client.get("/api/token/?p=1&page_size=50")).json()["data"]
        assert page["total"] == 1
        listed = page["items"][0]
        assert {k: listed[k] for k in sent} == sent
        assert listed["used_quota"] == 0 and listed["status"] == 1
        # the list masks the key; the copy action fetches the full one (New API answers it without "sk-")
        assert "*" in listed["key"]
        full = (await client.post(f"/api/token/{listed['id']}/key")).json()
        assert full["success"] and "sk-" + full["data"]["key"] == made["data"]["key"]

        # edit: the form is filled from GET /api/token/{id}, and PUT sends every field plus id
        shown = (await client.get(f"/api/token/{listed['id']}")).json()["data"]
        assert shown == listed
        edited = key_body(name="renamed", unlimited_quota=True, allow_ips="", group="", model_limits="m-b")
        r = (await client.put("/api/token/", json={"id": listed["id"], **edited})).json()
        assert r["success"], r
        again = (await client.get(f"/api/token/{listed['id']}")).json()["data"]
        assert {k: again[k] for k in edited} == edited

        # enable/disable
        for status in (2, 1):
            r = (await client.put("/api/token/?status_only=true", json={"id": listed["id"], "status": status})).json()
            assert r["success"] and r["data"]["status"] == status


async def test_errors_the_form_shows(sqlite_config: Config) -> None:
    """Each refusal names the field first, which keys.js uses to put it next to that input."""
    async with running(sqlite_config) as client:
        await as_alice(client)
        past = int(time.time()) - 60
        for change, field in (
            ({"expired_time": past}, "expired_time"),
            ({"remain_quota": -1}, "remain_quota"),
            ({"allow_ips": "10.0.0.0/8\nnot-an-ip"}, "allow_ips"),
            ({"group": "no-such-group"}, "group"),
            ({"name": "x" * 51}, "name"),
        ):
            r = (await client.post("/api/token/", json=key_body(**change))).json()
            assert r["success"] is False and r["message"].startswith(field), (change, r["message"])

        # An expired key keeps its (past) expiry when edited without touching it: the page sends it back as is.
        made = (await client.post("/api/token/", json=key_body())).json()["data"]
        await Token.update({Token.expired_time: past}).where(Token.id == made["id"])
        same = {"id": made["id"], **key_body(expired_time=past, name="kept")}
        r = (await client.put("/api/token/", json=same)).json()
        assert r["success"] and r["data"]["name"] == "kept" and r["data"]["expired_time"] == past
        r = (await client.put("/api/token/", json={"id": made["id"], **key_body(expired_time=past - 60)})).json()
        assert r["success"] is False and r["message"].startswith("expired_time")
        r = (await client.put("/api/token/?status_only=true", json={"id": made["id"], "status": 1})).json()
        assert r["success"] is False and "expired" in r["message"]


async def test_paging_past_fifty(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_alice(client)
        user_id = int(client.headers["New-Api-User"])
        await Token.insert(*(Token(user_id=user_id, key=f"k{i:047d}", name=f"bulk{i}") for i in range(51)))
        first = (await client.get("/api/token/?p=1&page_size=50")).json()["data"]
        second = (await client.get("/api/token/?p=2&page_size=50")).json()["data"]
        assert first["total"] == 51 and len(first["items"]) == 50 and len(second["items"]) == 1
