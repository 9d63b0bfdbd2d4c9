"""Wallet page: its markup hooks, and the routes it calls (balance, redeem, top-up info and history)."""

from __future__ import annotations

import time

from newapi_host.auth.users import create_user
from newapi_host.config import Config
from newapi_host.db.tables import LOG_TOPUP, TopUp
from newapi_host.web.i18n import TRANSLATIONS

from .conftest import Client, as_root, login, running

EN, ZH = TRANSLATIONS["en"], TRANSLATIONS["zh"]


async def as_user(client: Client, name: str = "alice") -> int:
    """Set up root, then sign this client in as a new common user."""
    await as_root(client)
    await create_user(name, f"{name}-password-1")
    client.cookies.clear()
    client.headers.pop("New-Api-User", None)
    return await login(client, name, f"{name}-password-1")


async def test_page_markup_and_script(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_user(client)
        html = (await client.get("/console/wallet")).text
        for hook in (
            'data-form="redeem"',
            'name="key"',
            'data-form="topup"',
            'name="amount"',
            "data-topup-state",
            "data-amount-options",
            "data-pay-methods",
            "data-min-topup",
            'data-list="topups"',
            'data-list="topup-logs"',
            'data-pager="topups"',
            'data-pager="topup-logs"',
            'data-stat="quota"',
            'data-stat="used_quota"',
            'data-stat="request_count"',
        ):
            assert hook in html, hook
        assert EN["wallet_redeem_title"] in html and EN["wallet_topup_history"] in html
        client.cookies.set("lang", "zh")
        html = (await client.get("/console/wallet")).text
        assert ZH["wallet_redeem_title"] in html and ZH["wallet_redeem_history"] in html
        assert "兑换码" in ZH["wallet_code"] and "Online top-up is not available" in EN["wallet_topup_unavailable"]

        js = (await client.get("/console-static/wallet.js")).text
        for call in (
            '"/api/user/self"',
            '"/api/user/topup"',
            '"/api/user/topup/info"',
            '"/api/user/topup/self?p="',
            '"/api/log/self?type=1&p="',
            '"/api/user/pay"',
            "T.wallet_topup_unavailable",
            "T.wallet_redeemed",
        ):
            assert call in js, call
        assert "innerHTML" not in js


async def test_redeem_updates_balance_and_history(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        (code,) = (await client.post("/api/redemption/", json={"name": "gift", "quota": 250_000})).json()["data"]
        await create_user("bob", "bob-password-1")
        client.cookies.clear()
        await login(client, "bob", "bob-password-1")

        before = (await client.get("/api/user/self")).json()["data"]["quota"]
        r = (await client.post("/api/user/topup", json={"key": f"  {code} "})).json()
        assert r == {"success": True, "message": "", "data": 250_000}  # the page shows "Added $0.50"
        assert (await client.get("/api/user/self")).json()["data"]["quota"] == before + 250_000
        again = (await client.post("/api/user/topup", json={"key": code})).json()
        assert again["success"] is False and "already been used" in again["message"]

        logs = (await client.get("/api/log/self?type=1&p=1&page_size=10")).json()["data"]
        assert logs["total"] == 1 and logs["page"] == 1 and logs["page_size"] == 10
        assert logs["items"][0]["type"] == LOG_TOPUP and "+250000 quota" in logs["items"][0]["content"]
        assert (await client.get("/api/log/self?type=2&p=1&page_size=10")).json()["data"]["total"] == 0


async def test_topup_info_without_payment_plugins(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_user(client)
        data = (await client.get("/api/user/topup/info")).json()["data"]
        assert data == {
            "enable_online_topup": False,
            "enable_stripe_topup": False,
            "enable_creem_topup": False,
            "pay_methods": [],
            "creem_products": "[]",  # New API's JSON text
            "min_topup": 1,
            "stripe_min_topup": 1,
            "invite_rebate": {"times": 0, "percent": 0.0},
            "amount_options": [10, 20, 50, 100, 200, 500],
            "discount": {},
        }
        client.cookies.clear()
        client.headers.pop("New-Api-User")
        r = await client.get("/api/user/topup/info")
        assert r.status_code == 401 and r.json()["success"] is False


async def test_topup_info_lists_enabled_payment_methods_and_options(sqlite_config: Config) -> None:
    async with running(sqlite_config, "wallet") as client:
        await as_root(client)
        options = client.app.state.host.options
        await options.set_many(
            {
                "MinTopUp": "5",
                "payment_setting.amount_options": "[5, 25, 100]",
                "payment_setting.amount_discount": '{"25": 0.9, "100": 0.8, "x": 0.5, "5": 3}',
            }
        )
        data = (await client.get("/api/user/topup/info")).json()["data"]
        assert data["enable_online_topup"] is True
        assert data["pay_methods"] == [{"id": "fakepay", "type": "fakepay", "name": "Fake Pay", "currency": "CNY"}]
        assert data["min_topup"] == 5 and data["amount_options"] == [5, 25, 100]
        assert data["discount"] == {"25": 0.9, "100": 0.8}

        # Bad option values fall back instead of breaking the page.
        await options.set_many({"payment_setting.amount_options": '["ten"]', "payment_setting.amount_discount": "[]"})
        data = (await client.get("/api/user/topup/info")).json()["data"]
        assert data["amount_options"] == [10, 20, 50, 100, 200, 500] and data["discount"] == {}

        # Switching the plugin off takes its method away at once.
        assert (await client.put("/api/plugins/wallet", json={"enabled": False})).json()["success"]
        data = (await client.get("/api/user/topup/info")).json()["data"]
        assert data["enable_online_topup"] is False and data["pay_methods"] == []


async def test_topup_history_is_own_paged_and_searchable(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        uid = await as_user(client, "carol")
        other = await create_user("dave", "dave-password-1")
        now = int(time.time())
        rows = [
            TopUp(
                user_id=uid,
                amount=10 * (i + 1),
                money=73.0 * (i + 1),
                trade_no=f"ORDER-{i:03d}",
                payment_method="fakepay",
                payment_provider="wallet",
                create_time=now + i,
                complete_time=now + i + 5 if i % 2 else 0,
                status="success" if i % 2 else "pending",
            )
            for i in range(12)
        ]
        rows.append(TopUp(user_id=other["id"], amount=1, money=7.3, trade_no="ORDER-DAVE", payment_method="fakepay"))
        await TopUp.insert(*rows)

        page1 = (await client.get("/api/user/topup/self?p=1&page_size=10")).json()
        assert page1["success"] and page1["data"]["total"] == 12
        assert page1["data"]["page"] == 1 and page1["data"]["page_size"] == 10
        items = page1["data"]["items"]
        assert [t["trade_no"] for t in items] == [f"ORDER-{i:03d}" for i in range(11, 1, -1)]
        assert items[0] == {
            "id": items[0]["id"],
            "user_id": uid,
            "amount": 120,
            "money": 876.0,
            "trade_no": "ORDER-011",
            "payment_method": "fakepay",
            "payment_provider": "wallet",
            "create_time": now + 11,
            "complete_time": now + 16,
            "status": "success",
            "quota": 0,  # not a fixed-quota product: amount x QuotaPerUnit
        }
        page2 = (await client.get("/api/user/topup/self?p=2&page_size=10")).json()["data"]
        assert [t["trade_no"] for t in page2["items"]] == ["ORDER-001", "ORDER-000"]

        found = (await client.get("/api/user/topup/self", params={"keyword": "R-00"})).json()["data"]
        assert found["total"] == 10
        assert (await client.get("/api/user/topup/self", params={"keyword": "DAVE"})).json()["data"]["total"] == 0
        wild = (await client.get("/api/user/topup/self", params={"keyword": "%"})).json()["data"]
        assert wild["total"] == 0  # a literal percent sign, not a wildcard
        assert (await client.get("/api/user/topup/self", params={"keyword": "R_00"})).json()["data"]["total"] == 0

        client.cookies.clear()
        client.headers.pop("New-Api-User")
        assert (await client.get("/api/user/topup/self")).status_code == 401
