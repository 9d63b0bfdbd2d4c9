"""Two-factor sign-in: set up, then password sign-in needs a TOTP code (right, wrong, reused),
backup codes work once, lock-out after wrong codes, disable, admin reset."""

from __future__ import annotations

import time

import pyotp

from newapi_host.api import twofa
from newapi_host.config import Config
from newapi_host.db.tables import TwoFA, TwoFABackupCode

from .conftest import ROOT_PASSWORD, Client, as_root, running

PASSWORD = "user-password-1"


async def make_user(client: Client, name: str) -> None:
    r = await client.post("/api/user/", json={"username": name, "password": PASSWORD, "display_name": name})
    assert r.json()["success"], r.text


async def password_step(client: Client, name: str, password: str = PASSWORD) -> dict:
    client.cookies.clear()
    client.headers.pop("New-Api-User", None)
    return (await client.post("/api/user/login", json={"username": name, "password": password})).json()


async def enable_for(client: Client, name: str, password: str = PASSWORD) -> tuple[pyotp.TOTP, list[str]]:
    """Sign in as ``name`` and turn two-factor on; its TOTP and backup codes."""
    body = await password_step(client, name, password)
    client.headers["New-Api-User"] = str(body["data"]["id"])
    setup = (await client.post("/api/user/2fa/setup")).json()
    assert setup["success"], setup
    assert setup["data"]["qr_code_data"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(setup["data"]["secret"])
    assert (await client.get("/api/user/2fa/status")).json()["data"]["enabled"] is False
    assert (await client.post("/api/user/2fa/enable", json={"code": "000000"})).json()["success"] is False
    # The code of the previous step: still accepted (clock drift), and now spent.
    assert (await client.post("/api/user/2fa/enable", json={"code": totp.at(time.time() - 30)})).json()["success"]
    status = (await client.get("/api/user/2fa/status")).json()["data"]
    assert status == {"enabled": True, "locked": False, "backup_codes_remaining": 10}
    return totp, setup["data"]["backup_codes"]


async def test_sign_in_needs_a_right_unused_code(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        await make_user(client, "alice")
        totp, _ = await enable_for(client, "alice")

        first = await password_step(client, "alice")
        assert first["data"]["require_2fa"] is True and "id" not in first["data"]
        assert (await client.get("/api/user/self", headers={"New-Api-User": "2"})).status_code == 401  # no session

        token, code = first["data"]["flow_token"], totp.now()
        wrong = (await client.post("/api/user/login/2fa", json={"code": "123456", "flow_token": token})).json()
        assert wrong["success"] is False
        right = (await client.post("/api/user/login/2fa", json={"code": code, "flow_token": token})).json()
        assert right["success"] is True and right["data"]["username"] == "alice"
        client.headers["New-Api-User"] = str(right["data"]["id"])
        assert (await client.get("/api/user/self")).json()["data"]["username"] == "alice"

        # The same code again (a fresh password step): refused, it was used.
        again = await password_step(client, "alice")
        reused = await client.post(
            "/api/user/login/2fa", json={"code": code, "flow_token": again["data"]["flow_token"]}
        )
        assert reused.json()["success"] is False
        # A spent flow token cannot be used either.
        spent = await client.post("/api/user/login/2fa", json={"code": code, "flow_token": token})
        assert spent.json()["success"] is False


async def test_the_cookie_carries_the_flow_for_new_apis_older_page(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        await make_user(client, "carl")
        totp, _ = await enable_for(client, "carl")
        await password_step(client, "carl")
        await TwoFA.update({TwoFA.last_used_step: 0}, force=True)  # let the current code be used once more
        r = await client.post("/api/user/login/2fa", json={"code": totp.now()})
        assert r.json()["success"] is True


async def test_a_backup_code_works_once(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        await make_user(client, "bob")
        _, backups = await enable_for(client, "bob")
        flow = (await password_step(client, "bob"))["data"]["flow_token"]
        used = await client.post("/api/user/login/2fa", json={"code": backups[0].lower(), "flow_token": flow})
        assert used.json()["success"] is True
        client.headers["New-Api-User"] = str(used.json()["data"]["id"])
        assert (await client.get("/api/user/2fa/status")).json()["data"]["backup_codes_remaining"] == 9
        flow = (await password_step(client, "bob"))["data"]["flow_token"]
        again = await client.post("/api/user/login/2fa", json={"code": backups[0], "flow_token": flow})
        assert again.json()["success"] is False
        assert await TwoFABackupCode.count().where(TwoFABackupCode.code_hash == backups[0]) == 0  # only hashes


async def test_wrong_codes_lock_and_disable_needs_a_code(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        await make_user(client, "dora")
        totp, backups = await enable_for(client, "dora")
        for _ in range(twofa.MAX_FAILURES):
            assert (await client.post("/api/user/2fa/disable", json={"code": "999999"})).json()["success"] is False
        assert (await client.get("/api/user/2fa/status")).json()["data"]["locked"] is True
        locked = (await client.post("/api/user/2fa/disable", json={"code": totp.now()})).json()
        assert locked["success"] is False and "locked" in locked["message"]
        await TwoFA.update({TwoFA.locked_until: 0}, force=True)
        assert (await client.post("/api/user/2fa/disable", json={"code": backups[1]})).json()["success"] is True
        assert (await client.get("/api/user/2fa/status")).json()["data"] == {"enabled": False, "locked": False}
        assert (await password_step(client, "dora"))["data"].get("require_2fa") is None


async def test_an_admin_resets_a_users_two_factor(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        await make_user(client, "erik")
        await enable_for(client, "erik")
        erik_id = int(client.headers["New-Api-User"])
        assert (await client.delete("/api/user/1/2fa")).json()["success"] is False  # a common user: not allowed
        await password_step(client, "root")
        root = (await client.post("/api/user/login", json={"username": "root", "password": "root-password-1"})).json()
        client.headers["New-Api-User"] = str(root["data"]["id"])
        stats = (await client.get("/api/user/2fa/stats")).json()["data"]
        assert stats["enabled_users"] == 1
        assert (await client.delete(f"/api/user/{erik_id}/2fa")).json()["success"] is True
        assert (await password_step(client, "erik"))["data"].get("require_2fa") is None


async def test_a_root_with_two_factor_confirms_a_code_before_seeing_a_channel_key(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        created = await client.post(
            "/api/channel/",
            json={"mode": "single", "channel": {"name": "c1", "type": 1, "key": "sk-secret-key-1", "models": "gpt-4o"}},
        )
        assert created.json()["success"], created.text
        channel_id = (await client.get("/api/channel/")).json()["data"]["items"][0]["id"]
        assert (await client.post(f"/api/channel/{channel_id}/key")).json()["data"]["key"] == "sk-secret-key-1"

        totp, _ = await enable_for(client, "root", ROOT_PASSWORD)
        refused = (await client.post(f"/api/channel/{channel_id}/key")).json()
        assert refused["success"] is False and "verification" in refused["message"] and "sk-secret" not in str(refused)
        assert (await client.post("/api/verify", json={"method": "2fa", "code": "000000"})).json()["success"] is False
        assert (await client.post("/api/verify", json={"method": "2fa", "code": totp.now()})).json()["success"]
        assert (await client.post(f"/api/channel/{channel_id}/key")).json()["data"]["key"] == "sk-secret-key-1"
