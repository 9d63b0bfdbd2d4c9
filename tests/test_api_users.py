"""Accounts API: registration, sign-in rate limit, self-service, and user administration."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import asynccontextmanager

import httpx

from newapi_host.auth.passwords import verify_password
from newapi_host.auth.users import create_user
from newapi_host.db.tables import LOG_MANAGE, LOG_SYSTEM, Log, Token, User
from newapi_host.relay.errors import RelayError
from newapi_host.relay.keys import authenticate
from newapi_host.store import epoch_of

from .conftest import ROOT_PASSWORD, as_root, login, running

HUGE = "x" * 10_000


async def forget_rate_limits(client) -> None:  # type: ignore[no-untyped-def]
    """Start the test client's sign-in budget over (its counts live in the shared store)."""
    options = client.app.state.host.options
    window = options.get_int("CriticalRateLimitDurationSeconds", 1200)
    epoch = epoch_of(time.time(), window)
    for e in (epoch, epoch - 1):
        await client.app.state.host.wallets.store.forget(f"critical:127.0.0.1@{e}")


@asynccontextmanager
async def another_client(client):
    """A second browser on the same app (its own cookie jar and headers)."""
    transport = httpx.ASGITransport(app=client.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        yield other


async def user_row(username: str) -> dict:
    return await User.select().where(User.username == username).first()


async def add_token(user_id: int, key: str) -> None:
    await Token.insert(Token(user_id=user_id, key=key, name="k", unlimited_quota=True, status=1))


async def key_refused(client, key: str) -> RelayError | None:
    """What the relay says about ``key`` right now (None: it authenticates)."""
    try:
        await authenticate(client.app.state.host.relay.keys, f"Bearer sk-{key}", "127.0.0.1")
    except RelayError as exc:
        return exc
    return None


async def eventually_refused(client, key: str, within: float = 1.0) -> RelayError:
    deadline = time.monotonic() + within
    while True:
        refused = await key_refused(client, key)
        if refused is not None or time.monotonic() > deadline:
            assert refused is not None, "the key still authenticates"
            return refused
        await asyncio.sleep(0.05)


# -- registration and self-service -----------------------------------------------------------------


async def test_register_invite_self_service_and_delete(db_config):
    async with running(db_config) as client:
        await as_root(client)
        options = client.app.state.host.options
        await options.set_many({"QuotaForNewUser": "1000", "QuotaForInviter": "300", "QuotaForInvitee": "200"})

        async with another_client(client) as alice:
            r = await alice.post("/api/user/register", json={"username": "alice", "password": "alice-pass"})
            assert r.json() == {"success": True, "message": ""}
            row = await user_row("alice")
            assert (row["role"], row["status"], row["group"], row["quota"]) == (1, 1, "default", 1000)
            assert row["display_name"] == "alice" and verify_password("alice-pass", row["password"])
            await login(alice, "alice", "alice-pass")
            code = (await alice.get("/api/user/aff")).json()["data"]
            assert code == row["aff_code"] and len(code) == 4

        r = await client.post(
            "/api/user/register",
            json={"username": "bob", "password": "bob-pass-1", "email": "Bob@Example.com", "aff_code": code},
        )
        assert r.json()["success"], r.text
        bob, alice_row = await user_row("bob"), await user_row("alice")
        assert bob["quota"] == 1200 and bob["inviter_id"] == alice_row["id"] and bob["email"] == "bob@example.com"
        assert (alice_row["aff_count"], alice_row["aff_quota"], alice_row["aff_history"]) == (1, 300, 300)
        system_logs = await Log.select(Log.user_id, Log.content).where(Log.type == LOG_SYSTEM)
        assert {r["user_id"] for r in system_logs} == {alice_row["id"], bob["id"]} and len(system_logs) == 4

        # An unknown invitation code is ignored, as in New API.
        r = await client.post(
            "/api/user/register", json={"username": "carol", "password": "carol-pass", "aff_code": "zz"}
        )
        assert r.json()["success"] and (await user_row("carol"))["quota"] == 1000

        async with another_client(client) as c:
            bob_id = await login(c, "bob@example.com", "bob-pass-1")  # login by e-mail
            me = (await c.get("/api/user/self")).json()["data"]
            assert me["id"] == bob_id and me["username"] == "bob" and me["aff_history_quota"] == 0
            assert "password" not in me and "access_token" not in me
            for key in ("github_id", "oidc_id", "wechat_id", "telegram_id", "linux_do_id", "setting", "inviter_id"):
                assert key in me

            r = await c.put("/api/user/self", json={"display_name": "Bobby", "email": "bobby@example.com"})
            assert r.json()["success"], r.text
            r = await c.put("/api/user/self", json={"password": "new-pass-1", "original_password": "wrong-one"})
            assert r.json() == {"success": False, "message": "Original password is incorrect"}
            r = await c.put("/api/user/self", json={"password": "new-pass-1"})
            assert r.json()["success"] is False
            r = await c.put("/api/user/self", json={"password": "new-pass-1", "original_password": "bob-pass-1"})
            assert r.json()["success"], r.text
            row = await user_row("bob")
            assert row["display_name"] == "Bobby" and row["email"] == "bobby@example.com"
            assert verify_password("new-pass-1", row["password"])

            r = await c.put("/api/user/self", json={"language": "en", "sidebar_modules": '{"chat":{}}'})
            assert r.json()["success"]
            r = await c.put(
                "/api/user/setting",
                json={
                    "notify_type": "webhook",
                    "quota_warning_threshold": 5000,
                    "webhook_url": "https://hooks.example.com/x",
                    "webhook_secret": "s3",
                    "record_ip_log": True,
                },
            )
            assert r.json() == {"success": True, "message": "Settings updated"}
            setting = json.loads((await user_row("bob"))["setting"])
            assert setting["notify_type"] == "webhook" and setting["webhook_url"] == "https://hooks.example.com/x"
            assert setting["record_ip_log"] is True and setting["quota_warning_threshold"] == 5000
            assert setting["language"] == "en" and setting["sidebar_modules"] == '{"chat":{}}'  # kept

            # Closing the account: the session dies, the name stays taken.
            assert (await c.delete("/api/user/self")).json()["success"]
            assert (await user_row("bob"))["deleted_at"] is not None
            assert (await c.get("/api/user/self")).status_code == 401
        r = await client.post("/api/user/register", json={"username": "bob", "password": "bob-pass-2"})
        assert r.json() == {"success": False, "message": "Username already exists or has been deleted"}
        # Root cannot close its own account.
        assert (await client.delete("/api/user/self")).json()["message"] == "Cannot delete super administrator account"


async def test_aff_transfer_is_conditional(sqlite_config):
    async with running(sqlite_config) as client:
        await setup_and_login_user(client, "dana", quota=0)
        await User.update({User.aff_quota: 700_000}).where(User.username == "dana")
        r = await client.post("/api/user/aff_transfer", json={"quota": 499_999})
        assert r.json()["success"] is False and "minimum" in r.json()["message"]
        r = await client.post("/api/user/aff_transfer", json={"quota": 500_000})
        assert r.json() == {"success": True, "message": "Transfer successful"}
        row = await user_row("dana")
        assert (row["quota"], row["aff_quota"]) == (500_000, 200_000)
        r = await client.post("/api/user/aff_transfer", json={"quota": 500_000})
        assert r.json()["success"] is False and "insufficient" in r.json()["message"]
        for body in ({}, {"quota": "500000"}, {"quota": -1}, {"quota": 5e5}, {"quota": True}, [1]):
            r = await client.post("/api/user/aff_transfer", json=body)
            assert r.json()["success"] is False, body
        row = await user_row("dana")
        assert (row["quota"], row["aff_quota"]) == (500_000, 200_000)


async def setup_and_login_user(client, username: str, quota: int = 0, role: int = 1) -> int:
    from .conftest import setup_root

    await setup_root(client)
    await create_user(username, f"{username}-pass", quota=quota, role=role)
    return await login(client, username, f"{username}-pass")


async def test_register_refusals_write_nothing(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        await create_user("taken", "taken-pass", quota=0)
        await User.update({User.email: "taken@example.com"}).where(User.username == "taken")
        await create_user("gone", "gone-pass-1")
        await User.update({User.deleted_at: "2025-01-01T00:00:00+00:00"}).where(User.username == "gone")
        before = await User.count()
        cases = [
            ({"username": "", "password": "newbie-pass-1"}, "Invalid parameters"),
            ({"username": "   ", "password": "newbie-pass-1"}, "Invalid parameters"),
            ({"username": "u" * 21, "password": "newbie-pass-1"}, "username"),
            ({"username": HUGE, "password": "newbie-pass-1"}, "username"),
            ({"username": "newbie", "password": "short"}, "password"),
            ({"username": "newbie", "password": "p" * 73}, "72 bytes"),
            ({"username": "newbie", "password": "12345678"}, "too common"),
            ({"username": "newbie", "password": HUGE}, "password"),
            ({"username": "newbie", "password": "newbie-pass-1", "email": "not-an-email"}, "email"),
            ({"username": "newbie", "password": "newbie-pass-1", "email": HUGE}, "email"),
            ({"username": 5, "password": "newbie-pass-1"}, "username"),
            ({"username": "newbie", "password": 12345678}, "password"),
            ({"username": "newbie", "password": "newbie-pass-1", "aff_code": []}, "aff_code"),
            ({"username": "new\nbie", "password": "newbie-pass-1"}, "control"),
            ({"username": "taken", "password": "newbie-pass-1"}, "Username already exists or has been deleted"),
            ({"username": "gone", "password": "newbie-pass-1"}, "Username already exists or has been deleted"),
            ({"username": "taken@example.com", "password": "newbie-pass-1"}, "Username already exists"),
            ({"username": "newbie", "password": "newbie-pass-1", "email": "TAKEN@example.com"}, "already in use"),
        ]
        for body, fragment in cases:
            r = await client.post("/api/user/register", json=body)
            assert r.status_code == 200 and r.json()["success"] is False, body
            assert fragment in r.json()["message"], (body, r.json())
        await forget_rate_limits(client)  # 20 requests per IP; more cases follow
        for raw in (b"{not json", b"[1]", b""):
            r = await client.post("/api/user/register", content=raw)
            assert r.json() == {"success": False, "message": "Invalid parameters"}
        await forget_rate_limits(client)

        options = client.app.state.host.options
        good = {"username": "newbie", "password": "newbie-pass-1"}
        await options.set_many({"EmailVerificationEnabled": "true"})
        r = await client.post("/api/user/register", json=good)
        assert r.json()["success"] is False and "verification" in r.json()["message"]
        await options.set_many({"EmailVerificationEnabled": "false", "PasswordRegisterEnabled": "false"})
        r = await client.post("/api/user/register", json=good)
        assert r.json()["message"].startswith("Password registration has been disabled")
        await options.set_many({"PasswordRegisterEnabled": "true", "RegisterEnabled": "false"})
        r = await client.post("/api/user/register", json=good)
        assert r.json() == {"success": False, "message": "New user registration has been disabled by administrator"}
        assert await User.count() == before

        await options.set_many({"RegisterEnabled": "true"})
        results = await asyncio.gather(*(client.post("/api/user/register", json=good) for _ in range(4)))
        assert sum(r.json()["success"] for r in results) == 1  # concurrent duplicates: one wins
        assert await User.count() == before + 1


async def test_self_update_and_setting_refusals_write_nothing(sqlite_config):
    async with running(sqlite_config) as client:
        await setup_and_login_user(client, "erin")
        await create_user("other", "other-pass")
        await User.update({User.email: "other@example.com"}).where(User.username == "other")
        before = await user_row("erin")
        self_cases = [
            ({"display_name": "d" * 21}, "display_name"),
            ({"display_name": HUGE}, "display_name"),
            ({"display_name": 5}, "display_name"),
            ({"email": "nope"}, "email"),
            ({"email": "other@example.com"}, "already in use"),
            ({"email": "x@y.z" * 20}, "email"),
            ({"password": "short", "original_password": "erin-pass"}, "password"),
            ({"password": HUGE, "original_password": "erin-pass"}, "password"),
            ({"password": "long-enough-1", "original_password": 5}, "original_password"),
            ({"language": "not a language"}, "language"),
            ({"sidebar_modules": 7}, "sidebar_modules"),
        ]
        for body, fragment in self_cases:
            r = await client.put("/api/user/self", json=body)
            assert r.json()["success"] is False and fragment in r.json()["message"], (body, r.json())
        assert (await client.put("/api/user/self", content=b"[]")).json()["message"] == "Invalid parameters"
        assert await user_row("erin") == before
        await forget_rate_limits(client)

        good = {"notify_type": "email", "quota_warning_threshold": 10}
        setting_cases = [
            ({}, "Invalid warning type"),
            ({**good, "notify_type": "sms"}, "Invalid warning type"),
            ({**good, "notify_type": 3}, "notify_type"),
            ({**good, "quota_warning_threshold": 0}, "greater than 0"),
            ({**good, "quota_warning_threshold": -5}, "greater than 0"),
            ({**good, "quota_warning_threshold": "10"}, "quota_warning_threshold"),
            ({**good, "notify_type": "webhook"}, "Webhook URL cannot be empty"),
            ({**good, "notify_type": "webhook", "webhook_url": "ftp://x"}, "Invalid Webhook URL"),
            ({**good, "notify_type": "webhook", "webhook_url": "https://x/" + HUGE}, "webhook_url"),
            ({**good, "notification_email": "nope"}, "Invalid email address"),
            ({**good, "record_ip_log": "yes"}, "record_ip_log"),
            ({**good, "accept_unset_model_ratio_model": 1}, "accept_unset_model_ratio_model"),
            ({**good, "notify_type": "gotify", "gotify_url": "https://g.example"}, "Gotify token"),
            ({**good, "language": HUGE}, "language"),
        ]
        for body, fragment in setting_cases:
            r = await client.put("/api/user/setting", json=body)
            assert r.json()["success"] is False and fragment in r.json()["message"], (body, r.json())
        assert await user_row("erin") == before
        r = await client.put("/api/user/setting", json={**good, "notification_email": "me@example.com"})
        assert r.json()["success"]
        assert json.loads((await user_row("erin"))["setting"]) == {
            "notify_type": "email",
            "quota_warning_threshold": 10,
            "notification_email": "me@example.com",
        }


# -- the critical rate limit -----------------------------------------------------------------------


async def test_login_and_register_are_rate_limited_per_ip(sqlite_config):
    async with running(sqlite_config) as client:
        from .conftest import setup_root

        await setup_root(client)
        for i in range(20):
            password = ROOT_PASSWORD if i % 5 == 0 else "wrong-password"
            r = await client.post("/api/user/login", json={"username": "root", "password": password})
            assert r.status_code == 200, (i, r.text)
        r = await client.post("/api/user/login", json={"username": "root", "password": ROOT_PASSWORD})
        assert r.status_code == 429
        assert r.json()["success"] is False and "maximum 20 requests in 20 minutes" in r.json()["message"]
        assert 1 <= int(r.headers["retry-after"]) <= 1200
        r = await client.post("/api/user/register", json={"username": "zed", "password": "zed-pass-1"})
        assert r.status_code == 429 and await User.count() == 1  # the same budget; nothing written

        await forget_rate_limits(client)
        assert (await client.post("/api/user/login", json={"username": "root", "password": ROOT_PASSWORD})).json()[
            "success"
        ]
        # The limit is an option; 0 switches it off.
        await client.app.state.host.options.set_many({"CriticalRateLimitCount": "0"})
        for _ in range(25):
            r = await client.post("/api/user/login", json={"username": "root", "password": "wrong-password"})
            assert r.status_code == 200


# -- administration --------------------------------------------------------------------------------


ADMIN_ROUTES = [
    ("GET", "/api/user/", None),
    ("GET", "/api/user/search?keyword=a", None),
    ("GET", "/api/user/{target}", None),
    ("POST", "/api/user/", {"username": "made", "password": "made-pass"}),
    ("PUT", "/api/user/", {"id": "{target}", "display_name": "x"}),
    ("DELETE", "/api/user/{target}", None),
    ("POST", "/api/user/manage", {"id": "{target}", "action": "disable"}),
]


def _fill(value, target: int):
    if isinstance(value, str):
        return value.replace("{target}", str(target))
    if isinstance(value, dict):
        return {k: (target if v == "{target}" else v) for k, v in value.items()}
    return value


async def test_admin_routes_role_matrix_and_isolation(sqlite_config):
    async with running(sqlite_config) as client:
        root_id = await as_root(client)
        admin = (await create_user("admin1", "admin1-pass", role=10))["id"]
        admin2 = (await create_user("admin2", "admin2-pass", role=10))["id"]
        common = (await create_user("common1", "common1-pass"))["id"]
        common2 = (await create_user("common2", "common2-pass", quota=77))["id"]
        logs_before = await Log.count()

        async with another_client(client) as anon:
            for method, path, body in ADMIN_ROUTES:
                r = await anon.request(method, _fill(path, common2), json=_fill(body, common2))
                assert r.status_code == 401 and r.json()["success"] is False, (method, path)
            for path in ("/api/user/self", "/api/user/aff", "/api/user/models", "/api/user/self/groups"):
                assert (await anon.get(path)).status_code == 401

        async with another_client(client) as c:
            await login(c, "common1", "common1-pass")
            for method, path, body in ADMIN_ROUTES:
                r = await c.request(method, _fill(path, common2), json=_fill(body, common2))
                assert r.status_code == 403 and r.json()["success"] is False, (method, path, r.text)
            # Self routes only ever touch the caller, whatever id a body names.
            r = await c.put("/api/user/self", json={"id": common2, "display_name": "hijack"})
            assert r.json()["success"]
            assert (await user_row("common2"))["display_name"] == "common2"
            assert (await user_row("common1"))["display_name"] == "hijack"
            me = (await c.get("/api/user/self", params={"id": common2})).json()["data"]
            assert me["id"] == common
            r = await c.post("/api/user/aff_transfer", json={"quota": 500000, "id": common2})
            assert r.json()["success"] is False

        async with another_client(client) as a:
            await login(a, "admin1", "admin1-pass")
            listing = (await a.get("/api/user/")).json()["data"]
            assert listing["total"] == 5 and {u["id"] for u in listing["items"]} >= {root_id, admin2}
            assert all("password" not in u and "access_token" not in u for u in listing["items"])
            assert (await a.get(f"/api/user/{common2}")).json()["data"]["quota"] == 77
            same = "No permission to access users of same or higher level"
            higher = "No permission to update users of same or higher permission level"
            for target in (admin2, root_id, admin):
                assert (await a.get(f"/api/user/{target}")).json()["message"] == same
                r = await a.put("/api/user/", json={"id": target, "display_name": "x"})
                assert r.json()["message"] == higher
                assert (await a.post("/api/user/manage", json={"id": target, "action": "disable"})).json()[
                    "message"
                ] == higher
                assert (await a.delete(f"/api/user/{target}")).json()["success"] is False
            r = await a.post("/api/user/manage", json={"id": common2, "action": "promote"})
            assert r.json()["message"] == "Regular administrators cannot promote other users to administrator"
            r = await a.post("/api/user/manage", json={"id": common2, "action": "demote"})
            assert r.json()["success"] is False
            r = await a.post("/api/user/", json={"username": "boss", "password": "boss-pass", "role": 10})
            assert r.json()["message"] == "Cannot create users with permission level equal to or higher than yourself"
            assert (await user_row("boss")) is None
            assert await Log.count() == logs_before  # refusals write nothing
            # What an admin may do.
            r = await a.post("/api/user/", json={"username": "made", "password": "made-pass", "display_name": "M"})
            assert r.json()["success"], r.text
            made = await user_row("made")
            assert (made["role"], made["display_name"], made["group"]) == (1, "M", "default")
            r = await a.put("/api/user/", json={"id": common2, "display_name": "C2", "quota": 500, "remark": "vip"})
            assert r.json()["success"], r.text
            row = await user_row("common2")
            assert (row["display_name"], row["quota"], row["remark"]) == ("C2", 500, "vip")

        # Root: promote/demote; never disable, delete or demote a root.
        r = await client.post("/api/user/manage", json={"id": common2, "action": "promote"})
        assert r.json() == {"success": True, "message": "", "data": {"role": 10, "status": 1}}
        r = await client.post("/api/user/manage", json={"id": common2, "action": "promote"})
        assert r.json()["message"] == "This user is already an administrator"
        r = await client.post("/api/user/manage", json={"id": common2, "action": "demote"})
        assert r.json()["data"] == {"role": 1, "status": 1}
        r = await client.post("/api/user/manage", json={"id": common2, "action": "demote"})
        assert r.json()["message"] == "This user is already a common user"
        for action, message in (
            ("disable", "Cannot disable super administrator user"),
            ("delete", "Cannot delete super administrator account"),
            ("demote", "Cannot demote super administrator user"),
        ):
            r = await client.post("/api/user/manage", json={"id": root_id, "action": action})
            assert r.json() == {"success": False, "message": message}
        assert (await client.delete(f"/api/user/{root_id}")).json()["success"] is False
        r = await client.post("/api/user/", json={"username": "root2", "password": "root2-pass", "role": 100})
        assert r.json()["success"] is False
        r = await client.post("/api/user/", json={"username": "adm3", "password": "adm3-pass", "role": 10})
        assert r.json()["success"] and (await user_row("adm3"))["role"] == 10
        assert (await user_row("root"))["status"] == 1


async def test_manage_actions_log_and_cut_off_keys(db_config):
    async with running(db_config) as client:
        await as_root(client)
        target = (await create_user("frank", "frank-pass", quota=1000))["id"]
        await add_token(target, "frankkey0000000000000000000000000000000000000000")
        key = "frankkey0000000000000000000000000000000000000000"
        assert await key_refused(client, key) is None

        async with another_client(client) as frank:
            await login(frank, "frank", "frank-pass")
            assert (await frank.get("/api/user/self")).json()["success"]

            async def manage(**body):
                before = await Log.count().where((Log.type == LOG_MANAGE) & (Log.user_id == target))
                r = await client.post("/api/user/manage", json={"id": target, **body})
                assert r.json()["success"], (body, r.text)
                after = await Log.count().where((Log.type == LOG_MANAGE) & (Log.user_id == target))
                assert after == before + 1, body
                return r.json()

            assert (await manage(action="disable"))["data"] == {"role": 1, "status": 2}
            r = await frank.get("/api/user/self")  # disabling ended the session
            assert r.status_code == 401 and r.json()["success"] is False
            refused = await eventually_refused(client, key)
            assert refused.status == 403
            r = await frank.post("/api/user/login", json={"username": "frank", "password": "frank-pass"})
            assert r.json()["success"] is False

            await manage(action="enable")
            assert (await frank.get("/api/user/self")).status_code == 401  # enabling does not revive it
            await login(frank, "frank", "frank-pass")
            assert (await frank.get("/api/user/self")).json()["success"]
            assert await key_refused(client, key) is None

            await manage(action="add_quota", mode="add", value=500)
            await manage(action="add_quota", mode="subtract", value=300)
            assert (await user_row("frank"))["quota"] == 1200
            await manage(action="add_quota", mode="override", value=42)
            assert (await user_row("frank"))["quota"] == 42

            # Bad input: nothing changes, nothing is logged.
            logs = await Log.count()
            for body in (
                {},
                {"id": target},
                {"id": str(target), "action": "disable"},
                {"id": target, "action": "explode"},
                {"id": target, "action": HUGE},
                {"id": target, "action": "add_quota", "mode": "add", "value": 0},
                {"id": target, "action": "add_quota", "mode": "add", "value": -5},
                {"id": target, "action": "add_quota", "mode": "subtract", "value": 43},
                {"id": target, "action": "add_quota", "mode": "override", "value": -1},
                {"id": target, "action": "add_quota", "mode": "double", "value": 5},
                {"id": target, "action": "add_quota", "mode": "add", "value": "5"},
                {"id": target, "action": "add_quota", "mode": "add", "value": 2**60},
                {"id": 99999, "action": "disable"},
            ):
                r = await client.post("/api/user/manage", json=body)
                assert r.json()["success"] is False, body
            row = await user_row("frank")
            assert (row["quota"], row["status"], row["role"]) == (42, 1, 1) and await Log.count() == logs

            await manage(action="delete")
            assert (await user_row("frank"))["deleted_at"] is not None
            assert (await frank.get("/api/user/self")).status_code == 401
            refused = await eventually_refused(client, key)
            assert refused.status == 401
            r = await client.post("/api/user/manage", json={"id": target, "action": "enable"})
            assert r.json() == {"success": False, "message": "User does not exist"}


async def test_admin_update_create_delete_and_search(sqlite_config):
    async with running(sqlite_config) as client:
        root_id = await as_root(client)
        gina = (await create_user("gina", "gina-pass", quota=10))["id"]
        await create_user("hank", "hank-pass", quota=20)
        await User.update({User.email: "hank@example.com"}).where(User.username == "hank")
        before = await user_row("gina")
        logs = await Log.count()
        for body, fragment in (
            ({}, "id"),
            ({"id": "1", "display_name": "x"}, "id"),
            ({"id": 0}, "id"),
            ({"id": gina, "quota": -1}, "quota"),
            ({"id": gina, "quota": "5"}, "quota"),
            ({"id": gina, "quota": 2**60}, "quota"),
            ({"id": gina, "display_name": HUGE}, "display_name"),
            ({"id": gina, "remark": HUGE}, "remark"),
            ({"id": gina, "group": "nosuchgroup"}, "does not exist"),
            ({"id": gina, "group": ""}, "group"),
            ({"id": gina, "email": "bad"}, "email"),
            ({"id": gina, "email": "hank@example.com"}, "already in use"),
            ({"id": gina, "password": "short"}, "password"),
            ({"id": gina, "role": 10}, "manage"),
            ({"id": 99999, "display_name": "x"}, "User does not exist"),
        ):
            r = await client.put("/api/user/", json=body)
            assert r.json()["success"] is False and fragment in r.json()["message"], (body, r.json())
        assert await user_row("gina") == before and await Log.count() == logs

        r = await client.put(
            "/api/user/", json={"id": gina, "group": "vip", "password": "gina-new-pass", "email": "G@example.com"}
        )
        assert r.json()["success"], r.text
        row = await user_row("gina")
        assert row["group"] == "vip" and row["email"] == "g@example.com" and row["quota"] == 10
        assert verify_password("gina-new-pass", row["password"])
        assert await Log.count() == logs + 1

        count = await User.count()
        for body in (
            {"password": "made-pass"},
            {"username": "made"},
            {"username": "made", "password": "short"},
            {"username": "m" * 21, "password": "made-pass"},
            {"username": HUGE, "password": "made-pass"},
            {"username": "made", "password": "made-pass", "role": 5},
            {"username": "made", "password": "made-pass", "role": "1"},
            {"username": 1, "password": "made-pass"},
            {"username": "made", "password": "made-pass", "display_name": HUGE},
            {"username": "gina", "password": "made-pass"},
        ):
            r = await client.post("/api/user/", json=body)
            assert r.json()["success"] is False, body
        assert await User.count() == count

        # Soft delete: gone from GET, kept (with DeletedAt) in the list, searchable as status -1.
        assert (await client.delete(f"/api/user/{root_id}")).json()["success"] is False
        assert (await client.delete(f"/api/user/{gina}")).json()["success"]
        assert (await client.delete(f"/api/user/{gina}")).json()["success"] is False
        assert (await client.get(f"/api/user/{gina}")).json()["message"] == "User does not exist"
        items = (await client.get("/api/user/", params={"p": 1, "page_size": 2})).json()["data"]
        assert items["total"] == 3 and items["page_size"] == 2 and len(items["items"]) == 2
        assert [u["id"] for u in items["items"]] == [gina + 1, gina]  # newest first
        assert items["items"][1]["DeletedAt"] is not None and items["items"][0]["DeletedAt"] is None
        by_quota = (await client.get("/api/user/", params={"sort_by": "quota", "sort_order": "asc"})).json()["data"]
        assert [u["username"] for u in by_quota["items"]] == ["gina", "hank", "root"]

        async def search(**params):
            return (await client.get("/api/user/search", params=params)).json()["data"]

        assert [u["username"] for u in (await search(keyword="HAN"))["items"]] == ["hank"]
        assert [u["username"] for u in (await search(keyword="example.com"))["items"]] == ["hank", "gina"]
        assert [u["username"] for u in (await search(keyword=str(root_id)))["items"]] == ["root"]
        assert [u["username"] for u in (await search(keyword="", group="vip"))["items"]] == ["gina"]
        assert [u["username"] for u in (await search(status=-1))["items"]] == ["gina"]
        assert [u["username"] for u in (await search(status=1, role=100))["items"]] == ["root"]
        r = await client.get("/api/user/search", params={"keyword": HUGE})
        assert r.json()["success"] is False
