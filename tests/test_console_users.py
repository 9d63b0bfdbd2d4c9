"""Console users page: the markup users.js relies on, and the API round trips it makes, with the
exact bodies it sends (root and a plain admin)."""

from __future__ import annotations

import re

from newapi_host.auth.users import create_user
from newapi_host.config import Config
from newapi_host.db.tables import ROLE_ADMIN, ROLE_COMMON
from newapi_host.web.i18n import TRANSLATIONS
from newapi_host.web.layout import STATIC_FILES

from .conftest import ROOT_PASSWORD, Client, as_root, login, running

PER_UNIT = 500000


async def ok(client: Client, method: str, url: str, body: dict | None = None) -> object:
    r = await client.request(method, url, json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["success"], answer
    return answer.get("data")


async def refused(client: Client, method: str, url: str, body: dict | None = None) -> str:
    r = await client.request(method, url, json=body)
    answer = r.json()
    assert not answer["success"], answer
    return answer["message"]


async def user_by_name(client: Client, name: str) -> dict:
    data = await ok(client, "GET", f"/api/user/search?keyword={name}&p=1&page_size=20")
    [user] = [u for u in data["items"] if u["username"] == name]
    return user


async def test_users_page_markup(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        for lang in ("en", "zh"):
            client.cookies.set("lang", lang)
            html = (await client.get("/console/users")).text
            for form in ("user-search", "user-create", "user", "user-quota"):
                assert f'data-form="{form}"' in html, form
            assert 'data-list="users"' in html and 'data-edit="user"' in html
            forms = dict(re.findall(r'data-form="([^"]+)"(.*?)</form>', html, re.S))
            for name in ("keyword", "group", "role", "status"):
                assert f'name="{name}"' in forms["user-search"], name
            for name in ("username", "display_name", "password", "role"):
                assert f'name="{name}"' in forms["user-create"], name
            for name in ("id", "display_name", "password", "email", "group", "quota", "remark"):
                assert f'name="{name}"' in forms["user"], name
            assert 'name="mode"' in forms["user-quota"] and 'name="amount"' in forms["user-quota"]
            assert 'value="add"' in forms["user-quota"] and 'value="subtract"' in forms["user-quota"]
            for key in ("users_role", "balance", "used_quota", "request_count", "users_adjust_title"):
                assert TRANSLATIONS[lang][key] in html, key
            assert 'data-page="next"' in html and "users.js" in html
        js = STATIC_FILES["users.js"].decode()
        for hook in ('"edit"', '"toggle"', '"promote"', '"demote"', '"delete"', "data-id", "add_quota"):
            assert hook in js, hook
        for route in ("/api/user/?", "/api/user/search?", "/api/user/manage", '"/api/user/"', "/api/group/"):
            assert route in js, route


async def test_root_round_trips(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        assert "default" in await ok(client, "GET", "/api/group/")
        # add user form
        body = {"username": "alice", "display_name": "Alice", "password": "alice-password-1", "role": 1}
        await ok(client, "POST", "/api/user/", body)
        assert "exists" in await refused(client, "POST", "/api/user/", body)
        page = await ok(client, "GET", "/api/user/?p=1&page_size=20")
        assert page["total"] == 2 and page["items"][0]["username"] == "alice"
        alice = await user_by_name(client, "alice")
        assert alice["role"] == ROLE_COMMON and alice["status"] == 1 and alice["DeletedAt"] is None
        assert (await ok(client, "GET", "/api/user/search?group=default&role=1&status=1&p=1&page_size=20"))[
            "total"
        ] == 1
        uid = alice["id"]
        # edit form: only changed fields, the balance in quota units
        await ok(
            client,
            "PUT",
            "/api/user/",
            {"id": uid, "display_name": "Alice B", "group": "vip", "remark": "vip customer", "quota": 5 * PER_UNIT},
        )
        user = await ok(client, "GET", f"/api/user/{uid}")
        assert (user["display_name"], user["group"], user["remark"], user["quota"]) == (
            "Alice B",
            "vip",
            "vip customer",
            5 * PER_UNIT,
        )
        await ok(client, "PUT", "/api/user/", {"id": uid, "password": "new-password-22"})
        client.cookies.clear()
        await login(client, "alice", "new-password-22")
        client.cookies.clear()
        await login(client, "root", ROOT_PASSWORD)
        assert "does not exist" in await refused(client, "PUT", "/api/user/", {"id": uid, "group": "nope"})
        # adjust balance
        await ok(client, "POST", "/api/user/manage", {"id": uid, "action": "add_quota", "mode": "add", "value": 250000})
        await ok(
            client, "POST", "/api/user/manage", {"id": uid, "action": "add_quota", "mode": "subtract", "value": 50000}
        )
        assert (await ok(client, "GET", f"/api/user/{uid}"))["quota"] == 5 * PER_UNIT + 200000
        assert "smaller" in await refused(
            client, "POST", "/api/user/manage", {"id": uid, "action": "add_quota", "mode": "subtract", "value": 10**12}
        )
        # enable/disable, promote/demote
        assert (await ok(client, "POST", "/api/user/manage", {"id": uid, "action": "disable"}))["status"] == 2
        assert (await ok(client, "POST", "/api/user/manage", {"id": uid, "action": "enable"}))["status"] == 1
        assert (await ok(client, "POST", "/api/user/manage", {"id": uid, "action": "promote"}))["role"] == ROLE_ADMIN
        assert "already" in await refused(client, "POST", "/api/user/manage", {"id": uid, "action": "promote"})
        assert (await ok(client, "POST", "/api/user/manage", {"id": uid, "action": "demote"}))["role"] == ROLE_COMMON
        # delete: the list still shows the row, marked deleted
        await ok(client, "DELETE", f"/api/user/{uid}")
        gone = (await ok(client, "GET", "/api/user/?p=1&page_size=20"))["items"][0]
        assert gone["id"] == uid and gone["DeletedAt"]
        assert (await ok(client, "GET", "/api/user/search?status=-1&p=1&page_size=20"))["total"] == 1


async def test_admin_limits(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        await create_user("adm", "admin-password-1", role=ROLE_ADMIN)
        await create_user("adm2", "admin-password-2", role=ROLE_ADMIN)
        carol = await create_user("carol", "carol-password-1")
        client.cookies.clear()
        await login(client, "adm", "admin-password-1")
        assert (await client.get("/console/users")).status_code == 200
        cid = carol["id"]
        root = await user_by_name(client, "root")
        other = await user_by_name(client, "adm2")
        # an admin manages common users ...
        await ok(client, "PUT", "/api/user/", {"id": cid, "display_name": "Carol", "quota": PER_UNIT})
        await ok(client, "POST", "/api/user/manage", {"id": cid, "action": "add_quota", "mode": "add", "value": 1000})
        await ok(client, "POST", "/api/user/manage", {"id": cid, "action": "disable"})
        await ok(client, "POST", "/api/user/manage", {"id": cid, "action": "enable"})
        # ... but may not promote, nor touch admins or root, nor create admins
        msg = await refused(client, "POST", "/api/user/manage", {"id": cid, "action": "promote"})
        assert msg == "Regular administrators cannot promote other users to administrator"
        msg = await refused(client, "POST", "/api/user/manage", {"id": other["id"], "action": "demote"})
        assert "same or higher" in msg
        assert "same or higher" in await refused(client, "GET", f"/api/user/{root['id']}")
        assert "same or higher" in await refused(client, "PUT", "/api/user/", {"id": other["id"], "quota": 1})
        assert "same or higher" in await refused(
            client, "POST", "/api/user/manage", {"id": root["id"], "action": "disable"}
        )
        assert "same or higher" in await refused(client, "DELETE", f"/api/user/{other['id']}")
        body = {"username": "adm3", "display_name": "", "password": "admin-password-3", "role": 10}
        assert "equal to or higher" in await refused(client, "POST", "/api/user/", body)
        await ok(client, "POST", "/api/user/", {**body, "role": 1})
        await ok(client, "DELETE", f"/api/user/{cid}")
        # a common user gets neither the page nor the API
        client.cookies.clear()
        client.headers.pop("New-Api-User")
        await login(client, "adm3", "admin-password-3")
        assert (await client.get("/console/users")).status_code == 403
        assert not (await client.get("/api/user/?p=1&page_size=20")).json().get("success")
