"""The admin Channels page: its markup hooks, and the API round trips ``channels.js`` makes.

The request bodies below are built exactly as ``channels.js`` builds them (the same keys and value
types); a test reads the keys out of the script so the two cannot drift apart.
"""

from __future__ import annotations

import json
import re
from typing import Any

from newapi_host.db.tables import Channel
from newapi_host.web.layout import STATIC_FILES
from newapi_host.web.pages.channels import STRINGS

from .conftest import LOCAL_UPSTREAMS, Client, as_root, running
from .upstreams import DEFAULT_MODELS, shared_fake_openai

SCRIPT = STATIC_FILES["channels.js"].decode()
SETTING_DEFAULTS = {
    "proxy": "",
    "system_prompt": "",
    "system_prompt_override": False,
    "force_format": False,
    "thinking_to_content": False,
    "pass_through_body_enabled": False,
}


def page_channel(**changes: Any) -> dict[str, Any]:
    """The channel object of channels.js's ``channelBody()``: every key, text JSON for JSON columns."""
    channel: dict[str, Any] = {
        "type": 1,
        "name": "console-ch",
        "key": "sk-console",
        "base_url": "",
        "models": "m-a,m-b",
        "group": "default",
        "model_mapping": "",
        "priority": 0,
        "weight": 0,
        "tag": "",
        "test_model": "",
        "auto_ban": 1,
        "other": "",
        "openai_organization": "",
        "status_code_mapping": "",
        "param_override": "",
        "header_override": "",
        "remark": "",
        "setting": json.dumps(SETTING_DEFAULTS),
        "settings": json.dumps({"force_stream_usage": False}),
    }
    channel.update(changes)
    return channel


def create_body(channel: dict[str, Any], mode: str = "single", multi_key_mode: str = "random") -> dict[str, Any]:
    """What the form POSTs to /api/channel/ on "Save" while creating."""
    return {
        "mode": mode,
        "multi_key_mode": multi_key_mode,
        "batch_add_set_key_prefix_2_name": False,
        "channel": channel,
    }


async def create(client: Client, channel: dict[str, Any], **kw: Any) -> list[int]:
    r = (await client.post("/api/channel/", json=create_body(channel, **kw))).json()
    assert r["success"], r
    return r["data"]["ids"]


async def listed(client: Client, query: str = "") -> dict[int, dict[str, Any]]:
    r = (await client.get(f"/api/channel/?p=1&page_size=20{query}")).json()
    assert r["success"], r
    return {c["id"]: c for c in r["data"]["items"]}


def field_errors(message: str) -> tuple[str, dict[str, str]]:
    """The per-field split channels.js's ``fieldErrors`` makes of an API message (same rules)."""
    scope, text = "main", message
    for prefix in ("settings", "setting"):
        if text.startswith(prefix + ": "):
            scope, text = prefix, text[len(prefix) + 2 :]
            break
    out = {}
    for part in text.split("; "):
        m = re.match(r"^([\w.]+): (.*)$", part, re.S)
        if m:
            out[m.group(1).split(".")[0]] = m.group(2).removeprefix("Value error, ")
        elif re.match(r"^\w+ must ", part):
            out[part.split(" ")[0]] = part
    return scope, out


def test_script_sends_the_shape_the_tests_use() -> None:
    body = SCRIPT[SCRIPT.index("function channelBody()") :]
    body = body[body.index("    return {") :]
    body = body[: body.index("\n    };")]
    assert set(re.findall(r"^\s{6}(\w+):", body, re.M)) == set(page_channel())
    create_call = SCRIPT[SCRIPT.index('res = await api("POST", "/api/channel/", {') :]
    create_call = create_call[: create_call.index("});")]
    assert set(re.findall(r"^\s{8}(\w+)[:,]", create_call, re.M)) == set(create_body({}))
    checks = re.search(r"SETTING_CHECKS = \[([^\]]*)\]", SCRIPT)
    assert checks is not None
    assert {"proxy", "system_prompt", *re.findall(r'"(\w+)"', checks.group(1))} == set(SETTING_DEFAULTS)


async def test_channels_page_markup(sqlite_config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        html = (await client.get("/console/channels")).text
        for hook in (
            'data-form="channel"',
            'data-form="channel-filter"',
            'data-list="channels"',
            'data-list="channel-keys"',
            'data-panel="keys"',
            "data-settings-fields",
            "data-groups",
            'data-pager="channels"',
            'data-page="prev"',
            'data-page="next"',
            "data-page-info",
            'data-action="add"',
            'data-action="test-all"',
            'data-action="fetch-models"',
            'data-action="fill-models"',
            "channels.js",
        ):
            assert hook in html, hook
        channel_form = html[
            html.index('data-form="channel"') : html.index("</form>", html.index('data-form="channel"'))
        ]
        names = set(re.findall(r'name="([\w.]+)"', channel_form))
        used = set(re.findall(r"\bF\.(\w+)", SCRIPT)) | set(re.findall(r'\bF\["([\w.]+)"\]', SCRIPT))
        used |= {f"setting.{n}" for n in re.findall(r'"(\w+)"', re.search(r"SETTING_CHECKS = \[([^\]]*)\]", SCRIPT)[1])}
        assert used <= names, used - names
        assert {"type", "name", "key", "base_url", "models", "group", "model_mapping", "priority", "weight"} <= names
        assert {"tag", "test_model", "auto_ban", "mode", "multi_key_mode", "key_mode"} <= names
        filter_form = html[html.index('data-form="channel-filter"') :]
        filter_names = set(re.findall(r'name="(\w+)"', filter_form[: filter_form.index("</form>")]))
        assert set(re.findall(r"\be\.(\w+)\.(?:value|checked)", SCRIPT)) <= filter_names
        # every column heading, in both languages
        for lang in ("en", "zh"):
            client.cookies.set("lang", lang)
            page = (await client.get("/console/channels")).text
            for key in ("ch_priority", "ch_weight", "ch_response_time", "ch_balance", "ch_used_quota", "ch_multi_key"):
                assert STRINGS[lang][key] in page, (lang, key)
        assert "渠道管理" in page and "添加渠道" in page
        # every translation key the script reads exists
        for key in set(re.findall(r"\bT\.(\w+)", SCRIPT)):
            assert key in STRINGS["en"] or key in ("request_failed", "enable", "disable", "delete", "copy"), key


async def test_create_read_edit_toggle_delete_as_the_page_does(sqlite_config) -> None:
    up = shared_fake_openai()
    async with running(sqlite_config) as client:
        await as_root(client)
        await client.app.state.host.options.set_many(LOCAL_UPSTREAMS)
        types = {t["id"]: t for t in (await client.get("/api/channel/types")).json()["data"]}
        assert types[1]["settings_schema"]["properties"]["force_stream_usage"]["type"] == "boolean"
        groups = (await client.get("/api/group/")).json()
        assert groups["success"] and "default" in groups["data"]

        # create with a type-specific setting, read it back the way the edit form does
        channel = page_channel(
            name="fake",
            base_url=up.url,
            models="gpt-4o-mini,m-b",
            group="default,vip",
            model_mapping='{"alias": "gpt-4o-mini"}',
            priority=5,
            weight=3,
            tag="team-a",
            test_model="gpt-4o-mini",
            setting=json.dumps({**SETTING_DEFAULTS, "system_prompt": "be brief"}),
        )
        [cid] = await create(client, channel)
        got = (await client.get(f"/api/channel/{cid}")).json()["data"]
        assert got["key"] == "" and got["name"] == "fake" and got["type"] == 1
        assert json.loads(got["settings"]) == {"force_stream_usage": False}
        assert json.loads(got["setting"])["system_prompt"] == "be brief"
        assert (got["group"], got["priority"], got["weight"], got["tag"]) == ("default,vip", 5, 3, "team-a")
        assert json.loads(got["model_mapping"]) == {"alias": "gpt-4o-mini"}
        assert got["channel_info"]["is_multi_key"] is False and got["status"] == 1

        # the table: list (with type counts for the type filter), search, status and tag filters
        rows = await listed(client)
        assert rows[cid]["used_quota"] == 0 and rows[cid]["response_time"] == 0
        r = (await client.get("/api/channel/?p=1&page_size=20")).json()["data"]
        assert r["type_counts"] == {"1": 1} and r["total"] == 1
        found = (await client.get("/api/channel/search?p=1&page_size=20&keyword=fak")).json()["data"]["items"]
        assert [c["id"] for c in found] == [cid]
        assert cid in await listed(client, "&status=1&tag=team-a")
        assert not await listed(client, "&status=2")
        tagged = (await client.get("/api/channel/?p=1&page_size=20&tag_mode=true")).json()["data"]
        assert [c["tag"] for c in tagged["items"]] == ["team-a"]

        # edit: an empty key keeps the stored key; the type settings are replaced
        edit = {"id": cid, **page_channel(name="fake2", base_url=up.url, models="gpt-4o-mini", key="", tag="team-b")}
        edit["settings"] = json.dumps({"force_stream_usage": True})
        r = (await client.put("/api/channel/", json=edit)).json()
        assert r["success"], r
        row = await Channel.select(Channel.key, Channel.settings, Channel.name).where(Channel.id == cid).first()
        assert row["key"] == "sk-console" and json.loads(row["settings"]) == {"force_stream_usage": True}
        assert row["name"] == "fake2"

        # row buttons: test, fetch models, balance (an answer the page shows either way)
        r = (await client.get(f"/api/channel/test/{cid}")).json()
        assert r["success"] is True and r["message"] == "" and r["time"] >= 0
        assert (await listed(client))[cid]["response_time"] >= 0 and (await listed(client))[cid]["test_time"] > 0
        r = (await client.post("/api/channel/fetch_models", json={"channel_id": cid})).json()
        assert r["data"] == list(DEFAULT_MODELS)
        r = (await client.post("/api/channel/fetch_models", json={"type": 1, "base_url": up.url, "key": "sk-a"})).json()
        assert r["data"] == list(DEFAULT_MODELS)
        r = (await client.get(f"/api/channel/update_balance/{cid}")).json()
        assert r["success"] is False and r["message"]

        # enable / disable, by row and by tag
        assert (await client.post(f"/api/channel/{cid}/status", json={"status": 2})).json()["success"]
        assert (await listed(client))[cid]["status"] == 2
        assert (await client.post(f"/api/channel/{cid}/status", json={"status": 1})).json()["success"]
        assert (await client.post("/api/channel/tag/disabled", json={"tag": "team-b"})).json()["success"]
        assert (await listed(client))[cid]["status"] == 2
        assert (await client.post("/api/channel/tag/enabled", json={"tag": "team-b"})).json()["success"]
        assert (await listed(client))[cid]["status"] == 1

        # test all: a passing and a failing channel
        [bad] = await create(client, page_channel(name="bad", base_url=up.url, test_model="m-fail-401"))
        r = (await client.get("/api/channel/test")).json()
        assert r["success"] and (r["data"]["tested"], r["data"]["succeeded"], r["data"]["failed"]) == (2, 1, 1)
        failed = {x["id"]: x for x in r["data"]["results"]}[bad]
        assert failed["success"] is False and "401" in failed["message"]

        # copy, then delete both
        copy = (await client.post(f"/api/channel/copy/{cid}")).json()["data"]["id"]
        for channel_id in (copy, cid, bad):
            assert (await client.delete(f"/api/channel/{channel_id}")).json()["success"]
        assert (await client.get(f"/api/channel/{cid}")).json()["success"] is False
        assert await listed(client) == {}


async def test_invalid_fields_come_back_per_field(sqlite_config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)

        async def refused(body: dict[str, Any], method: str = "POST") -> tuple[str, dict[str, str]]:
            r = (await client.request(method, "/api/channel/", json=body)).json()
            assert r["success"] is False, r
            return field_errors(r["message"])

        # type-specific settings: the field of the type's settings form
        scope, errors = await refused(create_body(page_channel(settings=json.dumps({"force_stream_usage": "maybe"}))))
        assert (
            scope == "settings" and set(errors) == {"force_stream_usage"} and "boolean" in errors["force_stream_usage"]
        )
        scope, errors = await refused(create_body(page_channel(type=3, settings=json.dumps({"api_version": 5}))))
        assert scope == "settings" and set(errors) == {"api_version"}
        # the shared `setting` object and the channel's own fields
        bad_proxy = json.dumps({**SETTING_DEFAULTS, "proxy": "ftp://x"})
        assert await refused(create_body(page_channel(setting=bad_proxy))) == (
            "setting",
            {"proxy": "proxy must be an http://, https:// or socks5:// URL"},
        )
        scope, errors = await refused(create_body(page_channel(weight=20000, models="")))
        assert scope == "main" and set(errors) == {"weight", "models"}
        scope, errors = await refused(create_body(page_channel(model_mapping='{"a": 1}')))
        assert scope == "main" and set(errors) == {"model_mapping"}
        scope, errors = await refused(create_body(page_channel(group=" , ")))
        assert scope == "main" and set(errors) == {"group"}

        # the same on edit
        [cid] = await create(client, page_channel())
        bad_edit = {"id": cid, **page_channel(key="", settings=json.dumps({"force_stream_usage": []}))}
        scope, errors = await refused(bad_edit, "PUT")
        assert scope == "settings" and set(errors) == {"force_stream_usage"}


async def test_multi_key_and_batch_creation(sqlite_config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        [multi] = await create(
            client,
            page_channel(name="mk", key="k-one\nk-two\n\nk-three"),
            mode="multi_to_single",
            multi_key_mode="polling",
        )
        info = (await listed(client))[multi]["channel_info"]
        assert info["is_multi_key"] is True and info["multi_key_size"] == 3 and info["multi_key_mode"] == "polling"

        # the key panel: list, disable one (the table then says "3 keys, 1 disabled")
        manage = "/api/channel/multi_key/manage"
        r = await client.post(
            manage, json={"channel_id": multi, "action": "get_key_status", "page": 1, "page_size": 1000}
        )
        data = r.json()["data"]
        assert [k["index"] for k in data["keys"]] == [0, 1, 2] and data["enabled_count"] == 3
        r = await client.post(manage, json={"channel_id": multi, "action": "disable_key", "key_index": 1})
        assert r.json()["success"]
        info = (await listed(client))[multi]["channel_info"]
        assert {k: v for k, v in info["multi_key_status_list"].items() if v != 1} == {"1": 2}

        # edit: empty key keeps every key; appended keys join them; the selection mode changes
        edit = {"id": multi, **page_channel(name="mk", key=""), "key_mode": "append", "multi_key_mode": "random"}
        assert (await client.put("/api/channel/", json=edit)).json()["success"]
        assert (await Channel.select(Channel.key).where(Channel.id == multi).first())["key"] == "k-one\nk-two\nk-three"
        edit["key"] = "k-four"
        assert (await client.put("/api/channel/", json=edit)).json()["success"]
        info = (await listed(client))[multi]["channel_info"]
        assert info["multi_key_size"] == 4 and info["multi_key_mode"] == "random"
        r = await client.post(manage, json={"channel_id": multi, "action": "enable_all_keys"})
        assert r.json()["success"]

        # batch: one channel per key line
        ids = await create(client, page_channel(name="b", key="kb1\nkb2"), mode="batch")
        rows = await listed(client)
        assert len(ids) == 2 and all(not rows[i]["channel_info"]["is_multi_key"] for i in ids)
