"""First-run setup, /api/status, health, and console sign-in."""

from __future__ import annotations

from newapi_host.auth.passwords import verify_password
from newapi_host.db.tables import Option, Setup, User

from .conftest import ROOT_PASSWORD, login, running, setup_root


async def test_setup_creates_root_once(db_config):
    async with running(db_config) as client:
        r = await client.get("/api/setup")
        assert r.json() == {
            "success": True,
            "data": {"status": False, "root_init": False, "database_type": db_config.database_type},
        }
        assert (await client.get("/api/status")).json()["data"]["setup"] is False

        r = await client.post(
            "/api/setup",
            json={
                "username": "root",
                "password": ROOT_PASSWORD,
                "confirmPassword": ROOT_PASSWORD,
                "SelfUseModeEnabled": True,
            },
        )
        assert r.status_code == 200
        assert r.json() == {"success": True, "message": "System initialized successfully"}

        root = await User.select().where(User.username == "root").first()
        assert root["role"] == 100 and root["status"] == 1 and root["quota"] == 100_000_000
        assert root["display_name"] == "Root User"
        assert root["password"].startswith("$2b$") and verify_password(ROOT_PASSWORD, root["password"])
        assert await Option.select(Option.value).where(Option.key == "SelfUseModeEnabled").first() == {"value": "true"}
        assert await Setup.count() == 1

        assert (await client.get("/api/setup")).json()["data"]["status"] is True
        status = (await client.get("/api/status")).json()["data"]
        assert status["setup"] is True and status["self_use_mode_enabled"] is True

        again = await client.post(
            "/api/setup", json={"username": "x", "password": "12345678", "confirmPassword": "12345678"}
        )
        assert again.json() == {"success": False, "message": "The system has already been initialized"}
        assert await User.count() == 1


async def test_setup_rejects_bad_input_without_writing(sqlite_config):
    async with running(sqlite_config) as client:
        cases = [
            (
                {"username": "averyveryverylongname", "password": "12345678", "confirmPassword": "12345678"},
                "at most 12",
            ),
            ({"username": "root", "password": "12345678", "confirmPassword": "87654321"}, "do not match"),
            ({"username": "root", "password": "short", "confirmPassword": "short"}, "at least 8"),
            ({"username": "", "password": "12345678", "confirmPassword": "12345678"}, "must not be empty"),
            ({"username": 5, "password": [], "confirmPassword": None}, "Invalid request parameters"),
            ({"username": "root", "password": "x" * 100, "confirmPassword": "x" * 100}, "at most 72 bytes"),
        ]
        for body, message in cases:
            r = await client.post("/api/setup", json=body)
            assert r.status_code == 200
            assert r.json()["success"] is False and message in r.json()["message"], (body, r.json())
        r = await client.post("/api/setup", content=b"{not json", headers={"content-type": "application/json"})
        assert r.json() == {"success": False, "message": "Invalid request parameters"}
        assert await User.count() == 0 and await Setup.count() == 0
        assert (await client.get("/api/setup")).json()["data"]["status"] is False


async def test_status_has_new_api_fields(sqlite_config):
    async with running(sqlite_config) as client:
        body = (await client.get("/api/status")).json()
        assert body["success"] is True and body["message"] == ""
        data = body["data"]
        for key in (
            "version",
            "start_time",
            "system_name",
            "quota_per_unit",
            "display_in_currency",
            "quota_display_type",
            "setup",
            "server_address",
            "github_oauth",
            "oidc_enabled",
            "password_login_enabled",
            "register_enabled",
            "chats",
        ):
            assert key in data, key
        assert data["system_name"] == "New API"
        assert data["quota_per_unit"] == 500000
        assert data["password_login_enabled"] is True
        assert data["login_methods"] == [{"id": "password", "name": "Password", "kind": "form", "icon": ""}]


async def test_health(sqlite_config):
    async with running(sqlite_config) as client:
        r = await client.get("/healthz")
        assert r.status_code == 200 and r.json()["database"] == "ok"


async def test_login_logout_and_access_token(db_config):
    async with running(db_config) as client:
        await setup_root(client)
        bad = await client.post("/api/user/login", json={"username": "root", "password": "wrong-password"})
        assert bad.json() == {"success": False, "message": "Username or password is incorrect, or user has been banned"}
        assert (await client.post("/api/user/login", json={"username": "", "password": ""})).json()[
            "message"
        ] == "Invalid parameters"
        assert (await client.post("/api/user/login", content=b"[1,2]")).json()["message"] == "Invalid parameters"

        r = await client.post("/api/user/login", json={"username": "root", "password": ROOT_PASSWORD})
        cookie = r.headers["set-cookie"].lower()
        assert cookie.startswith("session=") and "httponly" in cookie and "samesite=strict" in cookie
        assert "secure" not in cookie.replace("samesite", "")  # SESSION_COOKIE_SECURE is off here
        user_id = await login(client, "root", ROOT_PASSWORD)
        r = await client.get("/api/user/token")
        token = r.json()["data"]
        assert r.json()["success"] and len(token) == 32

        # The session needs New-Api-User to match.
        del client.headers["New-Api-User"]
        assert (await client.get("/api/plugins")).status_code == 401
        client.headers["New-Api-User"] = "999"
        r = await client.get("/api/plugins")
        assert r.status_code == 401 and "does not match" in r.json()["message"]
        client.headers["New-Api-User"] = str(user_id)
        assert (await client.get("/api/plugins")).json()["success"]

        await client.get("/api/user/logout")
        assert (await client.get("/api/plugins")).status_code == 401

        # Scripts: access token, with or without Bearer, plus New-Api-User.
        for auth in (token, f"Bearer {token}"):
            r = await client.get("/api/plugins", headers={"Authorization": auth, "New-Api-User": str(user_id)})
            assert r.json()["success"], r.text
        r = await client.get("/api/plugins", headers={"Authorization": "nope", "New-Api-User": str(user_id)})
        assert r.status_code == 401 and r.json()["message"] == "Unauthorized, invalid access token"


async def test_disabled_user_cannot_log_in_or_use_a_session(sqlite_config):
    async with running(sqlite_config) as client:
        user_id = await login(client, *(await _setup_and_make_admin(client)))
        assert (await client.get("/api/plugins")).json()["success"]
        await User.update({User.status: 2}).where(User.id == user_id)
        r = await client.get("/api/plugins")
        assert r.status_code == 403 and r.json()["message"] == "User has been banned"
        relogin = await client.post("/api/user/login", json={"username": "admin", "password": "admin-pass-1"})
        assert relogin.json()["success"] is False


async def test_password_login_off_when_option_or_plugin_disabled(sqlite_config):
    async with running(sqlite_config) as client:
        await setup_root(client)
        await client.app.state.host.options.set_many({"PasswordLoginEnabled": "false"})
        r = await client.post("/api/user/login", json={"username": "root", "password": ROOT_PASSWORD})
        assert r.json() == {"success": False, "message": "Password login has been disabled by administrator"}
        assert (await client.get("/api/status")).json()["data"]["password_login_enabled"] is False


async def test_unknown_api_route_is_an_enveloped_404(sqlite_config):
    async with running(sqlite_config) as client:
        r = await client.get("/api/nope")
        assert r.status_code == 404
        assert r.json() == {"success": False, "message": "Invalid URL (GET /api/nope)"}
        r = await client.get("/v1/nope")
        assert r.status_code == 404 and r.json()["error"]["message"] == "Invalid URL (GET /v1/nope)"


async def test_openapi_schema_lists_routes(sqlite_config):
    async with running(sqlite_config) as client:
        r = await client.get("/schema/openapi.json")
        paths = r.json()["paths"]
        for path in ("/api/status", "/api/setup", "/api/plugins", "/api/plugins/{name}/settings", "/api/user/login"):
            assert path in paths


async def _setup_and_make_admin(client) -> tuple[str, str]:
    from newapi_host.auth.users import create_user

    await setup_root(client)
    await create_user("admin", "admin-pass-1", role=10)
    return "admin", "admin-pass-1"


async def test_concurrent_setup_creates_a_single_root(sqlite_config):
    import asyncio

    async with running(sqlite_config) as client:
        bodies = [
            {"username": f"root{i}", "password": ROOT_PASSWORD, "confirmPassword": ROOT_PASSWORD} for i in range(5)
        ]
        results = await asyncio.gather(*(client.post("/api/setup", json=b) for b in bodies))
        assert sum(r.json()["success"] for r in results) == 1
        assert await User.count().where(User.role == 100) == 1
