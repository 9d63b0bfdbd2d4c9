"""Dashboard data: the ledger's hourly ``quota_data`` sums equal the consume logs; ``/api/data/*``."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from newapi_host.auth.users import create_user
from newapi_host.billing.ledger import Charge
from newapi_host.db.tables import LOG_CONSUME, Channel, Log, QuotaData, Token

from .conftest import Client, as_root, login, running
from .upstreams import shared_fake_openai

HOUR = 3600
NOW = int(time.time())
THIS_HOUR = NOW - NOW % HOUR


@asynccontextmanager
async def browser(client: Client) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=client.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        yield other


def charge(user: dict, model: str, created_at: int, quota: int, prompt: int, completion: int, **extra) -> Charge:
    log = {
        "user_id": user["id"],
        "created_at": created_at,
        "type": LOG_CONSUME,
        "content": "",
        "username": user["username"],
        "token_name": "t",
        "model_name": model,
        "quota": quota,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "use_time": 1,
        "is_stream": False,
        "channel_id": extra.get("channel_id", 1),
        "token_id": extra.get("token_id", 1),
        "group": extra.get("group", "default"),
        "ip": "",
        "request_id": f"r{created_at}{quota}",
        "upstream_request_id": "",
        "other": "{}",
    }
    return Charge(
        user_id=user["id"],
        token_id=log["token_id"],
        channel_id=log["channel_id"],
        quota=quota,
        token_unlimited=True,
        log=log,
    )


KEY = ("user_id", "model_name", "use_group", "token_id", "channel_id")


async def sums_match() -> dict:
    """Assert quota_data equals the consume logs per bucket; return the buckets."""
    expected: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in await Log.select().where(Log.type == LOG_CONSUME):
        key = (row["user_id"], row["model_name"], row["group"], row["token_id"], row["channel_id"])
        bucket = expected[(*key, row["created_at"] - row["created_at"] % HOUR)]
        bucket[0] += 1
        bucket[1] += row["quota"]
        bucket[2] += row["prompt_tokens"] + row["completion_tokens"]
    got = {}
    for row in await QuotaData.select():
        key = (*(row[k] for k in KEY), row["created_at"])
        assert key not in got, key  # one row per bucket
        assert row["node_name"] == ""
        got[key] = [row["count"], row["quota"], row["token_used"]]
    assert got == dict(expected)
    return got


ROUTES = [
    ("/api/data/?start_timestamp=0&end_timestamp=1", 10),
    ("/api/data/users?start_timestamp=0&end_timestamp=1", 10),
    ("/api/data/self?start_timestamp=0&end_timestamp=1", 1),
    ("/api/data/flow?start_timestamp=1&end_timestamp=2", 10),
    ("/api/data/flow/self?start_timestamp=1&end_timestamp=2", 1),
]


async def test_data_routes_roles(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        await create_user("commoner", "commoner-1")
        await create_user("adminna", "adminna-1", role=10)
        async with browser(client) as anon:
            for path, _ in ROUTES:
                r = await anon.get(path)
                assert r.status_code == 401 and r.json()["success"] is False, path
        for name, password, role in (("commoner", "commoner-1", 1), ("adminna", "adminna-1", 10)):
            async with browser(client) as who:
                await login(who, name, password)
                for path, needed in ROUTES:
                    r = await who.get(path)
                    assert r.status_code == (200 if role >= needed else 403), (name, path, r.text)
        for path, _ in ROUTES:
            assert (await client.get(path)).json() == {"success": True, "message": "", "data": []}, path


async def test_ledger_aggregates_hourly_and_routes_answer(db_config):
    async with running(db_config) as client:
        await as_root(client)
        ledger = client.app.state.host.relay.ledger
        alice = await create_user("alice", "alice-pass-1", quota=10**9)
        bob = await create_user("bob", "bob-pass-1", quota=10**9)
        earlier = THIS_HOUR - HOUR
        for c in (
            charge(alice, "gpt-4o", earlier + 5, 100, 10, 5),
            charge(alice, "gpt-4o", earlier + 3000, 50, 4, 1),
            charge(alice, "gpt-4o", THIS_HOUR + 1, 70, 7, 0),
            charge(alice, "gpt-4o-mini", THIS_HOUR + 2, 9, 2, 2, group="vip", token_id=2, channel_id=2),
            charge(bob, "gpt-4o", earlier + 10, 1000, 100, 50),
        ):
            ledger.settle(c)
        await ledger.flush()
        await sums_match()
        # a second flush adds to the same buckets
        ledger.settle(charge(alice, "gpt-4o", THIS_HOUR + 30, 30, 3, 3))
        ledger.settle(charge(bob, "gpt-4o", earlier + 20, 1, 1, 1))
        no_log = charge(bob, "gpt-4o", earlier + 20, 5, 1, 1)
        no_log.log = None  # consume logs off: nothing to aggregate either
        ledger.settle(no_log)
        await ledger.flush()
        got = await sums_match()
        assert got[(alice["id"], "gpt-4o", "default", 1, 1, THIS_HOUR)] == [2, 100, 13]
        assert got[(bob["id"], "gpt-4o", "default", 1, 1, earlier)] == [2, 1001, 152]

        span = {"start_timestamp": earlier, "end_timestamp": THIS_HOUR}
        body = (await client.get("/api/data/", params=span)).json()
        assert body["success"] and body["message"] == ""
        by_model = {(r["model_name"], r["created_at"]): (r["count"], r["quota"], r["token_used"]) for r in body["data"]}
        assert by_model == {
            ("gpt-4o", earlier): (4, 1151, 172),
            ("gpt-4o", THIS_HOUR): (2, 100, 13),
            ("gpt-4o-mini", THIS_HOUR): (1, 9, 4),
        }
        row = body["data"][0]
        assert set(row) == {
            "id", "user_id", "username", "model_name", "created_at", "use_group", "token_id", "channel_id",
            "node_name", "token_used", "count", "quota",
        }  # fmt: skip
        assert row["id"] == 0 and row["user_id"] == 0 and row["username"] == ""  # not grouped by: zero values
        only_bob = (await client.get("/api/data/", params={**span, "username": "bob"})).json()["data"]
        assert [(r["username"], r["user_id"], r["quota"]) for r in only_bob] == [("bob", bob["id"], 1001)]
        narrow = await client.get("/api/data/", params={"start_timestamp": THIS_HOUR, "end_timestamp": NOW})
        assert {r["created_at"] for r in narrow.json()["data"]} == {THIS_HOUR}
        users = (await client.get("/api/data/users", params=span)).json()["data"]
        assert {(r["username"], r["created_at"]): r["quota"] for r in users} == {
            ("alice", earlier): 150,
            ("alice", THIS_HOUR): 109,
            ("bob", earlier): 1001,
        }

        flow = (await client.get("/api/data/flow", params=span)).json()["data"]  # root: tokens too
        assert flow[0] == {
            "user_id": bob["id"],
            "username": "bob",
            "token_id": 1,  # no such token row: token_name left out, as New API's omitempty
            "use_group": "default",
            "channel_id": 1,
            "channel_name": "channel-1",
            "model_name": "gpt-4o",
            "token_used": 152,
            "count": 2,
            "quota": 1001,
        }
        assert [r["quota"] for r in flow] == sorted((r["quota"] for r in flow), reverse=True)
        for params in ({}, {"start_timestamp": 5}, {"start_timestamp": 5, "end_timestamp": 4}):
            assert (await client.get("/api/data/flow", params=params)).json()["success"] is False

        async with browser(client) as who:
            await login(who, "alice", "alice-pass-1")
            mine = (await who.get("/api/data/self", params=span)).json()["data"]
            assert {r["user_id"] for r in mine} == {alice["id"]}
            assert sum(r["quota"] for r in mine) == 259
            mine = (await who.get("/api/data/self", params={**span, "username": "bob"})).json()["data"]
            assert {r["user_id"] for r in mine} == {alice["id"]}  # no way to ask for another user
            too_long = {"start_timestamp": 1, "end_timestamp": 1 + 31 * 86400}
            assert (await who.get("/api/data/self", params=too_long)).json()["success"] is False
            assert (await who.get("/api/data/flow/self", params=too_long)).json()["success"] is False
            flow = (await who.get("/api/data/flow/self", params=span)).json()["data"]
            assert {(r["model_name"], r["use_group"], r.get("token_id")): r["quota"] for r in flow} == {
                ("gpt-4o", "default", 1): 250,
                ("gpt-4o-mini", "vip", 2): 9,
            }
            assert all("user_id" not in r and "channel_id" not in r for r in flow)


async def test_data_export_switch(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        host = client.app.state.host
        ledger = host.relay.ledger
        ledger.options = host.options  # as wired in the app
        alice = await create_user("alice", "alice-pass-1", quota=10**9)
        r = await client.put("/api/option/", json={"key": "DataExportEnabled", "value": False})
        assert r.json()["success"]
        ledger.settle(charge(alice, "gpt-4o", NOW, 10, 1, 1))
        await ledger.flush()
        assert await Log.count().where(Log.type == LOG_CONSUME) == 1 and not await QuotaData.select(QuotaData.id)
        await client.put("/api/option/", json={"key": "DataExportEnabled", "value": True})
        ledger.settle(charge(alice, "gpt-4o", NOW, 10, 1, 1))
        await ledger.flush()
        assert len(await QuotaData.select(QuotaData.id)) == 1  # (count is a column here)


async def test_relay_traffic_lands_in_quota_data(db_config):
    up = shared_fake_openai()
    async with running(db_config) as client:
        await as_root(client)
        r = await client.post(
            "/api/channel/",
            json={"type": 1, "key": "sk-up", "base_url": up.url, "models": "dash-a,dash-b", "name": "dash"},
        )
        channel_id = r.json()["data"]["id"]
        r = await client.put("/api/option/", json={"key": "ModelRatio", "value": '{"dash-a": 1, "dash-b": 2.5}'})
        assert r.json()["success"]
        r = await client.post("/api/token/", json={"name": "dash-key", "unlimited_quota": True})
        key = r.json()["data"]["key"]
        async with browser(client) as api:
            for i in range(6):
                body = {"model": "dash-a" if i % 3 else "dash-b", "messages": [{"role": "user", "content": "hi"}]}
                body["stream"] = i % 2 == 0
                if body["stream"]:
                    body["stream_options"] = {"include_usage": True}
                r = await api.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"})
                assert r.status_code == 200, r.text
        await client.app.state.host.relay.ledger.flush()
        got = await sums_match()
        assert sum(v[0] for v in got.values()) == 6
        token_id = (await Token.select(Token.id).where(Token.name == "dash-key").first())["id"]
        assert {(k[1], k[3], k[4]) for k in got} == {("dash-a", token_id, channel_id), ("dash-b", token_id, channel_id)}
        used = (await Channel.select(Channel.used_quota).where(Channel.id == channel_id).first())["used_quota"]
        assert used == sum(v[1] for v in got.values()) > 0
        span = {"start_timestamp": THIS_HOUR - HOUR, "end_timestamp": int(time.time())}
        rows = (await client.get("/api/data/", params=span)).json()["data"]
        assert {r["model_name"]: r["count"] for r in rows} == {"dash-a": 4, "dash-b": 2}
        flow = (await client.get("/api/data/flow", params=span)).json()["data"]
        assert {r["channel_name"] for r in flow} == {"dash"} and {r["token_name"] for r in flow} == {"dash-key"}
