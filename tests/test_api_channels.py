"""The channel administration API: CRUD, abilities, tags, multi-key keys, tests, balances, roles."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from newapi_host.api.channels import sync_abilities
from newapi_host.auth.users import create_user
from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import Ability, Channel

from .conftest import LOCAL_UPSTREAMS, Client, as_root, login, running
from .upstreams import DEFAULT_MODELS, shared_fake_openai


async def add(client: Client, mode: str = "single", **channel: Any) -> list[int]:
    top = {k: channel.pop(k) for k in ("multi_key_mode", "batch_add_set_key_prefix_2_name") if k in channel}
    body: dict[str, Any] = {"mode": mode, **top, "channel": {"type": 1, "key": "sk-x", "models": "m-a", **channel}}
    r = await client.post("/api/channel/", json=body)
    assert r.json()["success"], r.json()
    return r.json()["data"]["ids"]


async def abilities(channel_id: int | None = None) -> set[tuple[str, str, int, bool, int, int, str | None]]:
    query = Ability.select(
        Ability.group, Ability.model, Ability.channel_id, Ability.enabled, Ability.priority, Ability.weight, Ability.tag
    )
    if channel_id is not None:
        query = query.where(Ability.channel_id == channel_id)
    return {
        (r["group"], r["model"], r["channel_id"], bool(r["enabled"]), r["priority"], r["weight"], r["tag"])
        for r in await query
    }


async def soon(check: Callable[[], bool], within: float = 1.0) -> None:
    """The relay's channel index reflects a change within a second (normally at once)."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "the relay did not pick up the channel change within a second"
        await asyncio.sleep(0.02)


def routes(client: Client) -> Any:
    return client.app.state.host.relay.index


async def test_channel_crud_abilities_tags_and_routing(db_config):
    async with running(db_config) as client:
        await as_root(client)
        index = routes(client)

        # single: abilities for every group x model, used by the relay at once
        [one] = await add(
            client, name="one", models="m-a, m-b,m-a", group="default, vip", tag="t1", priority=3, weight=7
        )
        assert await abilities(one) == {
            (g, m, one, True, 3, 7, "t1") for g in ("default", "vip") for m in ("m-a", "m-b")
        }
        await soon(lambda: index.has("vip", "m-b") and not index.has("vip", "m-z"))

        # batch: one channel per key line, names prefixed with the key
        batch = await add(
            client,
            "batch",
            name="b",
            key="kb1-aaaaaaaa\n\n kb2-bbbbbbbb \nkb3",
            models="m-c",
            batch_add_set_key_prefix_2_name=True,
        )
        rows = await Channel.select(Channel.name, Channel.key).where(Channel.id.is_in(batch)).order_by(Channel.id)
        assert [(r["name"], r["key"]) for r in rows] == [
            ("b kb1-aaaa", "kb1-aaaaaaaa"),
            ("b kb2-bbbb", "kb2-bbbbbbbb"),
            ("b kb3", "kb3"),
        ]
        assert len(await abilities()) == 4 + 3

        # multi_to_single: one channel holding all keys
        [multi] = await add(
            client, "multi_to_single", name="mk", key="k1\nk2\n\nk3\n", models="m-d", multi_key_mode="polling"
        )
        row = await Channel.select().where(Channel.id == multi).first()
        info = json.loads(row["channel_info"])
        assert row["key"] == "k1\nk2\nk3" and info["is_multi_key"] and info["multi_key_size"] == 3
        assert info["multi_key_mode"] == "polling"
        await soon(lambda: index.by_id[multi].keys == ["k1", "k2", "k3"])

        # listing never shows keys; filters, sorting, paging, type counts
        r = (await client.get("/api/channel/")).json()
        assert r["success"] and r["data"]["total"] == 5 and r["data"]["type_counts"] == {"1": 5}
        assert all(item["key"] == "" for item in r["data"]["items"])
        assert r["data"]["items"][0]["id"] == one  # priority desc first
        by_id = (await client.get("/api/channel/?id_sort=true&p=1&page_size=2")).json()["data"]
        assert [i["id"] for i in by_id["items"]] == [multi, batch[2]] and by_id["page_size"] == 2
        by_name = (await client.get("/api/channel/?sort_by=name&sort_order=asc")).json()["data"]["items"]
        assert [i["name"] for i in by_name][:2] == ["b kb1-aaaa", "b kb2-bbbb"]
        assert (await client.get("/api/channel/?group=vip")).json()["data"]["total"] == 1
        assert (await client.get("/api/channel/?tag=t1")).json()["data"]["total"] == 1
        assert (await client.get("/api/channel/?type=14")).json()["data"]["total"] == 0
        detail = (await client.get(f"/api/channel/{multi}")).json()["data"]
        assert detail["key"] == "" and detail["channel_info"]["multi_key_size"] == 3
        assert (await client.post(f"/api/channel/{multi}/key")).json()["data"]["key"] == "k1\nk2\nk3"

        # search: keyword over name / id / base URL, model filter, group filter
        found = (await client.get("/api/channel/search?keyword=kb2")).json()["data"]
        assert [i["id"] for i in found["items"]] == [batch[1]] and found["type_counts"] == {"1": 1}
        assert (await client.get(f"/api/channel/search?keyword={multi}")).json()["data"]["items"][0]["id"] == multi
        assert (await client.get("/api/channel/search?model=m-c")).json()["data"]["total"] == 3
        assert (await client.get("/api/channel/search?keyword=&group=vip")).json()["data"]["total"] == 1

        # partial update: absent and empty value fields keep their values; abilities follow
        r = await client.put("/api/channel/", json={"id": one, "models": "m-e", "priority": 9, "key": "", "name": ""})
        assert r.json()["success"] and r.json()["data"]["key"] == "" and r.json()["data"]["name"] == "one"
        assert (await Channel.select(Channel.key).where(Channel.id == one).first())["key"] == "sk-x"
        assert await abilities(one) == {(g, "m-e", one, True, 9, 7, "t1") for g in ("default", "vip")}
        await soon(lambda: index.has("vip", "m-e") and not index.has("vip", "m-a"))

        # status through PUT (classic console) and through the status routes
        await client.put("/api/channel/", json={"id": one, "status": 2})
        assert not any(a[3] for a in await abilities(one))
        await soon(lambda: not index.has("vip", "m-e"))
        r = await client.post(f"/api/channel/{one}/status", json={"status": 1})
        assert r.json() == {"success": True, "message": "", "data": True}
        await soon(lambda: index.has("vip", "m-e"))
        r = await client.post("/api/channel/status/batch", json={"ids": [one, *batch], "status": 2})
        assert r.json()["data"] == 4
        await soon(lambda: not index.has("default", "m-c"))
        r = await client.post("/api/channel/status/batch", json={"ids": [one, *batch], "status": 1})
        assert r.json()["data"] == 4
        await soon(lambda: index.has("default", "m-c"))

        # multi-key update: append de-duplicates, replace resets; status entries past the end dropped
        await client.post(
            "/api/channel/multi_key/manage", json={"channel_id": multi, "action": "disable_key", "key_index": 2}
        )
        r = await client.put("/api/channel/", json={"id": multi, "key": "k3\nk4", "key_mode": "append"})
        row = await Channel.select().where(Channel.id == multi).first()
        assert row["key"] == "k1\nk2\nk3\nk4" and json.loads(row["channel_info"])["multi_key_size"] == 4
        await client.put("/api/channel/", json={"id": multi, "key": "n1\nn2", "multi_key_mode": "random"})
        info = json.loads((await Channel.select().where(Channel.id == multi).first())["channel_info"])
        assert (
            info["multi_key_size"] == 2 and info["multi_key_status_list"] == {} and info["multi_key_mode"] == "random"
        )
        await soon(lambda: index.by_id[multi].keys == ["n1", "n2"])

        # copy: key kept, stats reset, abilities made
        await Channel.update({Channel.used_quota: 500, Channel.balance: 3.5}).where(Channel.id == one)
        r = await client.post(f"/api/channel/copy/{one}")
        copy = r.json()["data"]["id"]
        row = await Channel.select().where(Channel.id == copy).first()
        assert row["name"] == "one_复制" and row["key"] == "sk-x" and row["used_quota"] == 0 and row["balance"] == 0
        assert {a[:2] for a in await abilities(copy)} == {(g, "m-e") for g in ("default", "vip")}
        r = await client.post(f"/api/channel/copy/{one}?suffix=-2&reset_balance=false")
        copy2 = r.json()["data"]["id"]
        assert (await Channel.select().where(Channel.id == copy2).first())["used_quota"] == 500

        # tags
        assert (await client.post("/api/channel/batch/tag", json={"ids": batch, "tag": "t2"})).json()["data"] == 3
        assert {a[6] for a in await abilities() if a[2] in batch} == {"t2"}
        assert (await client.post("/api/channel/tag/disabled", json={"tag": "t2"})).json()["success"]
        await soon(lambda: not index.has("default", "m-c"))
        assert {r["status"] for r in await Channel.select(Channel.status).where(Channel.id.is_in(batch))} == {2}
        assert (await client.post("/api/channel/tag/enabled", json={"tag": "t2"})).json()["success"]
        await soon(lambda: index.has("default", "m-c"))
        r = await client.put(
            "/api/channel/tag",
            json={"tag": "t2", "new_tag": "t3", "priority": 4, "weight": 2, "models": "m-f,m-g", "groups": "vip"},
        )
        assert r.json()["success"]
        assert await abilities(batch[0]) == {("vip", m, batch[0], True, 4, 2, "t3") for m in ("m-f", "m-g")}
        await soon(lambda: index.has("vip", "m-g") and not index.has("default", "m-c"))
        await client.put("/api/channel/", json={"id": batch[1], "models": "m-f,m-g,m-h"})
        assert (await client.get("/api/channel/tag/models?tag=t3")).json()["data"] == "m-f,m-g,m-h"
        tagged = (await client.get("/api/channel/?tag_mode=true")).json()["data"]
        assert tagged["total"] == 2 and {i["tag"] for i in tagged["items"]} == {"t1", "t3"}
        assert len(tagged["items"]) == 1 + 3 + 2  # one, the batch, the two copies (tag t1)
        found = (await client.get("/api/channel/search?keyword=kb3&tag_mode=true")).json()["data"]
        assert sorted(i["id"] for i in found["items"]) == batch
        assert (await client.get("/api/channel/ops")).json()["data"] == {"retry_times": 0}

        # model lists
        models = {m["id"]: m["owned_by"] for m in (await client.get("/api/channel/models")).json()["data"]}
        assert models["m-g"] == "custom" and models["gpt-4o"] == "OpenAI"
        assert "m-g" in (await client.get("/api/channel/models_enabled")).json()["data"]

        # /fix rebuilds a damaged abilities table
        expected = await abilities()
        await Ability.delete().where(Ability.channel_id == one)
        await Ability.insert(Ability(group="junk", model="junk", channel_id=999))
        r = await client.post("/api/channel/fix")
        assert r.json()["data"] == {"success": await Channel.count(), "fails": 0}
        assert await abilities() == expected

        # deletes
        assert (await client.delete(f"/api/channel/{copy}")).json()["success"]
        assert not await Ability.exists().where(Ability.channel_id == copy)
        await client.post("/api/channel/tag/disabled", json={"tag": "t3"})
        assert (await client.delete("/api/channel/disabled")).json()["data"] == 3
        r = await client.post("/api/channel/batch", json={"ids": [one, copy2, 424242]})
        assert r.json()["data"] == 2
        await soon(lambda: not index.has("vip", "m-e"))
        remaining = {r["id"] for r in await Channel.select(Channel.id)}
        assert remaining == {multi} and {a[2] for a in await abilities()} == remaining


async def test_channel_types_listing(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        data = {t["id"]: t for t in (await client.get("/api/channel/types")).json()["data"]}
        openai = data[1]
        assert openai["name"] == "OpenAI" and openai["default_base_url"] == "https://api.openai.com"
        assert "gpt-4o" in openai["default_models"] and "openai.chat" in openai["dialects"]
        assert "force_stream_usage" in openai["settings_schema"]["properties"]
        assert "api_version" in data[3]["settings_schema"]["properties"]
        # settings are validated with the owning plugin's model
        r = await client.post(
            "/api/channel/", json={"type": 3, "key": "k", "models": "m", "settings": {"api_version": 5}}
        )
        assert r.json()["success"] is False and "settings" in r.json()["message"]


ROUTE_MATRIX = [
    ("GET", "/api/channel/", None),
    ("GET", "/api/channel/search?keyword=x", None),
    ("GET", "/api/channel/models", None),
    ("GET", "/api/channel/models_enabled", None),
    ("GET", "/api/channel/types", None),
    ("GET", "/api/channel/ops", None),
    ("GET", "/api/channel/tag/models?tag=x", None),
    ("GET", "/api/channel/1", None),
    ("POST", "/api/channel/1/key", None),
    ("GET", "/api/channel/test", None),
    ("GET", "/api/channel/test/1", None),
    ("GET", "/api/channel/update_balance", None),
    ("GET", "/api/channel/update_balance/1", None),
    ("GET", "/api/channel/fetch_models/1", None),
    ("POST", "/api/channel/fetch_models", {"type": 1, "key": "k"}),
    ("POST", "/api/channel/", {"type": 1, "key": "k", "models": "m"}),
    ("PUT", "/api/channel/", {"id": 1, "name": "n"}),
    ("POST", "/api/channel/1/status", {"status": 2}),
    ("POST", "/api/channel/status/batch", {"ids": [1], "status": 2}),
    ("DELETE", "/api/channel/1", None),
    ("DELETE", "/api/channel/disabled", None),
    ("POST", "/api/channel/batch", {"ids": [1]}),
    ("POST", "/api/channel/copy/1", None),
    ("POST", "/api/channel/tag/disabled", {"tag": "t"}),
    ("POST", "/api/channel/tag/enabled", {"tag": "t"}),
    ("PUT", "/api/channel/tag", {"tag": "t", "priority": 1}),
    ("POST", "/api/channel/batch/tag", {"ids": [1], "tag": "t"}),
    ("POST", "/api/channel/fix", None),
    ("POST", "/api/channel/multi_key/manage", {"channel_id": 1, "action": "enable_all_keys"}),
]


async def test_roles_and_key_visibility(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        [cid] = await add(client, key="sk-secret-key", name="guarded")
        snapshot = await Channel.select()
        await create_user("alice", "alice-pass-1")
        await create_user("admin2", "admin-pass-1", role=10)
        await client.get("/api/user/logout")
        client.headers.pop("New-Api-User", None)
        for method, path, body in ROUTE_MATRIX:
            r = await client.request(method, path, json=body)
            assert r.status_code == 401 and r.json()["success"] is False, (method, path)
        await login(client, "alice", "alice-pass-1")
        for method, path, body in ROUTE_MATRIX:
            r = await client.request(method, path, json=body)
            assert r.status_code == 403 and r.json()["success"] is False, (method, path)
        assert await Channel.select() == snapshot and await Ability.count() == 1

        # an admin manages channels but never sees a key
        await client.get("/api/user/logout")
        await login(client, "admin2", "admin-pass-1")
        assert (await client.post(f"/api/channel/{cid}/key")).status_code == 403
        for path in (
            "/api/channel/",
            f"/api/channel/{cid}",
            "/api/channel/search?keyword=guarded",
            "/api/channel/search?keyword=sk-secret-key",
        ):
            text = (await client.get(path)).text
            assert "sk-secret" not in text and '"success":true' in text.replace(" ", ""), path
        r = await client.put("/api/channel/", json={"id": cid, "name": "renamed"})
        assert "sk-secret" not in r.text and r.json()["data"]["name"] == "renamed"
        r = await client.post("/api/channel/multi_key/manage", json={"channel_id": cid, "action": "get_key_status"})
        assert r.json()["success"] is False and "not a multi-key" in r.json()["message"]


async def snapshot() -> tuple[list[dict[str, Any]], set[Any]]:
    return await Channel.select().order_by(Channel.id), await abilities()


async def test_bad_input_changes_nothing(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        [plain] = await add(client, tag="t", models="m-a")
        [multi] = await add(client, "multi_to_single", key="k1\nk2", models="m-b")
        before = await snapshot()
        long_model = "m" * 256
        cases: list[tuple[str, str, Any, str]] = [
            # create
            ("POST", "/api/channel/", [1, 2], "JSON object"),
            ("POST", "/api/channel/", {"mode": "single", "channel": "x"}, "channel"),
            ("POST", "/api/channel/", {"mode": 5, "channel": {"key": "k", "models": "m"}}, "mode"),
            ("POST", "/api/channel/", {"type": 1, "key": "k", "models": long_model}, "longer than 255"),
            ("POST", "/api/channel/", {"type": 1, "key": "k", "models": "m", "group": "g" * 65}, "group"),
            ("POST", "/api/channel/", {"type": 1, "key": "k", "models": " , "}, "models"),
            ("POST", "/api/channel/", {"type": 1, "key": "k" * 1_000_001, "models": "m"}, "key"),
            ("POST", "/api/channel/", {"type": 1, "key": "k" * 20_000, "models": "m"}, "key"),
            (
                "POST",
                "/api/channel/",
                {"mode": "batch", "channel": {"key": "a\n" + "k" * 20_000, "models": "m"}},
                "key",
            ),
            ("POST", "/api/channel/", {"mode": "batch", "channel": {"key": "\n \n", "models": "m"}}, "key"),
            (
                "POST",
                "/api/channel/",
                {"mode": "multi_to_single", "multi_key_mode": "rr", "channel": {"key": "a", "models": "m"}},
                "multi_key_mode",
            ),
            ("POST", "/api/channel/", {"type": 1, "key": "k", "models": "m", "priority": 2**70}, "priority"),
            ("POST", "/api/channel/", {"type": 1, "key": "k", "models": "m", "weight": 1.5}, "weight"),
            ("POST", "/api/channel/", {"type": 1, "key": "k", "models": "m", "status": 3}, "status"),
            (
                "POST",
                "/api/channel/",
                {"type": 1, "key": "k", "models": "m", "model_mapping": {"a": 1}},
                "model_mapping",
            ),
            ("POST", "/api/channel/", {"type": 1, "key": "k", "models": "m", "model_mapping": "[1]"}, "model_mapping"),
            (
                "POST",
                "/api/channel/",
                {"type": 1, "key": "k", "models": "m", "status_code_mapping": {"abc": "500"}},
                "status_code_mapping",
            ),
            ("POST", "/api/channel/", {"type": 1, "key": "k", "models": "m", "setting": {"proxy": "ftp://x"}}, "proxy"),
            (
                "POST",
                "/api/channel/",
                {"type": 1, "key": "k", "models": "m", "settings": {"force_stream_usage": "maybe"}},
                "settings",
            ),
            ("POST", "/api/channel/", {"type": 1, "key": "k", "models": "m", "remark": "r" * 256}, "remark"),
            # update
            ("PUT", "/api/channel/", {"name": "x"}, "id"),
            ("PUT", "/api/channel/", {"id": "abc"}, "id"),
            ("PUT", "/api/channel/", {"id": 99999, "name": "x"}, "does not exist"),
            ("PUT", "/api/channel/", {"id": plain, "weight": -1}, "weight"),
            ("PUT", "/api/channel/", {"id": plain, "priority": 2**64}, "priority"),
            ("PUT", "/api/channel/", {"id": plain, "type": 9999}, "channel type 9999"),
            ("PUT", "/api/channel/", {"id": plain, "model_mapping": "{oops"}, "model_mapping"),
            ("PUT", "/api/channel/", {"id": plain, "settings": {"force_stream_usage": []}}, "settings"),
            ("PUT", "/api/channel/", {"id": plain, "name": "n" * 300}, "name"),
            ("PUT", "/api/channel/", {"id": plain, "models": ","}, "models"),
            ("PUT", "/api/channel/", {"id": plain, "status": 7}, "status"),
            ("PUT", "/api/channel/", {"id": multi, "key": "x", "key_mode": "merge"}, "key_mode"),
            ("PUT", "/api/channel/", {"id": multi, "key": "\n\n", "key_mode": "replace"}, "key"),
            # status
            ("POST", f"/api/channel/{plain}/status", {"status": 3}, "status"),
            ("POST", f"/api/channel/{plain}/status", {}, "status"),
            ("POST", "/api/channel/99999/status", {"status": 2}, "does not exist"),
            ("POST", "/api/channel/status/batch", {"ids": [], "status": 2}, "ids"),
            ("POST", "/api/channel/status/batch", {"ids": [plain], "status": "off"}, "status"),
            # delete
            ("POST", "/api/channel/batch", {"ids": []}, "ids"),
            ("POST", "/api/channel/batch", {"ids": ["a"]}, "ids"),
            ("POST", "/api/channel/batch", {"ids": [-1]}, "ids"),
            ("POST", "/api/channel/batch", {}, "ids"),
            ("DELETE", "/api/channel/99999", None, "does not exist"),
            # copy
            ("POST", "/api/channel/copy/99999", None, "does not exist"),
            ("POST", f"/api/channel/copy/{plain}?suffix={'s' * 65}", None, "suffix"),
            # tags
            ("POST", "/api/channel/tag/disabled", {}, "tag"),
            ("POST", "/api/channel/tag/enabled", {"tag": ""}, "tag"),
            ("POST", "/api/channel/tag/enabled", {"tag": 5}, "tag"),
            ("PUT", "/api/channel/tag", {"tag": "t", "weight": -1}, "weight"),
            ("PUT", "/api/channel/tag", {"tag": "t", "model_mapping": "{"}, "model_mapping"),
            ("PUT", "/api/channel/tag", {"tag": "t", "models": ","}, "models"),
            ("PUT", "/api/channel/tag", {"tag": "t", "groups": "g" * 65}, "groups"),
            ("PUT", "/api/channel/tag", {"tag": "t", "header_override": "[]"}, "header_override"),
            ("POST", "/api/channel/batch/tag", {"ids": [plain], "tag": "x" * 300}, "tag"),
            ("POST", "/api/channel/batch/tag", {"ids": [], "tag": "x"}, "ids"),
            ("GET", "/api/channel/tag/models", None, "tag"),
            # multi-key
            ("POST", "/api/channel/multi_key/manage", {"channel_id": multi, "action": "explode"}, "action"),
            ("POST", "/api/channel/multi_key/manage", {"channel_id": multi, "action": "disable_key"}, "key_index"),
            (
                "POST",
                "/api/channel/multi_key/manage",
                {"channel_id": multi, "action": "delete_key", "key_index": 2},
                "out of range",
            ),
            ("POST", "/api/channel/multi_key/manage", {"channel_id": 99999, "action": "enable_all_keys"}, "does not"),
            ("POST", "/api/channel/multi_key/manage", {"channel_id": plain, "action": "enable_all_keys"}, "multi-key"),
            ("POST", "/api/channel/multi_key/manage", {"channel_id": multi, "action": "delete_disabled_keys"}, "no"),
            # upstream calls
            ("POST", "/api/channel/fetch_models", {"type": "x", "key": "k"}, "type"),
            ("POST", "/api/channel/fetch_models", {"type": 1, "key": " "}, "key"),
            ("POST", "/api/channel/fetch_models", {"type": 3, "key": "k", "base_url": "http://a"}, "not supported"),
            ("GET", "/api/channel/fetch_models/99999", None, "does not exist"),
            ("GET", "/api/channel/update_balance/99999", None, "does not exist"),
            ("GET", "/api/channel/99999", None, "does not exist"),
        ]
        for method, path, body, fragment in cases:
            r = await client.request(method, path, json=body)
            assert r.status_code == 200 and r.json()["success"] is False, (method, path, body, r.text[:300])
            assert fragment in r.json()["message"], (method, path, body, r.json()["message"])
            assert await snapshot() == before, (method, path, body)
        # out-of-range ids in the path are refused before any query
        r = await client.get(f"/api/channel/{2**40}")
        assert r.status_code == 400 and r.json()["success"] is False
        assert await snapshot() == before


async def test_multi_key_management(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        keys = [f"sk-key-number-{i}" for i in range(5)]
        [cid] = await add(client, "multi_to_single", key="\n".join(keys), models="m-k")

        async def manage(action: str, **extra: Any) -> dict[str, Any]:
            r = await client.post("/api/channel/multi_key/manage", json={"channel_id": cid, "action": action, **extra})
            return r.json()

        status = (await manage("get_key_status", page_size=2, page=2))["data"]
        assert status["total"] == 5 and status["total_pages"] == 3 and status["page"] == 2
        assert [k["index"] for k in status["keys"]] == [2, 3] and status["keys"][0]["key_preview"] == "sk-key-num..."
        assert status["enabled_count"] == 5

        assert (await manage("disable_key", key_index=1))["success"]
        await soon(lambda: routes(client).by_id[cid].enabled_keys() == [0, 2, 3, 4])
        # the relay marks failing keys as automatically disabled; delete_disabled_keys removes those only
        row = await Channel.select().where(Channel.id == cid).first()
        info = json.loads(row["channel_info"])
        info["multi_key_status_list"]["3"] = 3
        await Channel.update({Channel.channel_info: json.dumps(info)}).where(Channel.id == cid)
        status = (await manage("get_key_status", status=2))["data"]
        assert [k["index"] for k in status["keys"]] == [1] and status["keys"][0]["reason"]
        assert (status["manual_disabled_count"], status["auto_disabled_count"]) == (1, 1)

        r = await manage("delete_disabled_keys")
        assert r["success"] and r["data"] == 1
        row = await Channel.select().where(Channel.id == cid).first()
        assert row["key"].split("\n") == [keys[0], keys[1], keys[2], keys[4]]
        assert json.loads(row["channel_info"])["multi_key_status_list"] == {"1": 2}

        assert (await manage("delete_key", key_index=0))["success"]
        row = await Channel.select().where(Channel.id == cid).first()
        assert row["key"].split("\n") == [keys[1], keys[2], keys[4]]
        assert json.loads(row["channel_info"])["multi_key_status_list"] == {"0": 2}  # re-indexed

        assert (await manage("enable_key", key_index=0))["success"]
        r = await manage("disable_all_keys")
        assert r["success"] and r["message"] == "disabled 3 key(s)"
        await soon(lambda: routes(client).by_id[cid].enabled_keys() == [])
        assert (await manage("disable_all_keys"))["success"] is False
        r = await manage("enable_all_keys")
        assert r["message"] == "enabled 3 key(s)"
        await soon(lambda: routes(client).by_id[cid].enabled_keys() == [0, 1, 2])
        await manage("delete_key", key_index=0)
        await manage("delete_key", key_index=0)
        r = await manage("delete_key", key_index=0)
        assert r["success"] is False and "last key" in r["message"]
        assert (await Channel.select(Channel.key).where(Channel.id == cid).first())["key"] == keys[4]


async def test_fetch_models_and_test_all(sqlite_config):
    up = shared_fake_openai()
    async with running(sqlite_config) as client:
        await as_root(client)
        await client.app.state.host.options.set_many(LOCAL_UPSTREAMS)
        [good] = await add(client, key="sk-good", base_url=up.url, models="m-ok-1", test_model="m-ok-1")
        r = await client.get(f"/api/channel/fetch_models/{good}")
        assert r.json() == {"success": True, "message": "", "data": list(DEFAULT_MODELS)}
        assert [q for q in up.requests if q["path"] == "/v1/models"][-1]["headers"]["authorization"] == "Bearer sk-good"
        r = await client.post("/api/channel/fetch_models", json={"type": 8, "base_url": f"{up.url}/v1/", "key": "a\nb"})
        assert r.json()["data"] == list(DEFAULT_MODELS)
        r = await client.post(
            "/api/channel/fetch_models", json={"type": 8, "base_url": "http://127.0.0.1:9", "key": "k"}
        )
        assert r.json()["success"] is False and "failed to fetch the model list" in r.json()["message"]

        await client.app.state.host.options.set_many(
            {"AutomaticDisableChannelEnabled": "true", "AutomaticEnableChannelEnabled": "true"}
        )
        [bad] = await add(client, key="sk-bad", base_url=up.url, models="m-t-fail-401", test_model="m-t-fail-401")
        [failing] = await add(client, key="sk-500", base_url=up.url, models="m-t-fail-500", test_model="m-t-fail-500")
        [revived] = await add(client, key="sk-r", base_url=up.url, models="m-ok-2", test_model="m-ok-2")
        [manual] = await add(client, key="sk-m", base_url=up.url, models="m-ok-3", test_model="m-ok-3")
        await Channel.update({Channel.status: 3}).where(Channel.id == revived)
        await Channel.update({Channel.status: 2}).where(Channel.id == manual)
        async with write_transaction():
            await sync_abilities([revived, manual])
        r = (await client.get("/api/channel/test")).json()
        assert r["success"], r
        data = r["data"]
        assert (data["tested"], data["succeeded"], data["failed"], data["disabled"], data["enabled"]) == (4, 2, 2, 1, 1)
        assert {x["id"] for x in data["results"]} == {good, bad, failing, revived}
        statuses = {r["id"]: r["status"] for r in await Channel.select(Channel.id, Channel.status)}
        assert statuses == {good: 1, bad: 3, failing: 1, revived: 1, manual: 2}
        index = routes(client)
        await soon(lambda: index.has("default", "m-ok-2") and not index.has("default", "m-t-fail-401"))
        assert all(a[3] for a in await abilities(revived)) and not any(a[3] for a in await abilities(bad))
        assert not up.requests_for("m-ok-3")  # manually disabled channels are not tested


@asynccontextmanager
async def fake_billing(balances: dict[str, Any]) -> AsyncIterator[str]:
    """A small upstream with OpenAI's dashboard billing API and a few vendors' balance routes."""
    seen: list[str] = []

    def reply(name: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            seen.append(request.path_qs)
            if request.headers.get("Authorization") != "Bearer sk-bill":
                return web.json_response({"error": "bad key"}, status=401)
            return web.json_response(balances[name])

        return handler

    app = web.Application()
    app.router.add_get("/v1/dashboard/billing/subscription", reply("subscription"))
    app.router.add_get("/v1/dashboard/billing/usage", reply("usage"))
    app.router.add_get("/user/balance", reply("deepseek"))
    app.router.add_get("/v1/credits", reply("openrouter"))
    app.router.add_get("/v1/users/me/balance", reply("moonshot"))
    app.router.add_get("/v1/user/info", reply("siliconflow"))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_balances(sqlite_config):
    replies = {
        "subscription": {"hard_limit_usd": 120.0, "has_payment_method": True},
        "usage": {"total_usage": 2050.0},
        "deepseek": {"balance_infos": [{"currency": "CNY", "total_balance": "73.00"}]},
        "openrouter": {"data": {"total_credits": 10, "total_usage": 10}},
        "moonshot": {"status": True, "code": 0, "data": {"available_balance": 14.6}},
        "siliconflow": {"code": 20000, "data": {"totalBalance": "7.3"}},
    }
    async with fake_billing(replies) as url, running(sqlite_config) as client:
        await as_root(client)
        await client.app.state.host.options.set_many(LOCAL_UPSTREAMS)
        ids = {}
        for t in (1, 8, 43, 20, 25, 40):
            [ids[t]] = await add(client, type=t, key="sk-bill", base_url=url, models=f"m-bal-{t}")
        r = (await client.get(f"/api/channel/update_balance/{ids[1]}")).json()
        assert r["success"] and r["balance"] == 99.5 and r["data"]["balance"] == 99.5
        row = await Channel.select(Channel.balance, Channel.balance_updated_time).where(Channel.id == ids[1]).first()
        assert row["balance"] == 99.5 and row["balance_updated_time"] > 0
        expected = {8: 99.5, 43: 10.0, 20: 0.0, 25: 2.0, 40: 1.0}
        for t, value in expected.items():
            r = (await client.get(f"/api/channel/update_balance/{ids[t]}")).json()
            assert r["success"] and abs(r["balance"] - value) < 1e-6, (t, r)

        [unsupported] = await add(client, type=42, key="sk-bill", base_url=url, models="m-mistral")
        r = (await client.get(f"/api/channel/update_balance/{unsupported}")).json()
        assert r["success"] is False and "not supported for channel type 42" in r["message"]
        [multi] = await add(client, "multi_to_single", key="sk-bill\nsk-2", base_url=url, models="m-bal-m")
        r = (await client.get(f"/api/channel/update_balance/{multi}")).json()
        assert r["success"] is False and "multi-key" in r["message"]
        [wrong] = await add(client, key="sk-wrong", base_url=url, models="m-bal-w")
        r = (await client.get(f"/api/channel/update_balance/{wrong}")).json()
        assert r["success"] is False and "401" in r["message"] and "sk-wrong" not in r["message"]

        r = (await client.get("/api/channel/update_balance")).json()
        assert r["data"] == {"updated": 6, "failed": 1, "disabled": 1}
        assert (await Channel.select(Channel.status).where(Channel.id == ids[20]).first())["status"] == 3
        await soon(lambda: not routes(client).has("default", "m-bal-20") and routes(client).has("default", "m-bal-1"))
        assert not any(a[3] for a in await abilities(ids[20]))
