"""Custom OAuth providers (New API's ``/api/custom-oauth-provider``): root's API, and sign-up,
sign-in, bind and unbind through one against a local OAuth 2 server (``fake_custom_oauth.py``)."""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

import httpx
import pytest

from newapi_host.api import oauth_policy
from newapi_host.auth.users import create_user
from newapi_host.config import Config
from newapi_host.db.tables import ROLE_ADMIN, CustomOAuthProvider, LoginIdentity, User

from .conftest import ROOT_PASSWORD, Client, as_root, login, running
from .fake_custom_oauth import CLIENT_ID, CLIENT_SECRET, FakeProvider

NESTED_USER = {
    "data": {
        "user": {"id": 1234, "login": "nested_name", "profile": {"name": "Nested Person"}, "emails": ["n@example.com"]}
    }
}


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    server = FakeProvider().start()
    yield server
    server.stop()


def provider_body(fake: FakeProvider, **change: Any) -> dict[str, Any]:
    return {
        "name": "Acme SSO",
        "slug": "acme",
        "icon": "acme",
        "enabled": True,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "authorization_endpoint": f"{fake.url}/authorize",
        "token_endpoint": f"{fake.url}/token",
        "user_info_endpoint": f"{fake.url}/userinfo",
        "scopes": "profile email",
        "user_id_field": "data.user.id",
        "username_field": "data.user.login",
        "display_name_field": "data.user.profile.name",
        "email_field": "data.user.emails.0",
        "pkce_enabled": True,
        **change,
    }


async def create(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post("/api/custom-oauth-provider/", json=body)
    assert r.status_code == 200 and r.json()["success"], r.text
    return r.json()["data"]


def at_provider(url: str) -> str:
    """The browser at the provider: it answers with a redirect back to the gateway (path+query)."""
    r = httpx.get(url, follow_redirects=False)
    assert r.status_code == 302, r.text
    back = urlsplit(r.headers["location"])
    assert back.netloc == "testserver"
    return f"{back.path}?{back.query}"


async def console_sign_in(client: Client, slug: str = "acme") -> tuple[str, str]:
    """Our console's flow up to the provider's answer: (the callback path, the state)."""
    r = await client.get(f"/api/oauth/{slug}")
    assert r.status_code in (302, 303, 307), r.text
    back = at_provider(r.headers["location"])
    return back, parse_qs(urlsplit(back).query)["state"][0]


async def follow_callback(client: Client, path: str) -> str:
    """Where the callback sends the browser: a redirect, or (on the way back from the provider's
    site, which brings no SameSite=Strict cookie) a page that goes on by itself."""
    r = await client.get(path)
    if r.status_code in (302, 303, 307):
        where = r.headers["location"]
    else:
        found = re.search(r'<meta http-equiv="refresh" content="0;url=([^"]+)">', r.text)
        assert r.status_code == 200 and found, r.text
        where = html.unescape(found.group(1))
    if where == "/console":
        user_id = re.search(r'data-user-id="(\d+)"', (await client.get("/console")).text)
        assert user_id is not None
        client.headers["New-Api-User"] = user_id.group(1)
    return unquote_plus(where)


async def test_only_root_manages_providers_and_the_secret_never_comes_back(
    db_config: Config, fake: FakeProvider
) -> None:
    async with running(db_config) as client:
        await as_root(client)
        made = await create(client, provider_body(fake, enabled=False))
        assert made["slug"] == "acme" and made["has_client_secret"] is True and "client_secret" not in made
        for path in ("/api/custom-oauth-provider/", f"/api/custom-oauth-provider/{made['id']}"):
            r = await client.get(path)
            assert r.json()["success"] and CLIENT_SECRET not in r.text and '"client_secret"' not in r.text
        assert (await client.get("/api/custom-oauth-provider/")).json()["data"][0]["user_id_field"] == "data.user.id"

        # Empty or masked keeps the stored secret; a new one replaces it; no answer shows it.
        pid = made["id"]
        for kept in ("", "**********"):
            r = await client.put(f"/api/custom-oauth-provider/{pid}", json={"client_secret": kept, "name": "Acme"})
            assert r.json()["success"] and CLIENT_SECRET not in r.text
            row = await CustomOAuthProvider.select().where(CustomOAuthProvider.id == pid).first()
            assert row is not None and row["client_secret"] == CLIENT_SECRET and row["name"] == "Acme"
        r = await client.put(f"/api/custom-oauth-provider/{pid}", json={"client_secret": "rotated-1"})
        assert r.json()["success"] and "rotated-1" not in r.text
        assert (await CustomOAuthProvider.select().first())["client_secret"] == "rotated-1"

        # Bad input: a clear message, never a 500.
        bad = [
            provider_body(fake, slug="Bad Slug!"),
            provider_body(fake, slug="github"),  # a built-in method's
            provider_body(fake, slug="acme"),  # taken
            provider_body(fake, slug="x1", token_endpoint="ftp://nowhere"),
            provider_body(fake, slug="x2", client_id=""),
            provider_body(fake, slug="x3", enabled="yes"),
            provider_body(fake, slug="x4", auth_style=7),
        ]
        for body in bad:
            r = await client.post("/api/custom-oauth-provider/", json=body)
            assert r.status_code == 200 and r.json()["success"] is False and r.json()["message"], (body, r.text)
        r = await client.post("/api/custom-oauth-provider/", content=b"not json")
        assert r.status_code == 200 and r.json()["success"] is False
        assert (await client.get("/api/custom-oauth-provider/999")).json()["success"] is False
        assert (await client.get("/api/custom-oauth-provider/abc")).json()["success"] is False
        assert await CustomOAuthProvider.count() == 1

        # Root's fetches of a discovery document obey the SSRF settings (a private address and an
        # odd port are refused by default), on the route and when a provider is saved.
        r = await client.post("/api/custom-oauth-provider/discovery", json={"issuer_url": fake.url})
        assert r.json()["success"] is False and "SSRF" in r.json()["message"], r.text
        well_known = f"{fake.url}/.well-known/openid-configuration"
        r = await client.post(
            "/api/custom-oauth-provider/",
            json=provider_body(fake, slug="ssrf", token_endpoint="", well_known=well_known),
        )
        assert r.json()["success"] is False and "SSRF" in r.json()["message"], r.text
        for key, value in (("fetch_setting.allow_private_ip", "true"), ("fetch_setting.allowed_ports", "[]")):
            assert (await client.put("/api/option/", json={"key": key, "value": value})).json()["success"]

        # A discovery URL instead of the endpoints; the discovery route answers the document.
        r = await client.post("/api/custom-oauth-provider/discovery", json={"issuer_url": fake.url})
        assert r.json()["data"]["discovery"]["token_endpoint"] == f"{fake.url}/token", r.text
        discovered = await create(
            client,
            provider_body(
                fake,
                slug="acme-oidc",
                authorization_endpoint="",
                token_endpoint="",
                user_info_endpoint="",
                well_known=f"{fake.url}/.well-known/openid-configuration",
            ),
        )
        assert discovered["user_info_endpoint"] == f"{fake.url}/userinfo"
        status = (await client.get("/api/status")).json()["data"]["custom_oauth_providers"]
        assert [p["slug"] for p in status] == ["acme-oidc"]  # the enabled ones only
        assert set(status[0]) == {"id", "name", "slug", "icon", "client_id", "authorization_endpoint", "scopes"}

        # An admin and a common user may do none of it.
        await create_user("adm", "admin-password-1", role=ROLE_ADMIN)
        await create_user("someone", "user-password-1")
        for who, password in (("adm", "admin-password-1"), ("someone", "user-password-1")):
            client.cookies.clear()
            await login(client, who, password)
            calls = [
                client.get("/api/custom-oauth-provider/"),
                client.get(f"/api/custom-oauth-provider/{pid}"),
                client.post("/api/custom-oauth-provider/", json=provider_body(fake, slug="mine")),
                client.put(f"/api/custom-oauth-provider/{pid}", json={"client_secret": "stolen"}),
                client.delete(f"/api/custom-oauth-provider/{pid}"),
                client.post("/api/custom-oauth-provider/discovery", json={"issuer_url": fake.url}),
            ]
            for call in calls:
                r = await call
                assert r.status_code == 403 and r.json()["success"] is False and "rotated-1" not in r.text
        assert (await CustomOAuthProvider.select().where(CustomOAuthProvider.id == pid).first())[
            "client_secret"
        ] == "rotated-1"
        assert await CustomOAuthProvider.count() == 2


async def test_sign_up_sign_in_bind_and_unbind_through_a_custom_provider(db_config: Config, fake: FakeProvider) -> None:
    async with running(db_config) as client:
        await as_root(client)
        pid = (await create(client, provider_body(fake)))["id"]
        client.cookies.clear()
        client.headers.pop("New-Api-User")
        fake.user = NESTED_USER

        # Sign-up through the console's flow (PKCE: the fake checks the verifier).
        back, _ = await console_sign_in(client)
        assert fake.authorizations[-1]["code_challenge_method"] == "S256"
        assert fake.authorizations[-1]["scope"] == "profile email"
        assert await follow_callback(client, back) == "/console"
        me = (await client.get("/api/user/self")).json()["data"]
        assert (me["username"], me["display_name"], me["email"]) == ("nested_name", "Nested Person", "n@example.com")
        links = await LoginIdentity.select().where(LoginIdentity.method == f"custom:{pid}")
        assert [(r["subject"], r["user_id"]) for r in links] == [("1234", me["id"])]

        # The same account signs the same user in again; nobody new.
        client.cookies.clear()
        back, _ = await console_sign_in(client)
        assert await follow_callback(client, back) == "/console"
        assert (await client.get("/api/user/self")).json()["data"]["id"] == me["id"]
        assert await User.count() == 2

        # A used code is refused (by the provider) even with a fresh state; a forged state is
        # refused before the provider is asked.
        client.cookies.clear()
        _, state = await console_sign_in(client)  # a fresh attempt; its code goes unused
        old_code = parse_qs(urlsplit(back).query)["code"][0]
        location = await follow_callback(client, f"/api/oauth/acme/callback?code={old_code}&state={state}")
        assert location.startswith("/login?oauth_error=") and "refused the sign-in code" in location
        client.cookies.clear()
        back, _ = await console_sign_in(client)
        forged = back.replace("state=", "state=x")
        assert (await follow_callback(client, forged)).startswith("/login?oauth_error=")

        # New API's front end: state from /api/oauth/state, the URL built from /api/status.
        client.cookies.clear()
        listed = (await client.get("/api/status")).json()["data"]["custom_oauth_providers"]
        assert [p["slug"] for p in listed] == ["acme"] and CLIENT_SECRET not in str(listed)
        state = (await client.get("/api/oauth/state")).json()["data"]
        p = listed[0]
        url = (
            p["authorization_endpoint"]
            + "?"
            + urlencode(
                {
                    "client_id": p["client_id"],
                    "redirect_uri": "http://testserver/oauth/acme",
                    "response_type": "code",
                    "scope": p["scopes"],
                    "state": state,
                }
            )
        )
        code = parse_qs(urlsplit(at_provider(url)).query)["code"][0]
        r = await client.get("/api/oauth/acme", params={"code": code, "state": "wrong"})
        assert r.status_code == 403 and r.json()["success"] is False
        r = await client.get("/api/oauth/acme", params={"code": code, "state": state})
        assert r.json()["success"] and r.json()["data"]["id"] == me["id"], r.text

        # Bind: root links another account of the provider, sees it with New API's numeric id,
        # and unlinks it.
        client.cookies.clear()
        await login(client, "root", ROOT_PASSWORD)
        fake.user = {"data": {"user": {"id": "root-acme", "login": "r"}}}
        back, _ = await console_sign_in(client)
        assert await follow_callback(client, back) == "/console"
        bindings = (await client.get("/api/user/oauth/bindings")).json()["data"]
        custom = [b for b in bindings if b["provider_slug"] == "acme"]
        assert custom == [
            {
                "provider_id": pid,
                "provider_slug": "acme",
                "provider_name": "Acme SSO",
                "provider_icon": "acme",
                "provider_user_id": "root-acme",
                "created_at": custom[0]["created_at"],
            }
        ]
        # Deleting a provider with linked users is refused.
        r = await client.delete(f"/api/custom-oauth-provider/{pid}")
        assert r.json()["success"] is False and "linked" in r.json()["message"]
        r = await client.delete(f"/api/user/oauth/bindings/{pid}")
        assert r.json()["success"], r.text
        assert not [
            b for b in (await client.get("/api/user/oauth/bindings")).json()["data"] if b["provider_slug"] == "acme"
        ]
        assert (await client.delete(f"/api/user/oauth/bindings/{pid}")).json()["success"] is False

        # The client secret is what the provider checks: a wrong one fails the sign-in cleanly.
        await client.put(f"/api/custom-oauth-provider/{pid}", json={"client_secret": "wrong"})
        client.cookies.clear()
        fake.user = NESTED_USER
        back, _ = await console_sign_in(client)
        location = await follow_callback(client, back)
        assert location.startswith("/login?oauth_error=") and "wrong" not in location

        # Root sees and removes the user's link with New API's admin routes; then the provider
        # can go, and with it its entry in /api/status.
        await login(client, "root", ROOT_PASSWORD)
        theirs = (await client.get(f"/api/user/{me['id']}/oauth/bindings")).json()["data"]
        assert [(b["provider_id"], b["provider_user_id"]) for b in theirs] == [(pid, "1234")]
        assert (await client.delete(f"/api/user/{me['id']}/oauth/bindings/{pid}")).json()["success"]
        assert (await client.get(f"/api/user/{me['id']}/oauth/bindings")).json()["data"] == []
        assert (await client.delete(f"/api/custom-oauth-provider/{pid}")).json()["success"]
        assert (await client.get("/api/status")).json()["data"]["custom_oauth_providers"] == []
        assert await CustomOAuthProvider.count() == 0


async def test_a_disabled_provider_is_refused(sqlite_config: Config, fake: FakeProvider) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        pid = (await create(client, provider_body(fake, pkce_enabled=False, auth_style=2)))["id"]
        client.cookies.clear()
        fake.user = NESTED_USER
        state = (await client.get("/api/oauth/state")).json()["data"]
        url = f"{fake.url}/authorize?" + urlencode(
            {
                "client_id": CLIENT_ID,
                "redirect_uri": "http://testserver/oauth/acme",
                "response_type": "code",
                "state": state,
            }
        )
        code = parse_qs(urlsplit(at_provider(url)).query)["code"][0]
        back, _ = await console_sign_in(client)  # started while enabled (no PKCE, HTTP Basic)
        assert "code_challenge" not in fake.authorizations[-1]

        client.cookies.clear()
        await login(client, "root", ROOT_PASSWORD)
        r = await client.put(f"/api/custom-oauth-provider/{pid}", json={"enabled": False})
        assert r.json()["success"] and r.json()["data"]["enabled"] is False
        assert (await client.get("/api/status")).json()["data"]["custom_oauth_providers"] == []
        client.cookies.clear()
        client.headers.pop("New-Api-User")

        r = await client.get("/api/oauth/acme")
        assert r.headers["location"].startswith("/login?oauth_error=")
        assert (await follow_callback(client, back)).startswith("/login?oauth_error=")
        state = (await client.get("/api/oauth/state")).json()["data"]
        r = await client.get("/api/oauth/acme", params={"code": code, "state": state})
        assert r.json()["success"] is False and "not enabled" in r.json()["message"]
        assert await User.count() == 1 and await LoginIdentity.count() == 0

        # Enabled again, the same sign-in works (HTTP Basic client authentication).
        client.cookies.clear()
        await login(client, "root", ROOT_PASSWORD)
        await client.put(f"/api/custom-oauth-provider/{pid}", json={"enabled": True})
        client.cookies.clear()
        client.headers.pop("New-Api-User")
        back, _ = await console_sign_in(client)
        assert await follow_callback(client, back) == "/console"
        assert await User.count() == 2


POLICY = {
    "logic": "and",
    "conditions": [{"field": "data.user.level", "op": "gte", "value": 2}],
    "groups": [
        {
            "logic": "or",
            "conditions": [
                {"field": "data.user.roles", "op": "contains", "value": "staff"},
                {"field": "data.user.verified", "op": "eq", "value": True},
            ],
        }
    ],
}


async def test_the_access_policy_decides_who_may_sign_in(sqlite_config: Config, fake: FakeProvider) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        for bad in ('{"conditions": []}', "not json", '{"conditions": [{"field": "a", "op": "matches"}]}'):
            r = await client.post("/api/custom-oauth-provider/", json=provider_body(fake, access_policy=bad))
            assert r.json()["success"] is False and "access_policy" in r.json()["message"], bad
        template = "{{provider}} needs level {{required}}, you have {{current}} ({{current.data.user.login}})"
        made = await create(
            client,
            provider_body(fake, access_policy=json.dumps(POLICY), access_denied_message=template),
        )
        assert json.loads(made["access_policy"]) == POLICY and made["access_denied_message"] == template
        client.cookies.clear()
        client.headers.pop("New-Api-User")

        def user(level: Any, **more: Any) -> dict[str, Any]:
            return {"data": {"user": {"id": f"u{level}", "login": f"lvl{level}", "level": level, **more}}}

        fake.user = user(1, roles=["staff"])
        back, _ = await console_sign_in(client)
        location = await follow_callback(client, back)
        assert location == "/login?oauth_error=Acme SSO needs level 2, you have 1 (lvl1)", location
        for refused in (user(3), user(3, roles=["guest"], verified=False), user("2", roles="guests")):
            fake.user = refused
            client.cookies.clear()
            back, _ = await console_sign_in(client)
            location = await follow_callback(client, back)
            assert location.startswith("/login?oauth_error=Acme SSO"), (refused, location)
        assert await User.count() == 1

        for allowed in (user(3, roles=["staff"]), user("2", verified=True)):
            fake.user = allowed
            client.cookies.clear()
            back, _ = await console_sign_in(client)
            assert await follow_callback(client, back) == "/console", allowed
        assert await User.count() == 3

        # Without a message of root's, the fixed sentence; New API's front end gets it in JSON.
        client.cookies.clear()
        await login(client, "root", ROOT_PASSWORD)
        await client.put(f"/api/custom-oauth-provider/{made['id']}", json={"access_denied_message": ""})
        client.cookies.clear()
        client.headers.pop("New-Api-User")
        fake.user = user(0)
        state = (await client.get("/api/oauth/state")).json()["data"]
        url = f"{fake.url}/authorize?" + urlencode(
            {"client_id": CLIENT_ID, "redirect_uri": "http://testserver/oauth/acme", "response_type": "code"}
            | {"state": state}
        )
        code = parse_qs(urlsplit(at_provider(url)).query)["code"][0]
        body = (await client.get("/api/oauth/acme", params={"code": code, "state": state})).json()
        assert body == {"success": False, "message": oauth_policy.DENIED}


def test_policy_operators() -> None:
    user = {"a": {"n": 5, "s": "hello", "l": ["x", 2], "t": True, "z": None}}

    def passes(field: str, op: str, value: Any = None) -> bool:
        policy = oauth_policy.parse(json.dumps({"conditions": [{"field": field, "op": op, "value": value}]}))
        return oauth_policy.evaluate(user, policy)[0]

    assert passes("a.n", "eq", 5) and passes("a.n", "eq", "5.0") and not passes("a.n", "ne", 5)
    assert passes("a.n", "gt", 4) and passes("a.n", "lte", 5) and not passes("a.n", "lt", 5)
    assert passes("a.s", "gt", "abc") and passes("a.s", "contains", "ell") and passes("a.s", "not_contains", "z")
    assert passes("a.l", "contains", 2) and passes("a.l", "contains", "x") and not passes("a.l", "contains", "y")
    assert passes("a.n", "in", [1, 5]) and passes("a.l.1", "not_in", [1, 3]) and passes("a.t", "eq", True)
    assert passes("a.z", "exists") and passes("a.q", "not_exists") and not passes("a.q", "exists")
    assert not passes("a.q", "eq", "") and passes("a.q", "ne", "") and not passes("a.q", "lt", 1)  # missing: no value
    with pytest.raises(oauth_policy.PolicyError):
        oauth_policy.parse(json.dumps({"conditions": [{"field": "a", "op": "in", "value": 1}]}))
    deep: dict[str, Any] = {"conditions": [{"field": "a", "op": "exists"}]}
    for _ in range(10):
        deep = {"groups": [deep]}
    with pytest.raises(oauth_policy.PolicyError):
        oauth_policy.parse(json.dumps(deep))


async def test_another_worker_lists_a_new_provider_within_two_seconds(db_config: Config, fake: FakeProvider) -> None:
    async with running(db_config) as first, running(db_config) as second:
        await as_root(first)

        async def listed() -> list[str]:
            status = (await second.get("/api/status")).json()["data"]
            return [p["slug"] for p in status["custom_oauth_providers"]]

        assert await listed() == []
        pid = (await create(first, provider_body(fake)))["id"]
        started = time.monotonic()
        while await listed() != ["acme"]:
            assert time.monotonic() - started < 2, "the other worker does not list the provider"
            await asyncio.sleep(0.05)
        await first.put(f"/api/custom-oauth-provider/{pid}", json={"enabled": False})
        started = time.monotonic()
        while await listed() != []:
            assert time.monotonic() - started < 2, "the other worker still lists the disabled provider"
            await asyncio.sleep(0.05)
