"""The password policy: at least 8 characters, at most bcrypt's 72 bytes (refused beyond, never
silently cut), and not one of the most common passwords; the same rule on every route that sets
a password (registration, first-run setup, self change, admin create and reset)."""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx
import pytest

from newapi_host.auth.passwords import COMMON_PASSWORDS_FILE, common_passwords, password_problem, verify_password
from newapi_host.db.tables import User

from .conftest import as_root, login, running

PASSPHRASE = "correct horse battery staple and a long tail x"  # 46 characters
SIXTY = "my sixty character passphrase is long but easy to remember!!"
assert len(SIXTY) == 60
TOO_LONG = "x" * 50 + "y" * 23  # 73 bytes
CJK_TOO_LONG = "密" * 25  # 25 characters, 75 bytes
COMMON = ["12345678", "password", "Password1", "qwertyuiop", "iloveyou", "1q2w3e4r", "11111111", "PASSW0RD"]


@asynccontextmanager
async def browser(client):
    transport = httpx.ASGITransport(app=client.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        yield other


async def can_log_in(client, username: str, password: str) -> bool:
    async with browser(client) as b:
        r = await b.post("/api/user/login", json={"username": username, "password": password})
        return r.json()["success"]


def test_the_list_ships_with_the_package_and_is_large():
    assert COMMON_PASSWORDS_FILE.is_file() and COMMON_PASSWORDS_FILE.suffix == ".txt"
    listed = common_passwords()
    assert 500 <= len(listed) <= 20_000
    assert all(len(p) >= 8 and p == p.lower() for p in listed)
    assert {"12345678", "password", "qwerty123", "iloveyou"} <= listed


@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("short", "at least 8 characters"),
        (TOO_LONG, "at most 72 bytes"),
        (CJK_TOO_LONG, "at most 72 bytes"),
        *[(p, "too common") for p in COMMON],
    ],
)
def test_policy_refuses_with_a_clear_message(password, fragment):
    problem = password_problem(password)
    assert problem is not None and fragment in problem


@pytest.mark.parametrize("password", [SIXTY, PASSPHRASE, "x" * 72, "密" * 24, "Tr0ub4dor&3x", "root-password-1"])
def test_policy_accepts_long_and_uncommon_passwords(password):
    assert password_problem(password) is None


async def test_setup_accepts_a_sixty_character_passphrase(sqlite_config):
    async with running(sqlite_config) as client:
        r = await client.post("/api/setup", json={"username": "root", "password": SIXTY, "confirmPassword": SIXTY})
        assert r.json()["success"], r.text
        assert await can_log_in(client, "root", SIXTY)


@pytest.mark.parametrize("password", [TOO_LONG, "12345678", "password1"])
async def test_setup_refuses_overlong_and_common_passwords(sqlite_config, password):
    async with running(sqlite_config) as client:
        r = await client.post(
            "/api/setup", json={"username": "root", "password": password, "confirmPassword": password}
        )
        assert r.json()["success"] is False and password_problem(password) in r.json()["message"]
        assert await User.count() == 0


async def test_every_route_that_sets_a_password_takes_long_passphrases_and_refuses_common_ones(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        options = {"RegisterEnabled": "true", "PasswordRegisterEnabled": "true", "CriticalRateLimitCount": "0"}
        await client.app.state.host.options.set_many(options)

        # Registration.
        async with browser(client) as anon:
            for bad in (*COMMON, TOO_LONG, CJK_TOO_LONG):
                r = await anon.post("/api/user/register", json={"username": "dora", "password": bad})
                assert r.json()["success"] is False and password_problem(bad) in r.json()["message"], bad
            assert await User.count().where(User.username == "dora") == 0
            r = await anon.post("/api/user/register", json={"username": "dora", "password": SIXTY})
            assert r.json()["success"], r.text
        assert await can_log_in(client, "dora", SIXTY)

        # Admin create.
        for bad in ("12345678", TOO_LONG):
            r = await client.post("/api/user/", json={"username": "eve", "password": bad})
            assert r.json()["success"] is False and password_problem(bad) in r.json()["message"]
        r = await client.post("/api/user/", json={"username": "eve", "password": SIXTY})
        assert r.json()["success"], r.text
        assert await can_log_in(client, "eve", SIXTY)
        eve = (await User.select(User.id).where(User.username == "eve").first())["id"]

        # Admin reset.
        for bad in ("iloveyou", TOO_LONG):
            r = await client.put("/api/user/", json={"id": eve, "password": bad})
            assert r.json()["success"] is False and password_problem(bad) in r.json()["message"]
        assert await can_log_in(client, "eve", SIXTY)
        r = await client.put("/api/user/", json={"id": eve, "password": PASSPHRASE})
        assert r.json()["success"], r.text
        assert await can_log_in(client, "eve", PASSPHRASE) and not await can_log_in(client, "eve", SIXTY)

        # Self change.
        async with browser(client) as dora:
            await login(dora, "dora", SIXTY)
            for bad in ("qwertyuiop", TOO_LONG):
                r = await dora.put("/api/user/self", json={"password": bad, "original_password": SIXTY})
                assert r.json()["success"] is False and password_problem(bad) in r.json()["message"]
            r = await dora.put("/api/user/self", json={"password": PASSPHRASE, "original_password": SIXTY})
            assert r.json()["success"], r.text
        row = await User.select(User.password).where(User.username == "dora").first()
        assert verify_password(PASSPHRASE, row["password"]) and not verify_password(PASSPHRASE[:-1], row["password"])
        assert await can_log_in(client, "dora", PASSPHRASE)
