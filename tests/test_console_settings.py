"""The settings page (root): markup hooks, the option API calls it makes, and ``GET /api/notice``."""

from __future__ import annotations

import json
import re
from pathlib import Path

from newapi_host.auth.users import create_user
from newapi_host.config import Config
from newapi_host.db.tables import ROLE_ADMIN, Option, User
from newapi_host.web.i18n import TRANSLATIONS
from newapi_host.web.layout import STATIC_FILES
from newapi_host.web.pages.settings import JSON_KINDS, OPTION_KEYS, SECTIONS

from .conftest import Client, as_root, login, running

SOURCE = Path(__file__).resolve().parent.parent / "newapi_host"
FORMS = ("settings-operations", "settings-pricing", "settings-system")


async def put(client: Client, key: str, value: str) -> dict:
    """What settings.js sends: one option per request, the value as New API's string."""
    r = await client.put("/api/option/", json={"key": key, "value": value})
    assert r.status_code == 200, r.text
    return r.json()


async def options(client: Client) -> dict[str, str]:
    body = (await client.get("/api/option/")).json()
    assert body["success"], body
    return {item["key"]: item["value"] for item in body["data"]}


def compact(table: object) -> str:
    """JSON.stringify(table): how the page sends a ratio table."""
    return json.dumps(table, separators=(",", ":"), ensure_ascii=False)


def test_every_offered_option_is_read_by_the_backend() -> None:
    """No invented settings: each key offered is read somewhere besides the defaults and this page."""
    skip = {SOURCE / "options.py", SOURCE / "web" / "pages" / "settings.py"}
    code = "\n".join(p.read_text() for p in SOURCE.rglob("*.py") if p not in skip)
    code += (SOURCE / "web" / "layout.py").read_text()
    unread = [key for key in OPTION_KEYS if f'"{key}"' not in code]
    assert not unread, unread
    assert len(set(OPTION_KEYS)) == len(OPTION_KEYS)


async def test_markup_hooks_for_root(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        for lang in ("en", "zh"):
            client.cookies.set("lang", lang)
            r = await client.get("/console/settings")
            assert r.status_code == 200
            html = r.text
            for form in FORMS:
                assert html.count(f'data-form="{form}"') == 1, form
            for _, groups in SECTIONS:
                for _, fields in groups:
                    for key, kind, _ in fields:
                        assert html.count(f'name="{key}" data-kind="{kind}"') == 1, key
                        assert f'data-error="{key}"' in html, key
                        assert TRANSLATIONS[lang][f"set_{key}"] in html or kind == "bool", key
                        if kind in JSON_KINDS:
                            assert re.search(rf'<textarea name="{key}" data-kind="{kind}"', html), key
            assert "data-root-only" not in html
            assert "settings.js" in html and TRANSLATIONS[lang]["set_sec_pricing"] in html
            # the built-in lists show as placeholders of the empty fields
            assert 'placeholder="100-199,300-399' in html and "your credit balance is too low" in html
        js = (await client.get("/console-static/settings.js")).text
        assert '"/api/option/"' in js and "JSON.stringify(table)" in js
        assert "settings.js" in STATIC_FILES


async def test_root_reads_options_and_saves_ratio_tables(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        listed = await options(client)
        for key in ("RetryTimes", "LogRetentionDays", "SystemName", "QuotaPerUnit", "Notice", "RegisterEnabled"):
            assert key in listed, key
        table = {"settings-model": 2.5, "other-model": 0}
        assert (await put(client, "ModelRatio", compact(table)))["success"]
        assert json.loads((await options(client))["ModelRatio"]) == table
        prices = client.app.state.host.relay.prices
        assert prices.quote("settings-model", "default", "default").model_ratio == 2.5
        assert (await put(client, "GroupRatio", compact({"default": 1, "vip": 0.8})))["success"]
        assert (await put(client, "GroupGroupRatio", compact({"vip": {"default": 0.5}})))["success"]
        assert prices.quote("settings-model", "vip", "default").group_ratio == 0.5
        assert (await put(client, "UserUsableGroups", compact({"default": "Default", "vip": "VIP"})))["success"]
        assert (await put(client, "CacheRatio", ""))["success"]  # cleared: the built-in defaults apply

        before = await Option.select().order_by(Option.key)
        for key, value, words in (
            ("ModelRatio", '{"settings-model": 2.5,', "must be valid JSON"),
            ("ModelRatio", compact({"settings-model": -1}), "must not be negative"),
            ("CompletionRatio", compact({"m": "2"}), "must be a number"),
            ("ModelPrice", compact([1, 2]), "JSON object"),
            ("GroupRatio", compact({"vip": -0.5}), "must not be negative"),
            ("GroupGroupRatio", compact({"vip": {"default": -1}}), "must not be negative"),
            ("UserUsableGroups", compact({"vip": 1}), "description"),
        ):
            body = await put(client, key, value)
            assert body["success"] is False, (key, value)
            assert key in body["message"] and words in body["message"], body["message"]
        assert await Option.select().order_by(Option.key) == before
        assert prices.quote("settings-model", "default", "default").model_ratio == 2.5


async def test_operations_options_round_trip(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        sent = {
            "RetryTimes": "3",
            "AutomaticRetryStatusCodes": "429, 500-503",
            "AutomaticDisableChannelEnabled": "true",
            "AutomaticEnableChannelEnabled": "true",
            "AutomaticDisableStatusCodes": "401,403",
            "AutomaticDisableKeywords": "quota exceeded\nbanned key",
            "AutomaticDisableChannelErrorThreshold": "2",
            "AutomaticDisableChannelErrorWindowSeconds": "30",
            "ChannelDisableThreshold": "7.5",
            "LogConsumeEnabled": "false",
            "LogRetentionDays": "30",
            "SelfUseModeEnabled": "true",
            "EnableFreeModelPreConsume": "true",
            "PreConsumedQuota": "1000",
        }
        for key, value in sent.items():
            assert (await put(client, key, value))["success"], key
        stored = await options(client)
        assert {k: stored[k] for k in sent} == {**sent, "AutomaticRetryStatusCodes": "429,500-503"}
        host = client.app.state.host
        assert host.options.get_int("RetryTimes") == 3 and host.options.get_int("LogRetentionDays") == 30
        assert host.options.get_bool("AutomaticDisableChannelEnabled")
        assert host.options.get_bool("AutomaticEnableChannelEnabled")
        assert not host.options.get_bool("LogConsumeEnabled")
        for key, value, words in (
            ("RetryTimes", "11", "at most 10"),
            ("LogRetentionDays", "-1", "at least 0"),
            ("AutomaticDisableChannelErrorThreshold", "0", "at least 1"),
            ("AutomaticDisableStatusCodes", "40x", "invalid HTTP status code"),
            ("LogConsumeEnabled", "on", "true or false"),
        ):
            body = await put(client, key, value)
            assert body["success"] is False and key in body["message"] and words in body["message"], body


async def test_listing_hides_secrets_by_suffix_as_new_api(sqlite_config: Config) -> None:
    """Keys merely containing "Key" or "Token" are listed (the page shows them); secrets are not."""
    async with running(sqlite_config) as client:
        await as_root(client)
        for key in ("AutomaticDisableKeywords", "SMTPToken", "oidc.client_secret", "WorkerValidKey", "x.api_key"):
            assert (await put(client, key, f"value of {key}"))["success"], key
        listed = await options(client)
        assert listed["AutomaticDisableKeywords"] == "value of AutomaticDisableKeywords"
        assert listed["DisplayTokenStatEnabled"] == "true" and "TurnstileSiteKey" in listed
        for key in ("SMTPToken", "oidc.client_secret", "WorkerValidKey", "x.api_key"):
            assert key not in listed, key
        assert "value of SMTPToken" not in (await client.get("/api/option/")).text


async def test_system_settings_notice_and_new_user_quota(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        assert (await client.get("/api/notice")).json() == {"success": True, "message": "", "data": ""}
        for key, value in (
            ("SystemName", "<Acme> Gateway"),
            ("Logo", "https://example.com/logo.png"),
            ("Notice", "Maintenance <b>tonight</b>\nat 22:00"),
            ("QuotaForNewUser", str(round(1.5 * 500000))),  # 1.5 USD, as the page converts it
        ):
            assert (await put(client, key, value))["success"], key
        html = (await client.get("/console/settings")).text
        title = re.search(r"<title>(.*?)</title>", html).group(1)
        assert title == "Settings · &lt;Acme&gt; Gateway"
        brand = re.search(r'<a class="brand" href="/">(.*?)</a>', html).group(1)
        assert brand == '<img class="logo" src="https://example.com/logo.png" alt="">&lt;Acme&gt; Gateway'
        assert "<Acme>" not in html
        client.cookies.clear()
        client.headers.pop("New-Api-User")
        notice = (await client.get("/api/notice")).json()  # public, as in New API
        assert notice == {"success": True, "message": "", "data": "Maintenance <b>tonight</b>\nat 22:00"}
        r = await client.post("/api/user/register", json={"username": "newbie", "password": "newbie-password-1"})
        assert r.json()["success"], r.text
        assert (await User.select(User.quota).where(User.username == "newbie").first())["quota"] == 750000


async def test_common_user_and_admin_are_refused(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        assert (await put(client, "Notice", "hello"))["success"]
        await create_user("commoner", "commoner-password-1")
        await create_user("adminna", "adminna-password-1", role=ROLE_ADMIN)
        client.cookies.clear()
        await login(client, "commoner", "commoner-password-1")
        assert (await client.get("/console/settings")).status_code == 403
        for r in (
            await client.get("/api/option/"),
            await client.put("/api/option/", json={"key": "SystemName", "value": "mine"}),
        ):
            assert r.status_code == 403 and r.json()["success"] is False
        assert (await client.get("/api/notice")).json()["data"] == "hello"
        client.cookies.clear()
        await login(client, "adminna", "adminna-password-1")
        # New API keeps options for root: an admin sees the page explain that, and no forms
        for lang in ("en", "zh"):
            client.cookies.set("lang", lang)
            r = await client.get("/console/settings")
            assert r.status_code == 200 and "data-root-only" in r.text
            assert TRANSLATIONS[lang]["set_root_only"] in r.text and "data-form=" not in r.text
        assert (await client.get("/api/option/")).status_code == 403
        r = await client.put("/api/option/", json={"key": "RetryTimes", "value": "5"})
        assert r.status_code == 403 and r.json()["success"] is False
        assert client.app.state.host.options.get("SystemName") == "New API"
        assert client.app.state.host.options.get("RetryTimes") == "0"
