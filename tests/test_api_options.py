"""``/api/option/``: root only, secrets hidden, New API's string forms, validation, instant effect."""

from __future__ import annotations

import asyncio

import pytest

from newapi_host.auth.users import create_user
from newapi_host.db.tables import LOG_MANAGE, Log, Option

from .conftest import as_root, login, running


async def put(client, key, value):
    r = await client.put("/api/option/", json={"key": key, "value": value})
    assert r.status_code == 200, r.text
    return r.json()


async def listed(client) -> dict[str, str]:
    body = (await client.get("/api/option/")).json()
    assert body["success"], body
    assert all(set(item) == {"key", "value"} for item in body["data"])
    return {item["key"]: item["value"] for item in body["data"]}


async def test_option_routes_need_root(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        await create_user("commoner", "commoner-1")
        await create_user("adminna", "adminna-1", role=10)
        root_header = client.headers.pop("New-Api-User")
        cookies = dict(client.cookies)
        client.cookies.clear()
        assert (await client.get("/api/option/")).status_code == 401
        assert (await client.put("/api/option/", json={"key": "Notice", "value": "x"})).status_code == 401
        for name, password in (("commoner", "commoner-1"), ("adminna", "adminna-1")):
            await login(client, name, password)
            assert (await client.get("/api/option/")).status_code == 403
            r = await client.put("/api/option/", json={"key": "Notice", "value": "x"})
            assert r.status_code == 403 and r.json()["success"] is False
            client.cookies.clear()
        assert await Option.count().where(Option.key == "Notice") == 0
        client.cookies.update(cookies)
        client.headers["New-Api-User"] = root_header
        assert (await put(client, "Notice", "hello"))["success"]


async def test_list_merges_defaults_and_hides_secrets(db_config):
    async with running(db_config) as client:
        await as_root(client)
        options = await listed(client)
        assert options["SystemName"] == "New API" and options["QuotaPerUnit"] == "500000"
        assert options["LogRetentionDays"] == "0" and options["DataExportEnabled"] == "true"
        for key, value in (("SMTPToken", "smtp-secret"), ("GitHubClientSecret", "gh"), ("TurnstileSiteKey", "site")):
            assert (await put(client, key, value))["success"]
        options = await listed(client)
        assert "SMTPToken" not in options and "GitHubClientSecret" not in options
        assert options["TurnstileSiteKey"] == "site"
        assert "smtp-secret" not in (await client.get("/api/option/")).text
        # stored all the same
        assert (await Option.select(Option.value).where(Option.key == "SMTPToken").first())["value"] == "smtp-secret"


async def test_values_are_stored_in_new_api_string_form(db_config):
    async with running(db_config) as client:
        await as_root(client)
        host = client.app.state.host
        cases = [
            ("DrawingEnabled", False, "false"),
            ("DataExportEnabled", "true", "true"),
            ("RetryTimes", 3, "3"),
            ("RetryTimes", "4", "4"),
            ("QuotaPerUnit", 1000000.0, "1000000"),
            ("QuotaPerUnit", 0.5, "0.5"),
            ("USDExchangeRate", "7.25", "7.25"),
            ("Notice", "**hello** 你好", "**hello** 你好"),
            ("Notice", 12, "12"),
            ("AutomaticRetryStatusCodes", "401, 500 - 503，429", "401,500-503,429"),
            ("AutomaticDisableStatusCodes", "", ""),
            ("ModelRatio", '{"m-a": 1.5, "m-b": 0}', '{"m-a": 1.5, "m-b": 0}'),
            ("ModelRatio", "", ""),
            ("GroupGroupRatio", '{"vip": {"default": 0.8}}', '{"vip": {"default": 0.8}}'),
            ("UserUsableGroups", '{"default": "Default group"}', '{"default": "Default group"}'),
            ("SomeFutureOption", "anything", "anything"),
            ("LogRetentionDays", 30, "30"),
        ]
        for key, value, stored in cases:
            body = await put(client, key, value)
            assert body == {"success": True, "message": ""}, (key, value, body)
            row = await Option.select(Option.value).where(Option.key == key).first()
            assert row["value"] == stored, (key, value, row)
            assert host.options.get(key) == stored
        options = await listed(client)
        assert options["LogRetentionDays"] == "30" and options["SomeFutureOption"] == "anything"
        audit = await Log.select(Log.content).where(Log.type == LOG_MANAGE)
        assert any("SomeFutureOption" in row["content"] for row in audit)
        assert not any("anything" in row["content"] for row in audit)  # values are not audited


BAD = [
    # (key, value, words expected in the message)
    ("ModelRatio", "not json", "JSON"),
    ("ModelRatio", "[1, 2]", "object"),
    ("ModelRatio", '{"m": -1}', "negative"),
    ("ModelRatio", '{"m": "1"}', "number"),
    ("ModelRatio", '{"m": true}', "number"),
    ("ModelRatio", '{"m": NaN}', "NaN"),
    ("ModelRatio", '{"m": 1e400}', "finite"),
    ("CompletionRatio", '{"m": null}', "number"),
    ("ModelPrice", '{"m": -0.01}', "negative"),
    ("CacheRatio", '"text"', "object"),
    ("CreateCacheRatio", '{"m": {}}', "number"),
    ("GroupRatio", '{"default": -2}', "negative"),
    ("GroupRatio", '{"default": Infinity}', "Infinity"),
    ("GroupGroupRatio", '{"vip": 1}', "object"),
    ("GroupGroupRatio", '{"vip": {"default": -1}}', "negative"),
    ("GroupGroupRatio", "[]", "object"),
    ("UserUsableGroups", '{"default": 1}', "string"),
    ("UserUsableGroups", '["default"]', "object"),
    ("AutomaticRetryStatusCodes", "401,abc", "abc"),
    ("AutomaticRetryStatusCodes", "503-500", "503-500"),
    ("AutomaticDisableStatusCodes", "99", "99"),
    ("AutomaticDisableStatusCodes", "500-600", "500-600"),
    ("AutomaticDisableStatusCodes", "401-", "401-"),
    ("AutomaticDisableStatusCodes", "-5", "-5"),
    ("DrawingEnabled", "yes", "true or false"),
    ("DrawingEnabled", 1, "true or false"),
    ("LogConsumeEnabled", "True", "true or false"),
    ("RetryTimes", 11, "at most 10"),
    ("RetryTimes", -1, "at least 0"),
    ("RetryTimes", "two", "number"),
    ("RetryTimes", 1.5, "whole number"),
    ("RetryTimes", True, "number"),
    ("QuotaPerUnit", 0, "greater than 0"),
    ("QuotaPerUnit", "-5", "greater than 0"),
    ("QuotaPerUnit", "nan", "finite"),
    ("QuotaForNewUser", -100, "at least 0"),
    ("QuotaForNewUser", 1e300, "too large"),
    ("PreConsumedQuota", "", "number"),
    ("LogRetentionDays", -1, "at least 0"),
    ("LogRetentionDays", "7d", "number"),
    ("Notice", None, "required"),
    ("Notice", ["a"], "string, number or boolean"),
    ("Notice", {"a": 1}, "string, number or boolean"),
    ("Notice", "x" * (1024 * 1024 + 1), "1024 KB"),
    ("", "x", "key"),
    ("k" * 256, "x", "key"),
    (12, "x", "key"),
    ("TurnstileCheckEnabled", True, "TurnstileSiteKey"),
]


async def test_bad_values_are_refused_and_nothing_is_stored(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        host = client.app.state.host
        before = await Option.select().order_by(Option.key)
        values = dict(host.options._values)
        for key, value, words in BAD:
            body = await put(client, key, value)
            assert body["success"] is False, (key, value, body)
            assert words in body["message"], (key, words, body["message"])
        for raw in (b"not json", b"[1]", b"", b'{"key": "Notice"}', b'{"value": "x"}'):
            r = await client.put("/api/option/", content=raw, headers={"content-type": "application/json"})
            assert r.status_code == 200 and r.json()["success"] is False, raw
        assert await Option.select().order_by(Option.key) == before
        assert host.options._values == values


@pytest.mark.parametrize("key", ["ModelRatio", "ModelPrice"])
async def test_price_changes_reach_the_price_book_at_once(sqlite_config, key):
    async with running(sqlite_config) as client:
        await as_root(client)
        prices = client.app.state.host.relay.prices
        assert (await put(client, key, '{"opt-test-model": 2.5}'))["success"]
        price = prices.quote("opt-test-model", "default", "default")
        if key == "ModelRatio":
            assert price.model_ratio == 2.5 and price.model_price is None
        else:
            assert price.model_price == 2.5
        assert (await put(client, "GroupRatio", '{"default": 0.5, "vip": 2}'))["success"]
        assert prices.quote("opt-test-model", "default", "default").group_ratio == 0.5
        assert prices.quote("opt-test-model", "vip", "vip").group_ratio == 2
        assert (await put(client, "GroupGroupRatio", '{"vip": {"default": 0.25}}'))["success"]
        assert prices.quote("opt-test-model", "vip", "default").group_ratio == 0.25
        assert (await put(client, "QuotaPerUnit", 1000))["success"]
        assert prices.quota_per_unit == 1000
        # a refused value leaves the book as it was
        assert not (await put(client, "GroupRatio", '{"default": -1}'))["success"]
        assert prices.quote("opt-test-model", "default", "default").group_ratio == 0.5


async def test_a_reload_never_undoes_a_newer_change(sqlite_config, monkeypatch):
    """A reload that read its snapshot before a change committed must not assign it afterwards."""
    import newapi_host.options as options_module
    from newapi_host.db.tables import Option

    async with running(sqlite_config) as client:
        options = client.app.state.host.options
        await options.set_many({"SystemName": "before"})
        snapshot_taken, go_on = asyncio.Event(), asyncio.Event()

        class SlowOption:
            """Option whose select() hands its rows over only when the test says so."""

            def __getattr__(self, name):  # columns and the rest pass through
                return getattr(Option, name)

            def select(self, *columns):
                query = Option.select(*columns)

                async def rows():
                    result = await query
                    snapshot_taken.set()
                    await go_on.wait()
                    return result

                return rows()

        monkeypatch.setattr(options_module, "Option", SlowOption())
        reload = asyncio.ensure_future(options.load())  # what a revision poll does
        await snapshot_taken.wait()
        monkeypatch.setattr(options_module, "Option", Option)
        await options.set_many({"SystemName": "after"})  # an admin's change lands meanwhile
        go_on.set()
        await reload
        assert options.get("SystemName") == "after"
        await options.load()  # a later reload reads it back from the database
        assert options.get("SystemName") == "after"
