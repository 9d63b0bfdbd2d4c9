"""Redemption codes: admin CRUD, validation, roles, and redeeming exactly once under concurrency."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

import httpx

from newapi_host.api import redemptions
from newapi_host.auth.users import create_user
from newapi_host.db.tables import LOG_MANAGE, LOG_TOPUP, Log, Redemption, User

from .conftest import Client, as_root, login, running


@asynccontextmanager
async def another(client: Client) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=client.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        yield other


async def make_codes(client: httpx.AsyncClient, **body) -> list[str]:
    r = (await client.post("/api/redemption/", json=body)).json()
    assert r["success"], r
    return r["data"]


async def quota_of(username: str) -> int:
    return (await User.select(User.quota).where(User.username == username).first())["quota"]


async def test_admin_manages_codes(db_config):
    async with running(db_config) as client:
        await as_root(client)
        keys = await make_codes(client, name="promo", quota=5000, count=3)
        assert len(keys) == 3 and len(set(keys)) == 3 and all(len(k) == 32 and k.isalnum() for k in keys)
        later = int(time.time()) + 3600
        (single,) = await make_codes(client, name="single", expired_time=later)

        listed = (await client.get("/api/redemption/")).json()["data"]
        assert listed["total"] == 4 and [r["key"] for r in listed["items"]] == [single, *reversed(keys)]
        first = listed["items"][0]
        assert first["quota"] == 100 and first["status"] == 1 and first["expired_time"] == later  # default quota
        assert first["user_id"] == 1 and first["used_user_id"] == 0 and first["redeemed_time"] == 0
        rid = first["id"]

        assert (await client.get(f"/api/redemption/{rid}")).json()["data"]["key"] == single
        assert (await client.get("/api/redemption/99999")).json() == {
            "success": False,
            "message": "redemption code not found",
        }

        async def search(**params) -> list[int]:
            r = (await client.get("/api/redemption/search", params=params)).json()
            assert r["success"], r
            return [x["id"] for x in r["data"]["items"]]

        assert len(await search(keyword="pro")) == 3  # name prefix
        assert await search(keyword=str(rid)) == [rid]  # or id
        assert await search(keyword="%o") == []  # % is literal
        assert len(await search(status="1")) == 4

        r = (await client.put("/api/redemption/", json={"id": rid, "name": "renamed", "quota": 777})).json()
        assert r["success"] and r["data"]["name"] == "renamed" and r["data"]["quota"] == 777
        assert r["data"]["expired_time"] == later  # left out: kept
        r = (await client.put("/api/redemption/?status_only=true", json={"id": rid, "status": 2})).json()
        assert r["success"] and r["data"]["status"] == 2 and r["data"]["name"] == "renamed"
        assert await search(status="2") == [rid]

        # A used code cannot be switched back on.
        await create_user("carol", "carol-pass-1")
        async with another(client) as carol:
            await login(carol, "carol", "carol-pass-1")
            assert (await carol.post("/api/user/topup", json={"key": keys[0]})).json()["data"] == 5000
        used_id = (await Redemption.select(Redemption.id).where(Redemption.key == keys[0]).first())["id"]
        r = (await client.put("/api/redemption/?status_only=true", json={"id": used_id, "status": 1})).json()
        assert r["success"] is False and "used" in r["message"]
        assert await search(status="3") == [used_id]

        # Expired codes are found by status=expired and cleaned by DELETE /invalid.
        await Redemption.update({Redemption.expired_time: int(time.time()) - 5}).where(Redemption.key == keys[1])
        expired_id = (await Redemption.select(Redemption.id).where(Redemption.key == keys[1]).first())["id"]
        assert await search(status="expired") == [expired_id]
        r = (await client.delete("/api/redemption/invalid")).json()
        assert r == {"success": True, "message": "", "data": 3}  # used + disabled + expired
        remaining = (await client.get("/api/redemption/")).json()["data"]["items"]
        assert [x["key"] for x in remaining] == [keys[2]]

        r = (await client.delete(f"/api/redemption/{remaining[0]['id']}")).json()
        assert r["success"]
        assert (await client.delete(f"/api/redemption/{remaining[0]['id']}")).json()["success"] is False
        assert (await client.get("/api/redemption/")).json()["data"]["total"] == 0
        rows = await Redemption.select(Redemption.deleted_at)
        assert len(rows) == 4 and all(r["deleted_at"] is not None for r in rows)  # soft deletes
        # A deleted code cannot be redeemed.
        async with another(client) as carol:
            await login(carol, "carol", "carol-pass-1")
            r = (await carol.post("/api/user/topup", json={"key": keys[2]})).json()
            assert r == {"success": False, "message": "invalid redemption code"}


async def test_redemption_bad_input(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        past = int(time.time()) - 10
        for body, fragment in [
            ({"quota": 10}, "name"),
            ({"name": "", "quota": 10}, "name"),
            ({"name": "   ", "quota": 10}, "name"),
            ({"name": "x" * 21, "quota": 10}, "name"),
            ({"name": "x" * 100_000}, "name"),
            ({"name": 5}, "name"),
            ({"name": "ok", "quota": 0}, "quota"),
            ({"name": "ok", "quota": -100}, "quota"),
            ({"name": "ok", "quota": "many"}, "quota"),
            ({"name": "ok", "quota": 10**30}, "quota"),
            ({"name": "ok", "count": 0}, "count"),
            ({"name": "ok", "count": 101}, "count"),
            ({"name": "ok", "count": -1}, "count"),
            ({"name": "ok", "expired_time": past}, "expired_time"),
            ({"name": "ok", "expired_time": -1}, "expired_time"),
        ]:
            r = await client.post("/api/redemption/", json=body)
            assert r.status_code == 200 and r.json()["success"] is False, (body, r.text)
            assert fragment in r.json()["message"], (body, r.json())
        r = await client.post("/api/redemption/", content=b"{oops", headers={"Content-Type": "application/json"})
        assert r.json()["success"] is False
        assert await Redemption.count() == 0

        (key,) = await make_codes(client, name="x", quota=10)
        row = await Redemption.select().where(Redemption.key == key).first()
        for query, body, fragment in [
            ("", {"name": "y"}, "id"),
            ("", {"id": row["id"], "name": ""}, "name"),
            ("", {"id": row["id"], "name": "n" * 21}, "name"),
            ("", {"id": row["id"], "quota": 0}, "quota"),
            ("", {"id": row["id"], "expired_time": past}, "expired_time"),
            ("", {"id": 10**6, "name": "y"}, "not found"),
            ("?status_only=true", {"id": row["id"], "status": 3}, "status"),
            ("?status_only=true", {"id": row["id"]}, "status"),
        ]:
            r = (await client.put(f"/api/redemption/{query}", json=body)).json()
            assert r["success"] is False and fragment in r["message"], (query, body, r)
        assert await Redemption.select().where(Redemption.key == key).first() == row

        for body, fragment in [
            ({}, "provide"),
            ({"key": ""}, "provide"),
            ({"key": 123}, "provide"),
            ({"key": "k" * 5000}, "invalid"),
            ({"key": "no-such-code"}, "invalid"),
        ]:
            r = (await client.post("/api/user/topup", json=body)).json()
            assert r["success"] is False and fragment in r["message"], (body, r)
        assert await quota_of("root") == 100_000_000


async def test_roles(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        (key,) = await make_codes(client, name="x", quota=10)
        rid = (await Redemption.select(Redemption.id).first())["id"]
        await create_user("dave", "dave-pass-12")
        routes = [
            ("GET", "/api/redemption/", None),
            ("GET", "/api/redemption/search?keyword=x", None),
            ("GET", f"/api/redemption/{rid}", None),
            ("POST", "/api/redemption/", {"name": "x", "quota": 10}),
            ("PUT", "/api/redemption/", {"id": rid, "quota": 10**9}),
            ("PUT", "/api/redemption/?status_only=true", {"id": rid, "status": 2}),
            ("DELETE", "/api/redemption/invalid", None),
            ("DELETE", f"/api/redemption/{rid}", None),
        ]
        async with another(client) as dave, another(client) as anonymous:
            await login(dave, "dave", "dave-pass-12")
            for method, path, body in routes:
                r = await dave.request(method, path, json=body)
                assert r.status_code == 403 and r.json()["success"] is False, (method, path, r.text)
                assert key not in r.text
                r = await anonymous.request(method, path, json=body)
                assert r.status_code == 401 and r.json()["success"] is False, (method, path)
            r = await anonymous.post("/api/user/topup", json={"key": key})
            assert r.status_code == 401
            assert await Redemption.count() == 1
            assert (await Redemption.select().first())["status"] == 1
            # ... but a common user redeems.
            r = (await dave.post("/api/user/topup", json={"key": key})).json()
            assert r == {"success": True, "message": "", "data": 10}


async def test_redeem_messages_and_log(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        used, disabled, expired = await make_codes(client, name="x", quota=2500, count=3)
        await Redemption.update({Redemption.status: 2}).where(Redemption.key == disabled)
        await Redemption.update({Redemption.expired_time: int(time.time()) - 1}).where(Redemption.key == expired)
        await create_user("erin", "erin-pass-12", quota=100)
        async with another(client) as erin:
            erin_id = await login(erin, "erin", "erin-pass-12")
            r = (await erin.post("/api/user/topup", json={"key": f"  {used} "})).json()
            assert r == {"success": True, "message": "", "data": 2500}
            assert await quota_of("erin") == 2600
            row = await Redemption.select().where(Redemption.key == used).first()
            assert row["status"] == 3 and row["used_user_id"] == erin_id and row["redeemed_time"] >= time.time() - 5
            logs = await Log.select().where((Log.user_id == erin_id) & (Log.type == LOG_TOPUP))
            assert len(logs) == 1 and "2500" in logs[0]["content"] and logs[0]["username"] == "erin"

            for key, message in [
                (used, "this redemption code has already been used"),
                (disabled, "this redemption code is disabled"),
                (expired, "this redemption code has expired"),
                ("0" * 32, "invalid redemption code"),
            ]:
                r = (await erin.post("/api/user/topup", json={"key": key})).json()
                assert r == {"success": False, "message": message}, key
            assert await quota_of("erin") == 2600

            # The relay's cached wallet is refreshed by the redemption.
            (fresh,) = await make_codes(client, name="y", quota=400)
            made = (await erin.post("/api/token/", json={"name": "t", "unlimited_quota": True})).json()["data"]
            keys = client.app.state.host.relay.keys
            assert (await keys.lookup(made["key"][3:])).user_quota == 2600
            assert (await erin.post("/api/user/topup", json={"key": fresh})).json()["success"]
            assert (await keys.lookup(made["key"][3:])).user_quota == 3000


async def test_concurrent_redemptions_credit_once(db_config):
    async with running(db_config) as client:
        await as_root(client)
        # fifty top-ups from one address would meet New API's critical-route limit (20) first
        await client.app.state.host.options.set_many({"CriticalRateLimitCount": "0"})
        (key,) = await make_codes(client, name="race", quota=12345)
        names = [f"racer{i}" for i in range(5)]
        for name in names:
            await create_user(name, f"{name}-password")
        async with (
            another(client) as c0,
            another(client) as c1,
            another(client) as c2,
            another(client) as c3,
            another(client) as c4,
        ):
            racers = [c0, c1, c2, c3, c4]
            for name, racer in zip(names, racers, strict=True):
                await login(racer, name, f"{name}-password")
            # 50 attempts: ten from each of five users, all at once.
            results = await asyncio.gather(
                *[racers[i % 5].post("/api/user/topup", json={"key": key}) for i in range(50)]
            )
        bodies = [r.json() for r in results]
        assert all(r.status_code == 200 for r in results)
        winners = [b for b in bodies if b["success"]]
        assert len(winners) == 1 and winners[0]["data"] == 12345, bodies
        assert all(b["message"] == "this redemption code has already been used" for b in bodies if not b["success"])
        quotas = [await quota_of(name) for name in names]
        assert sorted(quotas) == [0, 0, 0, 0, 12345]
        row = await Redemption.select().where(Redemption.key == key).first()
        winner_id = (await User.select(User.id).where(User.username == names[quotas.index(12345)]).first())["id"]
        assert row["status"] == 3 and row["used_user_id"] == winner_id
        assert await Log.count().where(Log.type == LOG_TOPUP) == 1


async def test_codes_as_new_api_lists_them(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        made = int(time.time())
        await make_codes(client, name="promo", quota=5000, count=2)
        listed = (await client.get("/api/redemption/", params={"p": 1, "page_size": 10})).json()["data"]
        assert (listed["page"], listed["page_size"], listed["total"]) == (1, 10, 2)
        second = (await client.get("/api/redemption/", params={"p": 2, "page_size": 1})).json()["data"]
        assert [x["id"] for x in second["items"]] == [listed["items"][1]["id"]]  # newest first, page by page
        item = listed["items"][0]
        assert set(item) == {
            "id", "user_id", "key", "status", "name", "quota", "created_time", "redeemed_time", "used_user_id",
            "expired_time", "DeletedAt",
        }  # fmt: skip
        assert item["DeletedAt"] is None and made <= item["created_time"] <= time.time()
        audit = await Log.select(Log.content).where(Log.type == LOG_MANAGE)
        assert any("2 redemption code(s) 'promo' of 5000 quota" in row["content"] for row in audit), audit

        r = (await client.delete("/api/redemption/999")).json()
        assert r == {"success": False, "message": "redemption code not found"}
        r = (await client.post("/api/redemption/", json={"name": "   ", "quota": 10})).json()
        assert r["success"] is False and "must not be blank" in r["message"]


async def test_editing_a_code(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        (key,) = await make_codes(client, name="old", quota=10)
        rid = (await Redemption.select(Redemption.id).where(Redemption.key == key).first())["id"]
        # status_only=false (or 0) is an ordinary edit; a null field keeps its value
        for flag in ("false", "0", "FALSE"):
            r = await client.put(f"/api/redemption/?status_only={flag}", json={"id": rid, "quota": 20, "name": None})
            assert r.json()["success"] and r.json()["data"]["name"] == "old" and r.json()["data"]["quota"] == 20, flag
        r = (await client.put("/api/redemption/?status_only=1", json={"id": rid, "status": 2})).json()
        assert r["success"] and r["data"]["status"] == 2
        assert (await client.put("/api/redemption/?status_only=1", json={"id": rid, "status": 1})).json()["success"]
        await create_user("joy", "joy-pass-123")
        async with another(client) as joy:
            await login(joy, "joy", "joy-pass-123")
            assert (await joy.post("/api/user/topup", json={"key": key})).json()["data"] == 20
        r = (await client.put("/api/redemption/?status_only=true", json={"id": rid, "status": 2})).json()
        assert r == {"success": False, "message": "this redemption code has been used; its status cannot change"}


async def test_search_by_name_is_literal_and_status_filters_apply(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        for name in ("a_b", "axb", "x!y", "x!!y", "gone", "half%off", "old"):
            await make_codes(client, name=name, quota=10)
        await Redemption.update({Redemption.expired_time: int(time.time()) - 5}).where(Redemption.name == "old")
        ids = {r["name"]: r["id"] for r in await Redemption.select(Redemption.name, Redemption.id)}

        async def search(**params) -> list[str]:
            r = (await client.get("/api/redemption/search", params=params)).json()
            assert r["success"], r
            return sorted(x["name"] for x in r["data"]["items"])

        assert await search(keyword="a_") == ["a_b"]  # "_" is not a one-character wildcard
        assert await search(keyword="x!") == ["x!!y", "x!y"]
        assert await search(keyword="x!!") == ["x!!y"]
        await client.put("/api/redemption/?status_only=true", json={"id": ids["axb"], "status": 2})
        assert (await client.delete(f"/api/redemption/{ids['gone']}")).json()["success"]
        # deleted codes are found by no search; each status shows only its own codes
        assert await search(keyword="gon") == [] and await search(keyword=str(ids["gone"])) == []
        assert await search(keyword="half%") == ["half%off"]  # "%" is not a wildcard either
        assert await search(status="1") == ["a_b", "half%off", "x!!y", "x!y"]
        assert await search(status="2") == ["axb"]
        assert await search(status="3") == [] and await search(status="expired") == ["old"]
        assert await search(keyword="a", status="1") == ["a_b"]
        assert await search(keyword="a_", status="2") == [] and await search(keyword="x", status="expired") == []


async def test_a_code_is_valid_through_its_expiry_second(sqlite_config, monkeypatch):
    """New API expires a code once its time is past (ExpiredTime < now), not at that very second."""
    now = int(time.time()) + 100
    async with running(sqlite_config) as client:
        await as_root(client)
        monkeypatch.setattr(redemptions, "time", SimpleNamespace(time=lambda: now))
        last, spent = await make_codes(client, name="last-second", quota=10, count=2, expired_time=now)
        await create_user("ivy", "ivy-pass-123")

        async def search(status: str) -> int:
            return (await client.get("/api/redemption/search", params={"status": status})).json()["data"]["total"]

        assert (await search("1"), await search("expired")) == (2, 0)
        assert (await client.delete("/api/redemption/invalid")).json()["data"] == 0
        async with another(client) as ivy:
            await login(ivy, "ivy", "ivy-pass-123")
            assert (await ivy.post("/api/user/topup", json={"key": spent})).json()["data"] == 10
            monkeypatch.setattr(redemptions, "time", SimpleNamespace(time=lambda: now + 1))
            assert (await search("1"), await search("expired")) == (0, 1)
            r = (await ivy.post("/api/user/topup", json={"key": last})).json()
            assert r == {"success": False, "message": "this redemption code has expired"}
        assert (await client.delete("/api/redemption/invalid")).json()["data"] == 2  # the used and the expired
        r = (await client.post("/api/redemption/", json={"name": "late", "expired_time": now})).json()
        assert r == {"success": False, "message": "expired_time must be 0 (never) or a time in the future"}


async def test_a_redeemed_code_reaches_the_live_balance(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        await client.app.state.host.options.set_many({"QuotaPerUnit": "1000"})
        (key,) = await make_codes(client, name="gift", quota=2500)
        code_id = (await Redemption.select(Redemption.id).where(Redemption.key == key).first())["id"]
        user = await create_user("zed", "zed-pass-123", quota=100)
        wallets = client.app.state.host.wallets
        await wallets.seed(user["id"], None)  # the relay has used this wallet: its balance is live
        async with another(client) as zed:
            await login(zed, "zed", "zed-pass-123")
            for body, message in [
                (b"[1]", 'please provide a redemption code: {"key": "..."}'),
                (b'{"key": "  "}', 'please provide a redemption code: {"key": "..."}'),
                (b'{"key": "%s"}' % (b"k" * 65), "invalid redemption code"),
            ]:
                r = await zed.post("/api/user/topup", content=body, headers={"content-type": "application/json"})
                assert r.json() == {"success": False, "message": message}, body
            started = int(time.time())
            assert (await zed.post("/api/user/topup", json={"key": key})).json()["data"] == 2500
        assert await quota_of("zed") == 2600 == await wallets.store.get(f"u{user['id']}")
        (entry,) = await Log.select().where((Log.user_id == user["id"]) & (Log.type == LOG_TOPUP))
        assert entry["content"] == f"Redeemed code #{code_id}: +2500 quota ($2.500000)"
        assert entry["created_at"] >= started and entry["username"] == "zed"
