"""Online top-up: opening orders (POST /api/user/pay) and crediting them exactly once on notice."""

from __future__ import annotations

import asyncio
import re
import time
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel

from newapi_host.auth.users import create_user
from newapi_host.billing import topups
from newapi_host.config import Config
from newapi_host.db.tables import LOG_TOPUP, Log, TopUp, User
from newapi_host.plugins import hookimpl
from newapi_host.plugins.contracts import PaymentMethod, PaymentNotice

from .conftest import Client, as_root, login, running

PER_UNIT = 500000


async def as_user(client: Client, name: str = "alice") -> int:
    """Set up root, then sign this client in as a new common user."""
    await as_root(client)
    await create_user(name, f"{name}-password-1")
    client.cookies.clear()
    client.headers.pop("New-Api-User", None)
    return await login(client, name, f"{name}-password-1")


async def quota_of(user_id: int) -> int:
    return (await User.select(User.quota).where(User.id == user_id).first())["quota"]


async def order(trade_no: str) -> dict:
    return await TopUp.select().where(TopUp.trade_no == trade_no).first()


async def topup_logs(user_id: int) -> list[dict]:
    return await Log.select().where((Log.user_id == user_id) & (Log.type == LOG_TOPUP))


async def pay(client: Client, amount, method: str = "fakepay") -> dict:
    r = await client.post("/api/user/pay", json={"amount": amount, "payment_method": method})
    assert r.status_code == 200, r.text
    return r.json()


def notify(client: Client, trade_no: str, sign: str = "ok", method: str = "fakepay", post: bool = False):
    url = f"/api/payment/{method}/notify"
    params = {"trade_no": trade_no, "sign": sign}
    return client.post(url, params=params, content=b"{}") if post else client.get(url, params=params)


class QuirkySettings(BaseModel):
    merchant: str = "m-1"


class Quirky:
    """A second payment method: fails to create orders on demand, and can report declined payments."""

    def __init__(self) -> None:
        self.orders = []
        self.callbacks = []
        self.broken = False
        self.page: object = None  # what create_order answers instead of its payment page
        self.delay = 0.0

    async def create_order(self, order):
        self.orders.append(order)
        await asyncio.sleep(self.delay)
        if self.broken:
            raise RuntimeError("provider down: secret-detail")
        return self.page if self.page is not None else f"https://quirky.invalid/pay/{order.trade_no}"

    async def verify_notice(self, callback):
        self.callbacks.append(callback)
        if callback.headers.get("x-quirky-sign") != "ok":
            return None
        query = callback.query
        return PaymentNotice(trade_no=query["out_trade_no"], paid=query.get("paid") == "1", reply=b"OK-QUIRKY")

    @hookimpl
    def newapi_register_payments(self, registry):
        registry.payment_method(
            PaymentMethod(
                id="quirkypay",
                name="Quirky Pay",
                create_order=self.create_order,
                verify_notice=self.verify_notice,
                currency="USD",
            )
        )

    @hookimpl
    def newapi_plugin_settings(self):
        return QuirkySettings


async def test_pay_opens_a_pending_order_priced_like_new_api(sqlite_config: Config) -> None:
    async with running(sqlite_config, "wallet") as client:
        uid = await as_user(client)
        r = await client.post("/api/user/pay", json={"amount": 10, "payment_method": "fakepay", "top_up_code": ""})
        body = r.json()
        assert r.status_code == 200 and body["success"] is True and body["message"] == "success", body
        data = body["data"]
        trade_no = data["trade_no"]
        assert re.fullmatch(rf"USR{uid}NO[A-Za-z0-9]{{6}}\d{{10}}", trade_no)
        assert data["pay_link"] == data["url"]
        link = urlsplit(data["pay_link"])
        assert link.netloc == "pay.invalid"
        assert parse_qs(link.query) == {"trade_no": [trade_no], "money": ["73.0"]}  # 10 x Price 7.3
        row = await order(trade_no)
        assert row["user_id"] == uid and row["amount"] == 10 and row["money"] == 73.0
        assert row["payment_method"] == "fakepay" and row["payment_provider"] == "wallet"
        assert row["status"] == "pending" and row["complete_time"] == 0
        assert row["create_time"] >= time.time() - 5
        assert await quota_of(uid) == 0  # nothing credited before the provider says so

        # Discount for that amount, Price and the top-up group ratio multiply; money is rounded to cents.
        await client.app.state.host.options.set_many(
            {
                "Price": "7.33",
                "payment_setting.amount_discount": '{"20": 0.95}',
                "TopupGroupRatio": '{"default": 1.1, "vip": 0.5}',
            }
        )
        data = (await pay(client, 20))["data"]
        assert (await order(data["trade_no"]))["money"] == 153.2  # 20 x 7.33 x 1.1 x 0.95 = 153.197
        data = (await pay(client, 3))["data"]
        assert (await order(data["trade_no"]))["money"] == 24.19  # 3 x 7.33 x 1.1 = 24.189, no discount
        assert data["trade_no"] != trade_no

        # The order appears in the wallet's history, pending.
        items = (await client.get("/api/user/topup/self")).json()["data"]["items"]
        assert [t["status"] for t in items] == ["pending"] * 3


async def test_pay_refusals(sqlite_config: Config) -> None:
    async with running(sqlite_config, "wallet") as client:
        await as_user(client)
        options = client.app.state.host.options
        await options.set_many({"MinTopUp": "5"})
        cases = [
            ({"amount": 4, "payment_method": "fakepay"}, "the top-up amount must be at least 5"),
            ({"amount": 0, "payment_method": "fakepay"}, "the top-up amount must be at least 5"),
            ({"amount": -10, "payment_method": "fakepay"}, "the top-up amount must be at least 5"),
            ({"amount": 7.5, "payment_method": "fakepay"}, "amount must be a whole number"),
            ({"amount": "10", "payment_method": "fakepay"}, "amount must be a whole number"),
            ({"amount": True, "payment_method": "fakepay"}, "amount must be a whole number"),
            ({"payment_method": "fakepay"}, "amount must be a whole number"),
            (
                {"amount": 10**7 + 1, "payment_method": "fakepay"},
                "the top-up amount is too large (at most 10000000 units per order)",
            ),
            ({"amount": 10, "payment_method": "nopay"}, "payment method does not exist"),
            ({"amount": 10}, "payment method does not exist"),
            ({"amount": 10, "payment_method": 3}, "payment method does not exist"),
        ]
        for body, message in cases:
            r = await client.post("/api/user/pay", json=body)
            assert r.status_code == 200 and r.json() == {"success": False, "message": message}, body
        r = await client.post("/api/user/pay", content=b"[1]")
        assert r.json() == {
            "success": False,
            "message": 'request body must be a JSON object: {"amount": ..., "payment_method": "..."}',
        }
        assert (await pay(client, 5.0))["success"] is True  # 5.0 is a whole number

        await options.set_many({"Price": "0"})
        assert await pay(client, 10) == {"success": False, "message": "the payment amount is too low"}
        await options.set_many({"Price": "7.3"})

        # Anonymous callers are refused; a disabled plugin's method is gone at once.
        client.cookies.clear()
        client.headers.pop("New-Api-User")
        assert (await client.post("/api/user/pay", json={"amount": 10, "payment_method": "fakepay"})).status_code == 401
        await login(client, "root", "root-password-1")
        assert (await client.put("/api/plugins/wallet", json={"enabled": False})).json()["success"]
        assert await pay(client, 10) == {"success": False, "message": "payment method does not exist"}
        assert await TopUp.count() == 1


async def test_notify_credits_exactly_once(sqlite_config: Config) -> None:
    async with running(sqlite_config, "wallet") as client:
        uid = await as_user(client)
        await client.app.state.host.options.set_many({"payment_setting.amount_discount": '{"10": 0.9}'})
        made = (await client.post("/api/token/", json={"name": "t", "unlimited_quota": True})).json()["data"]
        keys = client.app.state.host.relay.keys
        assert (await keys.lookup(made["key"][3:])).user_quota == 0
        trade_no = (await pay(client, 10))["data"]["trade_no"]

        # A notice that is not genuine credits nothing.
        r = await notify(client, trade_no, sign="forged")
        assert r.status_code == 400 and r.text == "fail"
        assert (await order(trade_no))["status"] == "pending" and await quota_of(uid) == 0

        # The genuine one: order settled, 10 units credited, one top-up log, cached wallet refreshed.
        r = await notify(client, trade_no)
        assert r.status_code == 200 and r.text == "success"
        row = await order(trade_no)
        assert row["status"] == "success" and row["complete_time"] >= time.time() - 5
        assert await quota_of(uid) == 10 * PER_UNIT
        (entry,) = await topup_logs(uid)
        assert entry["username"] == "alice" and entry["created_at"] >= time.time() - 5
        assert entry["content"] == (
            f"Online top-up succeeded: credited $10.000000 ({10 * PER_UNIT} quota), "
            f"paid 65.70 CNY with Fake Pay (order {trade_no})"
        )
        assert (await keys.lookup(made["key"][3:])).user_quota == 10 * PER_UNIT

        # Repeats (the provider retries until it reads the reply) are answered but credit nothing.
        for post in (False, True, False):
            r = await notify(client, trade_no, post=post)
            assert r.status_code == 200 and r.text == "success"
        assert await quota_of(uid) == 10 * PER_UNIT and len(await topup_logs(uid)) == 1

        # Unknown orders and methods.
        r = await notify(client, "USR1NOnothere1700000000")
        assert r.status_code == 404 and r.text == "fail"
        r = await notify(client, trade_no, method="nopay")
        assert r.status_code == 404 and r.text == "fail"

        items = (await client.get("/api/user/topup/self")).json()["data"]["items"]
        assert [(t["trade_no"], t["status"], t["amount"], t["money"]) for t in items] == [
            (trade_no, "success", 10, 65.7)
        ]
        # The notice route needs no sign-in (the provider calls it), but a signed-in caller gains nothing.
        assert (await client.get("/api/user/self")).json()["data"]["quota"] == 10 * PER_UNIT


async def test_concurrent_notices_credit_once(db_config: Config) -> None:
    async with running(db_config, "wallet") as client:
        uid = await as_user(client)
        first = (await pay(client, 7))["data"]["trade_no"]
        second = (await pay(client, 3))["data"]["trade_no"]
        results = await asyncio.gather(
            *[notify(client, first, post=i % 2 == 1) for i in range(12)],
            *[notify(client, second, post=i % 2 == 0) for i in range(12)],
            *[notify(client, first, sign="bad") for _ in range(4)],
        )
        assert [r.status_code for r in results] == [200] * 24 + [400] * 4
        assert await quota_of(uid) == 10 * PER_UNIT
        assert len(await topup_logs(uid)) == 2
        assert {(await order(t))["status"] for t in (first, second)} == {"success"}


async def test_declined_payments_provider_errors_and_urls(sqlite_config: Config) -> None:
    quirky = Quirky()
    async with running(sqlite_config, "wallet", extra={"quirky": quirky}) as client:
        uid = await as_user(client)
        await client.app.state.host.options.set_many(
            {"ServerAddress": "https://gw.example.com/", "Price": "1", "MinTopUp": "2"}
        )
        body = await pay(client, 2, "quirkypay")
        trade_no = body["data"]["trade_no"]
        assert body["data"]["pay_link"] == f"https://quirky.invalid/pay/{trade_no}"
        (sent,) = quirky.orders
        assert sent.trade_no == trade_no and sent.user_id == uid and sent.amount == 2 and sent.money == 2.0
        assert sent.return_url == "https://gw.example.com/console/wallet"
        assert sent.notify_url == "https://gw.example.com/api/payment/quirkypay/notify"
        assert sent.settings == QuirkySettings()

        def quirky_notify(paid: str, number: str = trade_no, sign: str = "ok"):
            return client.post(
                "/api/payment/quirkypay/notify",
                params={"out_trade_no": number, "paid": paid},
                headers={"X-Quirky-Sign": sign},
            )

        # A declined payment fails the order and credits nothing; the provider gets its own reply.
        r = await quirky_notify("0")
        assert r.status_code == 200 and r.text == "OK-QUIRKY"
        # verify_notice saw the whole call and the plugin's settings (to check the provider's signature).
        seen = quirky.callbacks[-1]
        assert seen.query == {"out_trade_no": trade_no, "paid": "0"} and seen.headers["x-quirky-sign"] == "ok"
        assert seen.body == b"" and seen.settings == QuirkySettings()
        assert (await order(trade_no))["status"] == "failed" and await quota_of(uid) == 0
        # A later genuine payment of the same order (the user tried again at the provider) is credited, once.
        for _ in range(2):
            assert (await quirky_notify("1")).text == "OK-QUIRKY"
        assert (await order(trade_no))["status"] == "success" and await quota_of(uid) == 2 * PER_UNIT
        # A settled order is never failed nor credited again.
        assert (await quirky_notify("0")).text == "OK-QUIRKY"
        assert (await order(trade_no))["status"] == "success" and await quota_of(uid) == 2 * PER_UNIT
        (entry,) = await topup_logs(uid)
        assert "paid 2.00 USD with Quirky Pay" in entry["content"]

        # A trade number of another method credits nothing, whatever that method says.
        fake = (await pay(client, 2))["data"]["trade_no"]
        r = await quirky_notify("1", number=fake)
        assert r.status_code == 404 and r.text == "fail"
        assert (await order(fake))["status"] == "pending" and await quota_of(uid) == 2 * PER_UNIT
        assert (await quirky_notify("1", sign="no")).status_code == 400

        # The provider fails: the order is marked failed and the user gets a readable message.
        quirky.broken = True
        body = await pay(client, 3, "quirkypay")
        assert body == {
            "success": False,
            "message": "Quirky Pay could not create the payment order; please try again later",
        }
        failed = await TopUp.select().where(TopUp.amount == 3).first()
        assert failed["status"] == "failed" and failed["payment_method"] == "quirkypay"
        assert await quota_of(uid) == 2 * PER_UNIT

        items = (await client.get("/api/user/topup/self")).json()["data"]["items"]
        statuses = {t["trade_no"]: t["status"] for t in items}
        assert statuses == {trade_no: "success", fake: "pending", failed["trade_no"]: "failed"}


async def test_token_display_mode_amounts_are_quota(sqlite_config: Config) -> None:
    """In New API's TOKENS display mode the wallet sends quota; orders still hold whole units."""
    async with running(sqlite_config, "wallet") as client:
        uid = await as_user(client)
        await client.app.state.host.options.set_many(
            {"general_setting.quota_display_type": "TOKENS", "QuotaPerUnit": "1000", "MinTopUp": "2"}
        )
        assert await pay(client, 1999) == {"success": False, "message": "the top-up amount must be at least 2000"}
        assert await pay(client, 2500) == {
            "success": False,
            "message": "the amount must be a whole number of units (1000 quota each)",
        }
        trade_no = (await pay(client, 3000))["data"]["trade_no"]
        row = await order(trade_no)
        assert row["amount"] == 3 and row["money"] == 21.9
        assert (await notify(client, trade_no)).text == "success"
        assert await quota_of(uid) == 3000


async def test_a_credit_reaches_the_live_balance_at_once(sqlite_config: Config) -> None:
    """The relay spends from the shared live balance: a paid order must land there too, not only in the row."""
    async with running(sqlite_config, "wallet") as client:
        uid = await as_user(client, "zoe")
        wallets = client.app.state.host.wallets
        await wallets.seed(uid, None)  # the wallet has been used through the relay: its balance is live
        trade_no = (await pay(client, 3))["data"]["trade_no"]
        r = await notify(client, trade_no)
        # the provider reads a plain-text "success", as New API answers it
        assert (r.status_code, r.text, r.headers["content-type"].split(";")[0]) == (200, "success", "text/plain")
        assert await quota_of(uid) == 3 * PER_UNIT
        assert await wallets.store.get(f"u{uid}") == 3 * PER_UNIT
        (entry,) = await topup_logs(uid)
        assert entry["username"] == "zoe"
        r = await notify(client, trade_no, sign="forged")
        assert (r.status_code, r.headers["content-type"].split(";")[0]) == (400, "text/plain")


async def test_order_prices_round_half_up_to_the_cent_within_the_limits(sqlite_config: Config) -> None:
    async with running(sqlite_config, "wallet") as client:
        uid = await as_user(client)
        options = client.app.state.host.options

        async def money(amount: int) -> float | str:
            body = await pay(client, amount)
            return (await order(body["data"]["trade_no"]))["money"] if body["success"] else body["message"]

        assert await money(1) == 7.3  # MinTopUp defaults to 1
        assert await money(10_000_000) == 73_000_000.0  # the largest order
        await options.set_many({"Price": "0.125"})
        assert await money(1) == 0.13  # half a cent rounds up
        await options.set_many({"Price": "0.01"})
        assert await money(1) == 0.01  # one cent is enough
        await options.set_many({"Price": "0.004"})
        assert await money(1) == "the payment amount is too low"
        # TopupGroupRatio applies to the user's group; a zero or missing ratio counts as 1
        await options.set_many({"Price": "10", "TopupGroupRatio": '{"default": 0.5}'})
        assert await money(3) == 15.0
        await options.set_many({"TopupGroupRatio": '{"default": 0}'})
        assert await money(3) == 30.0
        await options.set_many({"TopupGroupRatio": '{"vip": 0.5}'})
        assert await money(3) == 30.0
        # no order may credit more quota than a JSON number carries exactly
        await options.set_many({"QuotaPerUnit": str(10**12)})
        assert await money(10_000) == "the top-up amount is too large (at most 10000000 units per order)"
        assert await quota_of(uid) == 0


async def test_quota_per_unit_sets_what_a_unit_credits(sqlite_config: Config) -> None:
    async with running(sqlite_config, "wallet") as client:
        uid = await as_user(client)
        await client.app.state.host.options.set_many({"QuotaPerUnit": "1"})
        trade_no = (await pay(client, 7))["data"]["trade_no"]
        assert (await notify(client, trade_no)).text == "success"
        assert await quota_of(uid) == 7
        (entry,) = await topup_logs(uid)
        assert "credited $7.000000 (7 quota)" in entry["content"]


async def test_order_addresses_and_what_counts_as_a_payment_page(sqlite_config: Config, monkeypatch) -> None:
    quirky = Quirky()
    async with running(sqlite_config, "wallet", extra={"quirky": quirky}) as client:
        await as_user(client)
        options = client.app.state.host.options

        async def opened(page: object = None) -> bool:
            quirky.page = page
            body = await pay(client, 2, "quirkypay")
            status = (await order(quirky.orders[-1].trade_no))["status"]
            assert status == ("pending" if body["success"] else "failed"), body
            return body["success"]

        # Without ServerAddress the addresses are the request's own.
        assert await opened()
        assert quirky.orders[-1].return_url == "http://testserver/console/wallet"
        assert quirky.orders[-1].notify_url == "http://testserver/api/payment/quirkypay/notify"
        # The provider calls CustomCallbackAddress when set; the user comes back to ServerAddress.
        await options.set_many(
            {"ServerAddress": "https://gw.example.com", "CustomCallbackAddress": "https://cb.example/"}
        )
        assert await opened()
        assert quirky.orders[-1].return_url == "https://gw.example.com/console/wallet"
        assert quirky.orders[-1].notify_url == "https://cb.example/api/payment/quirkypay/notify"

        # Only an http(s) address with something after the scheme is sent to the user as the page to pay on.
        assert await opened("http://ab")
        for page in ("https://", "javascript:alert(document.cookie)//https://x", "ftp://files.example/pay", 42):
            assert not await opened(page), page

        # A provider that does not answer in time fails the order.
        monkeypatch.setattr(topups, "ORDER_TIMEOUT", 0.2)
        quirky.delay = 5
        started = time.monotonic()
        assert not await opened()
        assert time.monotonic() - started < 4


async def test_only_real_discounts_lower_a_price(sqlite_config: Config) -> None:
    """payment_setting.amount_discount holds price factors in (0, 1]; anything else is dropped, never charged."""
    async with running(sqlite_config, "wallet") as client:
        await as_user(client)
        await client.app.state.host.options.set_many(
            {
                "Price": "10",
                "payment_setting.amount_discount": '{"2": 1, "3": 1.5, "4": 0, "5": 0.5, "x": 0.5}',
                "payment_setting.amount_options": "[0, 1, 5, -5]",
            }
        )
        info = (await client.get("/api/user/topup/info")).json()["data"]
        assert info["discount"] == {"2": 1.0, "5": 0.5} and info["amount_options"] == [1, 5]
        for amount, money in ((2, 20.0), (3, 30.0), (4, 40.0), (5, 25.0)):
            trade_no = (await pay(client, amount))["data"]["trade_no"]
            assert (await order(trade_no))["money"] == money, amount
