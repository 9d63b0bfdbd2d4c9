"""``/api/token/*``: own-token isolation, masking and reveal, validation, status toggle, relay cache."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from newapi_host.auth.users import create_user
from newapi_host.db.tables import Token
from newapi_host.relay.errors import RelayError
from newapi_host.relay.keys import authenticate

from .conftest import Client, as_root, login, running

MASKED = re.compile(r"^[0-9A-Za-z]{4}\*{10}[0-9A-Za-z]{4}$")


@asynccontextmanager
async def another(client: Client) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser on the same running app (own cookies, own New-Api-User)."""
    transport = httpx.ASGITransport(app=client.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        yield other


async def create(client: httpx.AsyncClient, **body) -> dict:
    r = await client.post("/api/token/", json=body)
    assert r.status_code == 200 and r.json()["success"], r.text
    return r.json()["data"]


async def test_own_tokens_list_search_reveal_and_delete(db_config):
    async with running(db_config) as client:
        await as_root(client)
        await create_user("alice", "alice-pass-1")
        async with another(client) as alice:
            await login(alice, "alice", "alice-pass-1")
            first = await create(alice, name="first", remain_quota=1000)
            second = await create(alice, name="second_key", unlimited_quota=True, group="vip", model_limits="a,b")
            assert first["key"].startswith("sk-") and len(first["key"]) == 51

            body = (await alice.get("/api/token/")).json()
            assert body["success"] and body["data"]["total"] == 2 and body["data"]["page"] == 1
            items = body["data"]["items"]
            assert [t["id"] for t in items] == [second["id"], first["id"]]  # newest first
            for item, made in zip(items, (second, first), strict=True):
                assert MASKED.match(item["key"]), item["key"]
                raw = made["key"][3:]
                assert item["key"] == raw[:4] + "*" * 10 + raw[-4:]
            assert items[0]["group"] == "vip" and items[0]["unlimited_quota"] is True
            assert items[0]["model_limits"] == "a,b" and items[1]["remain_quota"] == 1000

            paged = (await alice.get("/api/token/", params={"p": 2, "page_size": 1})).json()["data"]
            assert paged["total"] == 2 and [t["id"] for t in paged["items"]] == [first["id"]]

            one = (await alice.get(f"/api/token/{first['id']}")).json()
            assert one["success"] and one["data"]["name"] == "first" and MASKED.match(one["data"]["key"])

            async def search(**params) -> list[int]:
                r = (await alice.get("/api/token/search", params=params)).json()
                assert r["success"], r
                return [t["id"] for t in r["data"]["items"]]

            assert await search(keyword="first") == [first["id"]]
            assert await search(keyword="fir") == []  # exact unless % is used
            assert await search(keyword="%ir%") == [first["id"]]
            assert await search(keyword="second%") == [second["id"]]
            assert await search(keyword="second_%") == [second["id"]]  # _ is literal
            assert await search(keyword="secon_key") == []
            assert await search(token=second["key"]) == [second["id"]]  # sk- is optional
            assert await search(token=second["key"][3:9] + "%") == [second["id"]]
            assert await search() == [second["id"], first["id"]]
            for bad in ("%%ab", "%a%b%c", "a%"):
                r = (await alice.get("/api/token/search", params={"keyword": bad})).json()
                assert r["success"] is False and "pattern" in r["message"], bad

            revealed = (await alice.post(f"/api/token/{first['id']}/key")).json()
            assert revealed["success"] and revealed["data"] == {"key": first["key"][3:]}
            keys = (await alice.post("/api/token/batch/keys", json={"ids": [first["id"], second["id"]]})).json()
            assert keys["data"]["keys"] == {str(first["id"]): first["key"][3:], str(second["id"]): second["key"][3:]}

            r = (await alice.delete(f"/api/token/{first['id']}")).json()
            assert r["success"], r
            row = await Token.select().where(Token.id == first["id"]).first()
            assert row is not None and row["deleted_at"] is not None  # soft delete
            assert (await alice.get(f"/api/token/{first['id']}")).json()["success"] is False
            assert (await alice.post(f"/api/token/{first['id']}/key")).json()["success"] is False
            assert (await alice.delete(f"/api/token/{first['id']}")).json()["success"] is False
            assert (await alice.get("/api/token/")).json()["data"]["total"] == 1

            third = await create(alice, name="third")
            ids = [second["id"], third["id"], first["id"], 99999]  # one already deleted, one unknown
            r = (await alice.post("/api/token/batch", json={"ids": ids})).json()
            assert r == {"success": True, "message": "", "data": 2}
            assert (await alice.get("/api/token/")).json()["data"]["total"] == 0


async def test_other_users_tokens_are_invisible_and_untouchable(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        await create_user("alice", "alice-pass-1")
        await create_user("bob", "bob-pass-123")
        async with another(client) as alice, another(client) as bob, another(client) as anonymous:
            await login(alice, "alice", "alice-pass-1")
            await login(bob, "bob", "bob-pass-123")
            token = await create(alice, name="alices", remain_quota=500)
            tid = token["id"]
            before = await Token.select().where(Token.id == tid).first()

            assert (await bob.get("/api/token/")).json()["data"]["total"] == 0
            assert (await bob.get("/api/token/search", params={"keyword": "alices"})).json()["data"]["items"] == []
            assert (await bob.get("/api/token/search", params={"token": token["key"]})).json()["data"]["items"] == []
            attempts = [
                bob.get(f"/api/token/{tid}"),
                bob.post(f"/api/token/{tid}/key"),
                bob.put("/api/token/", json={"id": tid, "name": "mine now", "remain_quota": 10**9}),
                bob.put("/api/token/?status_only=true", json={"id": tid, "status": 2}),
                bob.delete(f"/api/token/{tid}"),
            ]
            for attempt in attempts:
                r = await attempt
                assert r.status_code == 200 and r.json() == {"success": False, "message": "token not found"}
            r = (await bob.post("/api/token/batch", json={"ids": [tid]})).json()
            assert r["success"] and r["data"] == 0
            r = (await bob.post("/api/token/batch/keys", json={"ids": [tid]})).json()
            assert r["success"] and r["data"]["keys"] == {}
            assert await Token.select().where(Token.id == tid).first() == before

            # Root is no exception: tokens are per user on these routes.
            assert (await client.get(f"/api/token/{tid}")).json()["success"] is False

            routes = [
                ("GET", "/api/token/", None),
                ("GET", "/api/token/search", None),
                ("GET", f"/api/token/{tid}", None),
                ("POST", f"/api/token/{tid}/key", None),
                ("POST", "/api/token/batch/keys", {"ids": [tid]}),
                ("POST", "/api/token/", {"name": "x"}),
                ("PUT", "/api/token/", {"id": tid, "name": "x"}),
                ("PUT", "/api/token/?status_only=true", {"id": tid, "status": 2}),
                ("DELETE", f"/api/token/{tid}", None),
                ("POST", "/api/token/batch", {"ids": [tid]}),
            ]
            for method, path, body in routes:
                r = await anonymous.request(method, path, json=body)
                assert r.status_code == 401 and r.json()["success"] is False, (method, path)
                # A forged New-Api-User header without a session is still anonymous.
                r = await anonymous.request(method, path, json=body, headers={"New-Api-User": "2"})
                assert r.status_code == 401, (method, path)
            assert await Token.select().where(Token.id == tid).first() == before


async def test_token_bad_input(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        host = client.app.state.host
        past = int(time.time()) - 10
        for body, fragment in [
            ({"remain_quota": -1}, "remain_quota"),
            ({"remain_quota": "lots"}, "remain_quota"),
            ({"remain_quota": 10**30}, "remain_quota"),
            ({"remain_quota": 10**15}, "maximum"),
            ({"unlimited_quota": "maybe"}, "unlimited_quota"),
            ({"expired_time": 5}, "expired_time"),
            ({"expired_time": past}, "expired_time"),
            ({"expired_time": -2}, "expired_time"),
            ({"name": "n" * 60}, "name"),
            ({"name": 42}, "name"),
            ({"model_limits": "m" * 200_000}, "model_limits"),
            ({"allow_ips": "not-an-ip"}, "allow_ips"),
            ({"allow_ips": "10.0.0.0/8\n999.1.1.1"}, "999.1.1.1"),
            ({"group": "g" * 100}, "group"),
            ({"group": "secret-group"}, "not available"),
            ({"model_limits_enabled": [1]}, "model_limits_enabled"),
        ]:
            r = await client.post("/api/token/", json=body)
            assert r.status_code == 200 and r.json()["success"] is False, (body, r.text)
            assert fragment in r.json()["message"], (body, r.json())
        for raw in (b"{not json", b"[1]", b"", b'"text"'):
            r = await client.post("/api/token/", content=raw, headers={"Content-Type": "application/json"})
            assert r.json() == {"success": False, "message": "request body must be a JSON object"}, raw
        assert await Token.count() == 0  # nothing half-written

        # Usable groups: option UserUsableGroups plus the user's own group.
        await host.options.set_many({"UserUsableGroups": '{"default": "d", "team": "t"}'})
        assert (await client.post("/api/token/", json={"group": "team"})).json()["success"]
        assert (await client.post("/api/token/", json={"group": "vip"})).json()["success"] is False
        ok = (await client.post("/api/token/", json={"name": "ok", "allow_ips": "10.0.0.0/8, 192.168.1.7"})).json()
        assert ok["success"], ok
        tid = ok["data"]["id"]
        assert await Token.count() == 2

        # The per-user limit (New API's token_setting.max_user_tokens).
        await host.options.set_many({"token_setting.max_user_tokens": "2"})
        r = (await client.post("/api/token/", json={"name": "third"})).json()
        assert r["success"] is False and "maximum number of tokens (2)" in r["message"]
        await host.options.set_many({"token_setting.max_user_tokens": "1000"})

        before = await Token.select().where(Token.id == tid).first()
        for query, body, fragment in [
            ("", {"name": "x"}, "id"),
            ("", {"id": "abc"}, "id"),
            ("", {"id": tid, "remain_quota": -5}, "remain_quota"),
            ("", {"id": tid, "name": "n" * 51}, "name"),
            ("", {"id": tid, "expired_time": past}, "expired_time"),
            ("", {"id": tid, "group": "vip"}, "not available"),
            ("", {"id": tid, "allow_ips": "nope"}, "allow_ips"),
            ("", {"id": 10**6}, "token not found"),
            ("?status_only=true", {"id": tid, "status": 3}, "status"),
            ("?status_only=true", {"id": tid, "status": "off"}, "status"),
            ("?status_only=true", {"id": tid}, "status"),
            ("?status_only=true", {"status": 2}, "id"),
        ]:
            r = (await client.put(f"/api/token/{query}", json=body)).json()
            assert r["success"] is False and fragment in r["message"], (query, body, r)
        assert await Token.select().where(Token.id == tid).first() == before

        for body in ({}, {"ids": []}, {"ids": "1"}, {"ids": ["a"]}, {"ids": list(range(1001))}, [1]):
            r = (await client.post("/api/token/batch", json=body)).json()
            assert r["success"] is False and ("ids" in r["message"] or "JSON object" in r["message"]), body
        r = (await client.post("/api/token/batch/keys", json={"ids": list(range(1, 102))})).json()
        assert r["success"] is False and "100" in r["message"]
        assert (await client.get("/api/token/abc")).status_code in (400, 404)
        assert await Token.count() == 2

        # A full update that leaves the (unchanged) fields as they were, and ignores read-only ones.
        r = (await client.put("/api/token/", json={**before, "name": "renamed", "used_quota": 777, "key": "x"})).json()
        assert r["success"], r
        after = await Token.select().where(Token.id == tid).first()
        assert after == {**before, "name": "renamed"}


async def test_status_toggle_reaches_the_relay(db_config):
    async with running(db_config) as client:
        await as_root(client)
        keys = client.app.state.host.relay.keys
        made = await create(client, name="relay", remain_quota=5000)
        raw = made["key"][3:]
        entry = await keys.lookup(raw)
        assert entry is not None and entry.status == 1 and entry.remain_quota == 5000
        await authenticate(keys, made["key"], "127.0.0.1")

        r = (await client.put("/api/token/?status_only=true", json={"id": made["id"], "status": 2})).json()
        assert r["success"] and r["data"]["status"] == 2 and MASKED.match(r["data"]["key"])
        fresh = await keys.lookup(raw)
        assert fresh is not entry and fresh.status == 2
        with pytest.raises(RelayError) as err:
            await authenticate(keys, made["key"], "127.0.0.1")
        assert err.value.status == 401

        r = (await client.put("/api/token/?status_only=true", json={"id": made["id"], "status": 1})).json()
        assert r["success"] and (await keys.lookup(raw)).status == 1

        # A full update reaches the relay too.
        r = await client.put("/api/token/", json={"id": made["id"], "remain_quota": 42, "allow_ips": "10.1.0.0/16"})
        assert r.json()["success"], r.text
        entry = await keys.lookup(raw)
        assert entry.remain_quota == 42 and entry.ip_restricted
        with pytest.raises(RelayError):
            await authenticate(keys, made["key"], "127.0.0.1")

        # Expired or exhausted tokens cannot be switched back on.
        await Token.update({Token.status: 3, Token.expired_time: int(time.time()) - 5}).where(Token.id == made["id"])
        r = (await client.put("/api/token/?status_only=true", json={"id": made["id"], "status": 1})).json()
        assert r["success"] is False and "expired" in r["message"]
        await Token.update({Token.status: 4, Token.expired_time: -1, Token.remain_quota: 0}).where(
            Token.id == made["id"]
        )
        r = (await client.put("/api/token/?status_only=true", json={"id": made["id"], "status": 1})).json()
        assert r["success"] is False and "quota" in r["message"]
        assert (await Token.select(Token.status).where(Token.id == made["id"]).first())["status"] == 4
        r = (await client.put("/api/token/", json={"id": made["id"], "unlimited_quota": True})).json()
        assert r["success"]
        r = (await client.put("/api/token/?status_only=true", json={"id": made["id"], "status": 1})).json()
        assert r["success"] and r["data"]["status"] == 1

        # Deleting drops the key from the relay.
        assert (await client.delete(f"/api/token/{made['id']}")).json()["success"]
        assert await keys.lookup(raw) is None
