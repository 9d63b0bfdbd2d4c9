"""Console sessions can be ended: logout ends that cookie; a password change, a password reset,
a role change or disabling the user ends every cookie the user holds (``users.auth_version``).

A "copied" cookie is the value of the ``session`` cookie replayed from another client, as a
thief would; it must stop working with New API's 401 envelope, while a fresh sign-in works.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager

import httpx

from newapi_host.auth.sessions import MAX_AGE, SessionBook
from newapi_host.auth.users import create_user
from newapi_host.db.tables import RevokedSession

from .conftest import as_root, login, running

NOT_SIGNED_IN = {"success": False, "message": "Unauthorized, not logged in and no access token provided"}


@asynccontextmanager
async def browser(client, cookie: str | None = None, user_id: int | None = None):
    """Another client on the same app, optionally replaying a copied session cookie."""
    transport = httpx.ASGITransport(app=client.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        if cookie is not None:
            other.cookies.set("session", cookie)
        if user_id is not None:
            other.headers["New-Api-User"] = str(user_id)
        yield other


async def signed_in(client, username: str, password: str) -> tuple[int, str]:
    """Sign ``client`` in; the user id and a copy of the session cookie it received."""
    user_id = await login(client, username, password)
    return user_id, client.cookies["session"]


async def works(cookie: str, user_id: int, client) -> bool:
    async with browser(client, cookie, user_id) as thief:
        r = await thief.get("/api/user/self")
        if r.status_code == 200 and r.json()["success"]:
            return True
        assert r.status_code == 401 and r.json() == NOT_SIGNED_IN, r.text
        return False


async def eventually_dead(cookie: str, user_id: int, client, within: float = 2.0) -> bool:
    """Another worker learns of a logout through the database within its sync interval."""
    deadline = time.monotonic() + within
    while await works(cookie, user_id, client):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_logout_ends_that_session_everywhere_and_only_that_one(db_config):
    async with running(db_config) as client, running(db_config) as other_worker:
        await as_root(client)
        await create_user("alice", "alice-passphrase")
        async with browser(client) as laptop, browser(client) as phone:
            uid, laptop_cookie = await signed_in(laptop, "alice", "alice-passphrase")
            _, phone_cookie = await signed_in(phone, "alice", "alice-passphrase")
            assert await works(laptop_cookie, uid, client)

            r = await laptop.get("/api/user/logout")
            assert r.json()["success"]
            assert not await works(laptop_cookie, uid, client)  # the copied cookie died with the logout
            assert await works(phone_cookie, uid, client)  # the other session lives on

            # Across workers and nodes: another app on the same database refuses it too.
            assert await eventually_dead(laptop_cookie, uid, other_worker)
            assert await works(phone_cookie, uid, other_worker)

            # The console's pages treat it as signed out as well.
            async with browser(client, laptop_cookie) as thief:
                r = await thief.get("/console", follow_redirects=False)
                assert r.status_code in (302, 303) and r.headers["location"] == "/login"

            _, fresh = await signed_in(laptop, "alice", "alice-passphrase")
            assert await works(fresh, uid, client)


async def test_own_password_change_ends_every_other_session(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        await create_user("bob", "bob-old-passphrase")
        async with browser(client) as laptop, browser(client) as phone:
            uid, before_change = await signed_in(laptop, "bob", "bob-old-passphrase")
            _, phone_cookie = await signed_in(phone, "bob", "bob-old-passphrase")

            r = await laptop.put(
                "/api/user/self", json={"password": "bob-new-passphrase", "original_password": "bob-old-passphrase"}
            )
            assert r.json()["success"], r.text
            assert not await works(phone_cookie, uid, client)
            assert not await works(before_change, uid, client)  # a copy of the changer's old cookie too
            # The browser that made the change was issued a new cookie and stays signed in.
            assert (await laptop.get("/api/user/self")).json()["success"]

            r = await phone.post("/api/user/login", json={"username": "bob", "password": "bob-old-passphrase"})
            assert r.json()["success"] is False
            _, fresh = await signed_in(phone, "bob", "bob-new-passphrase")
            assert await works(fresh, uid, client)


async def test_admin_reset_role_change_and_disable_end_every_session(db_config):
    async with running(db_config) as client:
        await as_root(client)
        carol = (await create_user("carol", "carol-passphrase"))["id"]
        password = "carol-passphrase"

        async def cookies() -> list[str]:
            held = []
            for _ in range(2):
                async with browser(client) as b:
                    held.append((await signed_in(b, "carol", password))[1])
            return held

        async def all_dead(held: list[str]) -> bool:
            return not any([await works(c, carol, client) for c in held])

        held = await cookies()
        r = await client.put("/api/user/", json={"id": carol, "password": "reset-by-admin-1"})
        assert r.json()["success"], r.text
        assert await all_dead(held)
        password = "reset-by-admin-1"

        for action, role in (("promote", 10), ("demote", 1)):
            held = await cookies()
            assert all([await works(c, carol, client) for c in held])
            r = await client.post("/api/user/manage", json={"id": carol, "action": action})
            assert r.json()["data"]["role"] == role, r.text
            assert await all_dead(held), action
            async with browser(client) as b:
                await signed_in(b, "carol", password)
                assert (await b.get("/api/user/self")).json()["data"]["role"] == role

        held = await cookies()
        assert (await client.post("/api/user/manage", json={"id": carol, "action": "disable"})).json()["success"]
        assert await all_dead(held)
        async with browser(client) as b:
            r = await b.post("/api/user/login", json={"username": "carol", "password": password})
            assert r.json()["success"] is False
        assert (await client.post("/api/user/manage", json={"id": carol, "action": "enable"})).json()["success"]
        assert await all_dead(held)  # enabling again does not revive old cookies
        async with browser(client) as b:
            await signed_in(b, "carol", password)
            assert (await b.get("/api/user/self")).json()["success"]


async def test_logouts_landing_late_are_still_read(sqlite_config):
    """A logout recorded after a newer-expiring one was read (a commit landing late, or another
    node's clock a minute behind) still reaches the worker."""
    async with running(sqlite_config) as client:
        await as_root(client)
        book = SessionBook()
        await book.load_revoked()
        now = int(time.time())
        await RevokedSession.insert(RevokedSession(sid="newer", user_id=1, expires_at=now + MAX_AGE))
        await book.load_revoked()
        await RevokedSession.insert(RevokedSession(sid="older", user_id=1, expires_at=now + MAX_AGE - 60))
        await book.load_revoked()
        for sid in ("newer", "older"):
            assert not await book.valid({"id": 1, "sid": sid, "av": 0})
        assert await book.valid({"id": 1, "sid": "live", "av": 0})
        assert not await book.valid({"id": 1, "sid": "live", "av": 1})  # an older auth_version
