"""``/api/log/*``: roles, filters, isolation, what users may see, API-key access, deletion, retention."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from newapi_host.api import logs as logs_module
from newapi_host.api.logs import LOG_CLEANUP_JOB, cleanup_logs, delete_logs_before
from newapi_host.auth.users import create_user
from newapi_host.billing.ledger import LOG_COLUMNS, add_quota_data, add_summaries, quota_buckets
from newapi_host.db.engine import insert_many, write_transaction
from newapi_host.db.tables import (
    LOG_CONSUME,
    LOG_MANAGE,
    LOG_TOPUP,
    TOKEN_DISABLED,
    TOKEN_EXHAUSTED,
    TOKEN_EXPIRED,
    USER_DISABLED,
    Channel,
    Log,
    Token,
    User,
)
from newapi_host.plugins.contracts import JobContext

from .conftest import Client, as_root, login, running

NOW = int(time.time())


@pytest.fixture(autouse=True)
def fresh_now() -> None:
    """Rows are dated relative to the test's own start: rpm/tpm look at the last minute, and a
    module-wide clock read at collection can be minutes old by the time a test runs."""
    global NOW
    NOW = int(time.time())


@asynccontextmanager
async def browser(client: Client) -> AsyncIterator[httpx.AsyncClient]:
    """Another signed-out browser on the same app."""
    transport = httpx.ASGITransport(app=client.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        yield other


def log_row(**fields) -> dict:
    row = {
        "user_id": 0,
        "created_at": NOW,
        "type": LOG_CONSUME,
        "content": "",
        "username": "",
        "token_name": "",
        "model_name": "",
        "quota": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "use_time": 1,
        "is_stream": False,
        "channel_id": 0,
        "token_id": 0,
        "group": "default",
        "ip": "",
        "request_id": "",
        "upstream_request_id": "",
        "other": "",
    }
    row.update(fields)
    return row


async def add_logs(rows: list[dict]) -> None:
    """Rows as the ledger writes them: with their consume rows' hourly ``quota_data`` buckets."""
    async with write_transaction():
        await insert_many(Log, LOG_COLUMNS, [tuple(r[k] for k in LOG_COLUMNS) for r in rows])
        if buckets := quota_buckets(rows):
            await add_quota_data(sorted(buckets))
            await add_summaries(sorted(buckets))


async def make_token(user_id: int, key: str, status: int = 1, name: str = "t") -> int:
    token = Token(user_id=user_id, key=key, status=status, name=name, remain_quota=0, unlimited_quota=True)
    await token.save()
    return token.id


ROUTES = [
    ("GET", "/api/log/", 10),
    ("GET", "/api/log/stat", 10),
    ("GET", "/api/log/search?keyword=x", 10),
    ("GET", "/api/log/self", 1),
    ("GET", "/api/log/self/stat", 1),
    ("GET", "/api/log/self/search?keyword=x", 1),
    ("DELETE", "/api/log/?target_timestamp=100", 100),
]


async def test_log_routes_roles(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        await create_user("commoner", "commoner-1")
        await create_user("adminna", "adminna-1", role=10)
        async with browser(client) as anon:
            for method, path, _ in ROUTES:
                r = await anon.request(method, path)
                assert r.status_code == 401 and r.json()["success"] is False, (method, path)
            r = await anon.get("/api/log/token")
            assert r.status_code == 401 and r.json()["message"] == "Token not provided"
        for name, password, role in (("commoner", "commoner-1", 1), ("adminna", "adminna-1", 10)):
            async with browser(client) as who:
                await login(who, name, password)
                for method, path, needed in ROUTES:
                    r = await who.request(method, path)
                    expected = 200 if role >= needed else 403
                    assert r.status_code == expected, (name, method, path, r.status_code, r.text)
        for method, path, _ in ROUTES:
            assert (await client.request(method, path)).status_code == 200, path


async def seed(client: Client) -> dict:
    """Two users with rows of several kinds; returns ids."""
    alice = (await create_user("alice", "alice-pass-1"))["id"]
    bob = (await create_user("bob", "bob-pass-1"))["id"]
    channel = Channel(name="upstream-one", key="k", models="m", group="default")
    await channel.save()
    other = json.dumps({"model_ratio": 1, "admin_info": {"use_channel": ["7"]}, "stream_status": "ok", "frt": 5})
    rows = [
        log_row(user_id=alice, username="alice", model_name="gpt-4o", quota=100, prompt_tokens=10,
                completion_tokens=5, created_at=NOW - 7200, channel_id=channel.id, token_name="ta",
                request_id="req-a1", other=other),
        log_row(user_id=alice, username="alice", model_name="gpt-4o-mini", quota=30, prompt_tokens=3,
                completion_tokens=2, created_at=NOW - 10, channel_id=channel.id, token_name="ta",
                request_id="req-a2", group="vip", other=other),
        log_row(user_id=alice, username="alice", type=LOG_TOPUP, content="top-up 5 USD", created_at=NOW - 5),
        log_row(user_id=bob, username="bob", model_name="gpt-4o", quota=1000, prompt_tokens=100,
                completion_tokens=50, created_at=NOW - 20, channel_id=channel.id, token_name="tb",
                request_id="req-b1", other=other),
        log_row(user_id=bob, username="bob", model_name="claude-3", quota=7, created_at=NOW - 90000,
                request_id="req-b2", upstream_request_id="up-1"),
        log_row(user_id=bob, username="bob", type=LOG_MANAGE, content="changed by admin", created_at=NOW - 1),
    ]  # fmt: skip
    await add_logs(rows)
    return {"alice": alice, "bob": bob, "channel": channel.id}


async def test_admin_list_filters_and_fields(db_config):
    async with running(db_config) as client:
        await as_root(client)
        ids = await seed(client)

        async def listing(**params) -> dict:
            body = (await client.get("/api/log/", params=params)).json()
            assert body["success"], body
            return body["data"]

        data = await listing()
        assert data["total"] == 6 and data["page"] == 1 and data["page_size"] == 10
        times = [item["created_at"] for item in data["items"]]
        assert times == sorted(times, reverse=True)  # newest first
        first = next(i for i in data["items"] if i.get("request_id") == "req-b1")
        assert set(first) == {
            "id", "user_id", "created_at", "type", "content", "username", "token_name", "model_name", "quota",
            "prompt_tokens", "completion_tokens", "use_time", "is_stream", "channel", "channel_name", "token_id",
            "group", "ip", "request_id", "other",
        }  # fmt: skip
        assert first["channel"] == ids["channel"] and first["channel_name"] == "upstream-one"
        assert first["is_stream"] is False and isinstance(first["other"], str)
        assert "admin_info" in json.loads(first["other"])  # admins see everything
        assert "request_id" not in next(i for i in data["items"] if i["type"] == LOG_MANAGE)  # omitted when empty

        async def req_ids(**params) -> list[str]:
            return [i.get("request_id", "") for i in (await listing(**params))["items"]]

        assert await req_ids(type=LOG_CONSUME) == ["req-a2", "req-b1", "req-a1", "req-b2"]
        assert await req_ids(username="alice", type=LOG_CONSUME) == ["req-a2", "req-a1"]
        assert await req_ids(model_name="gpt-4o") == ["req-b1", "req-a1"]  # exact unless % is used
        assert await req_ids(model_name="gpt-4o%") == ["req-a2", "req-b1", "req-a1"]
        assert await req_ids(username="%li%") == ["", "req-a2", "req-a1"]
        assert await req_ids(token_name="tb") == ["req-b1"]
        assert await req_ids(channel=ids["channel"]) == ["req-a2", "req-b1", "req-a1"]
        assert await req_ids(group="vip") == ["req-a2"]
        assert await req_ids(request_id="req-b2") == ["req-b2"]
        assert await req_ids(upstream_request_id="up-1") == ["req-b2"]
        assert await req_ids(start_timestamp=NOW - 100, end_timestamp=NOW - 8, type=LOG_CONSUME) == [
            "req-a2",
            "req-b1",
        ]
        assert await req_ids(start_timestamp="garbage", type=LOG_CONSUME) == await req_ids(type=LOG_CONSUME)
        page2 = await listing(p=2, page_size=4)
        assert page2["total"] == 6 and len(page2["items"]) == 2 and page2["page"] == 2
        for bad in ("%%ab", "a%", "%a%b%c%"):
            r = (await client.get("/api/log/", params={"model_name": bad})).json()
            assert r["success"] is False and "pattern" in r["message"] or "characters" in r["message"], bad

        stat = (await client.get("/api/log/stat")).json()
        assert stat == {"success": True, "message": "", "data": {"quota": 1137, "rpm": 2, "tpm": 155}}
        stat = (await client.get("/api/log/stat", params={"username": "bob"})).json()["data"]
        assert stat == {"quota": 1007, "rpm": 1, "tpm": 150}
        stat = (await client.get("/api/log/stat", params={"start_timestamp": NOW - 3600})).json()["data"]
        assert stat == {"quota": 1030, "rpm": 2, "tpm": 155}  # rpm/tpm: always the last minute
        stat = await client.get("/api/log/stat", params={"model_name": "gpt-4o", "channel": ids["channel"]})
        assert stat.json()["data"] == {"quota": 1100, "rpm": 1, "tpm": 150}

        found = (await client.get("/api/log/search", params={"keyword": "changed"})).json()["data"]
        assert [i["content"] for i in found] == ["changed by admin"]


async def test_users_see_only_their_own_rows_without_admin_details(db_config):
    async with running(db_config) as client:
        await as_root(client)
        ids = await seed(client)
        async with browser(client) as alice:
            await login(alice, "alice", "alice-pass-1")
            data = (await alice.get("/api/log/self")).json()["data"]
            assert data["total"] == 3
            assert {i["user_id"] for i in data["items"]} == {ids["alice"]}
            assert [i["id"] for i in data["items"]] == [1, 2, 3]  # positions, not table ids
            for item in data["items"]:
                assert item["channel"] == 0 and item["channel_name"] == ""
                if item["other"]:
                    other = json.loads(item["other"])
                    assert "admin_info" not in other and "stream_status" not in other and other["frt"] == 5
            # filters cannot reach other users' rows
            for params in (
                {"username": "bob"},
                {"request_id": "req-b1"},
                {"token_name": "tb"},
                {"model_name": "claude-3"},
                {"user_id": ids["bob"]},
            ):
                items = (await alice.get("/api/log/self", params=params)).json()["data"]["items"]
                assert all(i["user_id"] == ids["alice"] for i in items), params
                assert all(i.get("request_id") not in ("req-b1", "req-b2") for i in items), params
            page = (await alice.get("/api/log/self", params={"p": 2, "page_size": 2})).json()["data"]
            assert page["total"] == 3 and [i["id"] for i in page["items"]] == [3]

            stat = (await alice.get("/api/log/self/stat")).json()["data"]
            assert stat == {"quota": 130, "rpm": 1, "tpm": 5}
            stat = (await alice.get("/api/log/self/stat", params={"username": "bob"})).json()["data"]
            assert stat == {"quota": 130, "rpm": 1, "tpm": 5}  # username is not a filter here

            search = (await alice.get("/api/log/self/search", params={"keyword": "gpt-4o"})).json()
            assert [i.get("request_id") for i in search["data"]] == ["req-a1"]
            assert "admin_info" not in search["data"][0]["other"] and search["data"][0]["channel"] == 0
            search = (await alice.get("/api/log/self/search", params={"keyword": str(LOG_TOPUP)})).json()
            assert [i["content"] for i in search["data"]] == ["top-up 5 USD"]
            assert (await alice.get("/api/log/self/search", params={"keyword": "changed"})).json()["data"] == []
            assert (await alice.get("/api/log/self/search", params={"keyword": "req-b1"})).json()["data"] == []
            assert (await alice.get("/api/log/self/search")).json()["success"] is False
            assert (await alice.get("/api/log/self/search", params={"keyword": "k" * 300})).json()["success"] is False
        # an admin's own view keeps channel ids but still drops admin-only details
        async with browser(client) as adm:
            admin_id = (await create_user("adminna", "adminna-1", role=10))["id"]
            await add_logs([log_row(user_id=admin_id, username="adminna", channel_id=ids["channel"], other="{}")])
            await login(adm, "adminna", "adminna-1")
            item = (await adm.get("/api/log/self")).json()["data"]["items"][0]
            assert item["channel"] == ids["channel"] and item["channel_name"] == ""


async def test_logs_by_api_key(db_config):
    async with running(db_config) as client:
        await as_root(client)
        ids = await seed(client)
        keys = {"ok": "k" * 48, "expired": "e" * 48, "exhausted": "x" * 48, "disabled": "d" * 48}
        tokens = {
            "ok": await make_token(ids["alice"], keys["ok"]),
            "expired": await make_token(ids["alice"], keys["expired"], TOKEN_EXPIRED),
            "exhausted": await make_token(ids["alice"], keys["exhausted"], TOKEN_EXHAUSTED),
            "disabled": await make_token(ids["alice"], keys["disabled"], TOKEN_DISABLED),
        }
        other = json.dumps({"admin_info": {"x": 1}, "frt": 3})
        await add_logs(
            [
                log_row(user_id=ids["alice"], token_id=tokens["ok"], request_id="k1", channel_id=5, other=other),
                log_row(user_id=ids["alice"], token_id=tokens["ok"], request_id="k2", created_at=NOW + 1),
                log_row(user_id=ids["alice"], token_id=tokens["expired"], request_id="e1"),
                log_row(user_id=ids["bob"], token_id=tokens["ok"], request_id="forged"),  # not the key's owner
            ]
        )
        async with browser(client) as api:

            async def by(header: str) -> httpx.Response:
                return await api.get("/api/log/token", headers={"Authorization": header})

            r = await by(f"Bearer sk-{keys['ok']}")
            body = r.json()
            assert r.status_code == 200 and body["success"], body
            assert [i["request_id"] for i in body["data"]] == ["k2", "k1"]
            assert body["data"][1]["channel"] == 0 and "admin_info" not in body["data"][1]["other"]
            assert [i["request_id"] for i in (await by(keys["ok"])).json()["data"]] == ["k2", "k1"]
            assert (await by(f"Bearer sk-{keys['ok']}-7")).json()["success"]  # channel suffix ignored
            assert [i["request_id"] for i in (await by(f"Bearer sk-{keys['expired']}")).json()["data"]] == ["e1"]
            assert (await by(f"Bearer sk-{keys['exhausted']}")).json() == {"success": True, "message": "", "data": []}
            for header, status, message in (
                (f"Bearer sk-{keys['disabled']}", 401, "This token status is unavailable"),
                ("Bearer sk-" + "n" * 48, 401, "Invalid token"),
                ("Bearer ", 401, "Invalid token"),
                ("Bearer sk-", 401, "Invalid token"),
            ):
                r = await by(header)
                assert r.status_code == status and r.json() == {"success": False, "message": message}, header
            await User.update({User.status: USER_DISABLED}).where(User.id == ids["alice"])
            r = await by(f"Bearer sk-{keys['ok']}")
            assert r.status_code == 403 and r.json()["message"] == "User has been banned"


async def test_delete_history_logs_root_only_and_batched(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        await seed(client)
        assert (await client.delete("/api/log/")).json() == {
            "success": False,
            "message": "target timestamp is required",
        }
        assert (await client.delete("/api/log/?target_timestamp=abc")).json()["success"] is False
        body = (await client.delete(f"/api/log/?target_timestamp={NOW - 3600}")).json()
        assert body == {"success": True, "message": "", "data": 2}
        assert await Log.count() == 4
        assert await Log.count().where(Log.created_at < NOW - 3600) == 0


async def test_retention_deletes_old_rows_in_batches(db_config, monkeypatch):
    async with running(db_config) as client:
        await as_root(client)
        host = client.app.state.host
        await add_logs([log_row(user_id=1, created_at=NOW - 40 * 86400 + i, request_id=f"old{i}") for i in range(3500)])
        await add_logs([log_row(user_id=1, created_at=NOW - 86400 * 29, request_id=f"new{i}") for i in range(20)])
        assert await cleanup_logs(host) == 0  # LogRetentionDays 0: keep everything
        assert await Log.count() == 3520

        statements = []
        original = Log.delete

        def counting_delete(*args, **kwargs):
            statements.append(1)
            return original(*args, **kwargs)

        monkeypatch.setattr(Log, "delete", counting_delete)
        monkeypatch.setattr(logs_module, "DELETE_MIN_BATCH", 1000)  # batches sized by time otherwise
        monkeypatch.setattr(logs_module, "DELETE_MAX_BATCH", 1000)
        r = await client.put("/api/option/", json={"key": "LogRetentionDays", "value": 30})
        assert r.json()["success"]
        assert await cleanup_logs(host) == 3500
        assert len(statements) == 4  # 1000 + 1000 + 1000 + 500
        assert await Log.count() == 20 + await Log.count().where(Log.type == LOG_MANAGE)
        assert await Log.count().where(Log.request_id.like("new%")) == 20
        assert await cleanup_logs(host) == 0

        # the job wrapper finds the host on the application state
        await add_logs([log_row(user_id=1, created_at=NOW - 31 * 86400)])
        assert LOG_CLEANUP_JOB.once_per_cluster and LOG_CLEANUP_JOB.interval == 3600
        await LOG_CLEANUP_JOB.run(JobContext(plugin="core", settings=None, state=client.app.state))
        assert await Log.count().where(Log.created_at < NOW - 30 * 86400) == 0
        left = await Log.count()
        assert await delete_logs_before(int(time.time()) + 10, batch=7) == left
        assert await Log.count() == 0
