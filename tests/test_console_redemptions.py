"""Console redemption codes page: the markup redemptions.js relies on, and the API round trips it
makes, with the exact bodies it sends."""

from __future__ import annotations

import re
import time

from newapi_host.auth.users import create_user
from newapi_host.config import Config
from newapi_host.db.tables import ROLE_ADMIN
from newapi_host.web.i18n import TRANSLATIONS
from newapi_host.web.layout import STATIC_FILES

from .conftest import Client, as_root, login, running

PER_UNIT = 500000


async def ok(client: Client, method: str, url: str, body: dict | None = None) -> object:
    r = await client.request(method, url, json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["success"], answer
    return answer.get("data")


async def refused(client: Client, method: str, url: str, body: dict | None = None) -> str:
    answer = (await client.request(method, url, json=body)).json()
    assert not answer["success"], answer
    return answer["message"]


async def test_redemptions_page_markup(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        for lang in ("en", "zh"):
            client.cookies.set("lang", lang)
            html = (await client.get("/console/redemptions")).text
            forms = dict(re.findall(r'data-form="([^"]+)"(.*?)</form>', html, re.S))
            assert set(forms) == {"redemption", "redemption-edit", "redemption-search"}
            for name in ("name", "count", "quota", "expired_time"):
                assert f'name="{name}"' in forms["redemption"], name
            assert 'min="1" max="100"' in forms["redemption"] and 'type="datetime-local"' in forms["redemption"]
            for name in ("id", "name", "quota", "expired_time"):
                assert f'name="{name}"' in forms["redemption-edit"], name
            assert 'name="keyword"' in forms["redemption-search"]
            assert '<option value="expired">' in forms["redemption-search"]
            assert 'data-list="redemptions"' in html and "data-newcodes" in html and "data-codes" in html
            for tool in ("copy-all", "download", "export", "delete-invalid"):
                assert f'data-tool="{tool}"' in html, tool
            for key in ("redemptions_export", "redemptions_delete_invalid", "redemptions_redeemed"):
                assert TRANSLATIONS[lang][key] in html, key
        js = STATIC_FILES["redemptions.js"].decode()
        for hook in ('"copy"', '"toggle"', '"edit"', '"delete"', "data-id", "Blob", "text/csv"):
            assert hook in js, hook
        head = "id,name,key,status,quota_usd,created_time,redeemed_time,used_user_id"
        assert head.replace(",", '", "') in js
        for route in ("/api/redemption/?", "/api/redemption/search?", "/api/redemption/invalid", "status_only=true"):
            assert route in js, route


async def test_batch_create_disable_and_delete_invalid(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        await create_user("adm", "admin-password-1", role=ROLE_ADMIN)
        await create_user("carol", "carol-password-1")
        client.cookies.clear()
        await login(client, "adm", "admin-password-1")
        # batch create form
        later = int(time.time()) + 3600
        keys = await ok(
            client, "POST", "/api/redemption/", {"name": "promo", "count": 3, "quota": 2 * PER_UNIT, "expired_time": 0}
        )
        assert isinstance(keys, list) and len(keys) == 3 and all(len(k) == 32 for k in keys)
        body = {"name": "later", "count": 1, "quota": 1000, "expired_time": later}
        await ok(client, "POST", "/api/redemption/", body)
        assert "count" in await refused(client, "POST", "/api/redemption/", {**body, "count": 101})
        assert "expired_time" in await refused(
            client, "POST", "/api/redemption/", {"name": "x", "count": 1, "quota": 1, "expired_time": 1000}
        )
        page = await ok(client, "GET", "/api/redemption/?p=1&page_size=20")
        assert page["total"] == 4
        promo = [c for c in page["items"] if c["name"] == "promo"]
        assert sorted(c["key"] for c in promo) == sorted(keys)
        assert all(c["status"] == 1 and c["quota"] == 2 * PER_UNIT for c in promo)
        # search: name prefix, status; export pages of 100
        assert (await ok(client, "GET", "/api/redemption/search?keyword=pro&p=1&page_size=100"))["total"] == 3
        assert (await ok(client, "GET", "/api/redemption/search?status=1&p=1&page_size=100"))["total"] == 4
        # enable/disable one
        first, second, third = sorted(c["id"] for c in promo)
        data = await ok(client, "PUT", "/api/redemption/?status_only=true", {"id": first, "status": 2})
        assert data["status"] == 2
        assert (await ok(client, "GET", "/api/redemption/search?status=2&p=1&page_size=20"))["total"] == 1
        # edit form: only changed fields
        data = await ok(client, "PUT", "/api/redemption/", {"id": second, "name": "promo-b", "quota": PER_UNIT})
        assert (data["name"], data["quota"], data["expired_time"]) == ("promo-b", PER_UNIT, 0)
        data = await ok(client, "PUT", "/api/redemption/", {"id": second, "expired_time": later})
        assert data["expired_time"] == later and data["name"] == "promo-b"
        # a redeemed code: used, and its status no longer changes
        client.cookies.clear()
        await login(client, "carol", "carol-password-1")
        assert await ok(client, "POST", "/api/user/topup", {"key": data["key"]}) == PER_UNIT
        client.cookies.clear()
        await login(client, "adm", "admin-password-1")
        used = await ok(client, "GET", f"/api/redemption/{second}")
        assert used["status"] == 3 and used["used_user_id"] and used["redeemed_time"]
        assert "used" in await refused(client, "PUT", "/api/redemption/?status_only=true", {"id": second, "status": 1})
        # delete invalid: the disabled and the used code go
        assert await ok(client, "DELETE", "/api/redemption/invalid") == 2
        left = await ok(client, "GET", "/api/redemption/?p=1&page_size=20")
        [later_id] = [c["id"] for c in page["items"] if c["name"] == "later"]
        assert sorted(c["id"] for c in left["items"]) == [third, later_id]
        # delete one
        await ok(client, "DELETE", f"/api/redemption/{third}")
        assert (await ok(client, "GET", "/api/redemption/?p=1&page_size=20"))["total"] == 1
        assert "not found" in await refused(client, "DELETE", f"/api/redemption/{third}")
        # a common user gets neither the page nor the API
        client.cookies.clear()
        client.headers.pop("New-Api-User")
        await login(client, "carol", "carol-password-1")
        assert (await client.get("/console/redemptions")).status_code == 403
        assert not (await client.get("/api/redemption/?p=1&page_size=20")).json().get("success")
