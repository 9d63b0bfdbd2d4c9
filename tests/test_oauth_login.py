"""Redirect sign-in through a login plugin: start, state check, sign-up, sign-in, linking, refusals."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote_plus, urlsplit

from newapi_host.config import Config
from newapi_host.db.tables import USER_DISABLED, LoginIdentity, User

from .conftest import Client, as_root, running


async def start(client: Client) -> str:
    """Begin the fake provider's sign-in; the state the provider would send back."""
    r = await client.get("/api/oauth/fakeoauth")
    assert r.status_code in (302, 303, 307)
    target = urlsplit(r.headers["location"])
    assert target.netloc == "login.invalid"
    query = parse_qs(target.query)
    assert query["redirect_uri"] == ["http://testserver/api/oauth/fakeoauth/callback"]
    assert "httponly" in r.headers["set-cookie"].lower() and "samesite=lax" in r.headers["set-cookie"].lower()
    return query["state"][0]


async def callback(client: Client, code: str, state: str) -> str:
    """Where the gateway sends the browser after the provider: a redirect (a refusal), or, signed
    in, a page of the site that goes on to /console (the session cookie comes along only then)."""
    r = await client.get("/api/oauth/fakeoauth/callback", params={"code": code, "state": state})
    if r.status_code == 200:
        assert '<meta http-equiv="refresh" content="0;url=/console">' in r.text, r.text
        location = "/console"
    else:
        assert r.status_code in (302, 303, 307)
        location = r.headers["location"]
    if location == "/console":
        # The console page tells its script who signed in; the script sends it as New-Api-User.
        user_id = re.search(r'data-user-id="(\d+)"', (await client.get("/console")).text)
        assert user_id is not None
        client.headers["New-Api-User"] = user_id.group(1)
    return unquote_plus(location)


async def test_first_sign_in_creates_a_linked_user_and_later_ones_find_it(sqlite_config: Config) -> None:
    async with running(sqlite_config, "wallet") as client:
        await as_root(client)
        client.cookies.clear()
        status = (await client.get("/api/status")).json()["data"]
        assert {"id": "fakeoauth", "name": "Fake OAuth", "kind": "redirect", "icon": ""} in status["login_methods"]

        assert await callback(client, "42", await start(client)) == "/console"
        me = (await client.get("/api/user/self")).json()["data"]
        assert me["username"] == "user_42" and me["role"] == 1
        links = await LoginIdentity.select().where(LoginIdentity.method == "fakeoauth")
        assert [(r["subject"], r["user_id"]) for r in links] == [("42", me["id"])]

        client.cookies.clear()
        assert await callback(client, "42", await start(client)) == "/console"
        assert (await client.get("/api/user/self")).json()["data"]["id"] == me["id"]
        assert await User.count() == 2  # root and user_42: nobody new

        # A disabled user cannot come back through the provider either.
        await User.update({User.status: USER_DISABLED}).where(User.id == me["id"])
        client.cookies.clear()
        location = await callback(client, "42", await start(client))
        assert location.startswith("/login?oauth_error=") and "disabled" in location


async def test_state_must_match_and_registration_may_be_closed(sqlite_config: Config) -> None:
    async with running(sqlite_config, "wallet") as client:
        await as_root(client)
        client.cookies.clear()
        state = await start(client)
        assert (await callback(client, "7", "forged")).startswith("/login?oauth_error=")
        client.cookies.clear()  # the state cookie is gone: the real state no longer works either
        assert (await callback(client, "7", state)).startswith("/login?oauth_error=")
        assert await User.count() == 1

        client.app.state.host.options._values["RegisterEnabled"] = "false"
        location = await callback(client, "7", await start(client))
        assert "registrations" in location and await User.count() == 1

        r = await client.get("/api/oauth/password")  # a form method has no redirect flow
        assert r.headers["location"].startswith("/login?oauth_error=")
        assert (await client.get("/api/oauth/nope")).headers["location"].startswith("/login?oauth_error=")


async def test_signed_in_user_links_the_account(sqlite_config: Config) -> None:
    async with running(sqlite_config, "wallet") as client:
        root = await as_root(client)
        assert await callback(client, "root-gh", await start(client)) == "/console"
        assert (await client.get("/api/user/self")).json()["data"]["id"] == root
        links = await LoginIdentity.select().where(LoginIdentity.subject == "root-gh")
        assert [r["user_id"] for r in links] == [root]

        client.cookies.clear()
        assert await callback(client, "root-gh", await start(client)) == "/console"
        assert (await client.get("/api/user/self")).json()["data"]["id"] == root

        # Another signed-in user cannot take over an account that is linked already.
        client.cookies.clear()
        assert await callback(client, "someone", await start(client)) == "/console"
        location = await callback(client, "root-gh", await start(client))
        assert "already linked" in location


async def test_new_apis_state_endpoint_answers_get_and_post(sqlite_config: Config) -> None:
    async with running(sqlite_config, "wallet") as client:
        for method in ("GET", "POST"):
            r = await client.request(method, "/api/oauth/state", params={"aff": "AbC1"})
            body = r.json()
            assert r.status_code == 200 and body["success"] is True and len(body["data"]) >= 16
            cookies = r.headers.get_list("set-cookie")
            assert any(c.startswith(f"oauth_state=*:{body['data']}:") for c in cookies), cookies
            assert any(c.startswith("oauth_aff=AbC1") for c in cookies)
