"""OpenAI billing endpoints for key-balance tools: token and wallet figures, display units, errors."""

from __future__ import annotations

import time

import pytest

from newapi_host.auth.users import create_user
from newapi_host.db.tables import Token, User

from .conftest import as_root, login, running

PATHS = ("/v1/dashboard/billing", "/dashboard/billing")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_subscription_and_usage(db_config):
    async with running(db_config) as client:
        await as_root(client)
        await create_user("fay", "fay-pass-123", quota=1_000_000)
        await login(client, "fay", "fay-pass-123")
        expires = int(time.time()) + 86400
        limited = (
            await client.post("/api/token/", json={"name": "l", "remain_quota": 250_000, "expired_time": expires})
        ).json()["data"]
        unlimited = (await client.post("/api/token/", json={"name": "u", "unlimited_quota": True})).json()["data"]
        await Token.update({Token.used_quota: 250_000}).where(Token.id == limited["id"])
        await User.update({User.used_quota: 1_500_000}).where(User.username == "fay")
        client.headers.pop("New-Api-User")
        client.cookies.clear()

        for base in PATHS:
            r = await client.get(f"{base}/subscription", headers=bearer(limited["key"]))
            assert r.status_code == 200, r.text
            assert r.json() == {
                "object": "billing_subscription",
                "has_payment_method": True,
                "soft_limit_usd": 1.0,  # (250000 remaining + 250000 used) / 500000
                "hard_limit_usd": 1.0,
                "system_hard_limit_usd": 1.0,
                "access_until": expires,
            }
            r = await client.get(f"{base}/usage", headers=bearer(limited["key"]))
            assert r.json() == {"object": "list", "total_usage": 50.0}  # cents

            sub = (await client.get(f"{base}/subscription", headers=bearer(unlimited["key"]))).json()
            assert sub["hard_limit_usd"] == 100_000_000 and sub["access_until"] == 0
            usage = (await client.get(f"{base}/usage", headers=bearer(unlimited["key"]))).json()
            assert usage == {"object": "list", "total_usage": 0.0}

        # Numbers come from the database, not the relay's cached copy.
        await Token.update({Token.used_quota: 500_000}).where(Token.id == limited["id"])
        usage = (await client.get("/v1/dashboard/billing/usage", headers=bearer(limited["key"]))).json()
        assert usage["total_usage"] == 100.0

        # With DisplayTokenStatEnabled off the figures are the owner's wallet (the key's limit no longer applies).
        options = client.app.state.host.options
        await options.set_many({"DisplayTokenStatEnabled": "false"})
        for key in (limited["key"], unlimited["key"]):
            sub = (await client.get("/v1/dashboard/billing/subscription", headers=bearer(key))).json()
            assert sub["hard_limit_usd"] == 5.0 and sub["access_until"] == 0  # (1e6 + 1.5e6) / 5e5
            usage = (await client.get("/dashboard/billing/usage", headers=bearer(key))).json()
            assert usage["total_usage"] == 300.0

        # Other display units, as New API reports them.
        await options.set_many({"general_setting.quota_display_type": "CNY", "USDExchangeRate": "7"})
        sub = (await client.get("/v1/dashboard/billing/subscription", headers=bearer(limited["key"]))).json()
        assert sub["hard_limit_usd"] == pytest.approx(35.0)
        await options.set_many({"general_setting.quota_display_type": "TOKENS"})
        sub = (await client.get("/v1/dashboard/billing/subscription", headers=bearer(limited["key"]))).json()
        assert sub["hard_limit_usd"] == 2_500_000


async def test_billing_errors_are_openai_shaped(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        made = (await client.post("/api/token/", json={"name": "t", "unlimited_quota": True})).json()["data"]
        r = await client.put("/api/token/?status_only=true", json={"id": made["id"], "status": 2})
        assert r.json()["success"]
        session_headers = dict(client.headers)
        cases = [
            ({}, "no API key"),
            (bearer("sk-" + "x" * 48), "invalid API key"),
            (bearer(made["key"]), "disabled"),
            ({"Authorization": "Basic abc"}, "invalid API key"),
            (session_headers, "no API key"),  # the console session is not an API key
        ]
        for base in PATHS:
            for endpoint in ("subscription", "usage"):
                for headers, fragment in cases:
                    r = await client.get(f"{base}/{endpoint}", headers={"New-Api-User": "", **headers})
                    assert r.status_code == 401, (base, endpoint, headers, r.text)
                    error = r.json()["error"]
                    assert set(error) >= {"message", "type", "code"} and fragment in error["message"], error
