"""The payments plugin inside the app, on SQLite and PostgreSQL: concurrent notices of Epay and
Stripe credit once; the admin's order desk; pending orders expire; secrets stay with root.

The end-to-end runs against fake providers in their own processes are in plugins/payments/tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from urllib.parse import parse_qsl

import stripe

from newapi_host.api import payments as payments_api
from newapi_host.billing import topups
from newapi_host.config import Config
from newapi_host.db.tables import LOG_MANAGE, LOG_TOPUP, Log, TopUp, User
from newapi_host.plugins.contracts import JobContext
from newapi_host.sdk.testing import MockUpstream
from newapi_payments.epay import signature

from .conftest import Client, login, running
from .test_payments_flow import as_user

PER_UNIT = 500000
EPAY = {"pay_address": "https://pay.example.test", "epay_id": "1001", "epay_key": "merchant-key-1"}
STRIPE = {"api_secret": "sk_test_inprocess", "webhook_secret": "whsec_inprocess"}


async def quota_of(user_id: int) -> int:
    return (await User.select(User.quota).where(User.id == user_id).first())["quota"]


async def status_of(trade_no: str) -> str:
    return (await TopUp.select(TopUp.status).where(TopUp.trade_no == trade_no).first())["status"]


async def topups_logged(user_id: int) -> int:
    return await Log.count().where((Log.user_id == user_id) & (Log.type == LOG_TOPUP))


async def as_root_again(client: Client) -> None:
    client.cookies.clear()
    await login(client, "root", "root-password-1")


async def configure(client: Client, plugin: str, settings: dict) -> None:
    """Root saves the method's settings on the Plugins page."""
    await as_root_again(client)
    r = await client.put(f"/api/plugins/{plugin}/settings", json=settings)
    assert r.json()["success"], r.text


async def buyer(client: Client, name: str) -> int:
    client.cookies.clear()
    return await login(client, name, f"{name}-password-1")


def epay_notice(trade_no: str, money: str, **changes: str) -> dict[str, str]:
    params = {
        "pid": "1001",
        "trade_no": "2026000001",
        "out_trade_no": trade_no,
        "type": "alipay",
        "name": "TUC10",
        "money": money,
        "trade_status": "TRADE_SUCCESS",
        **changes,
    }
    return {**params, "sign": signature(params, EPAY["epay_key"]), "sign_type": "MD5"}


async def test_concurrent_epay_notices_credit_once(db_config: Config) -> None:
    async with running(db_config) as client:
        uid = await as_user(client, "epayer")
        await configure(client, "epay", EPAY)
        await buyer(client, "epayer")
        r = await client.post("/api/user/pay", json={"amount": 10, "payment_method": "alipay"})
        answer = r.json()  # New API's Epay answer: the form's fields in data, the address in url
        assert answer["success"] and answer["url"] == "https://pay.example.test/submit.php", answer
        assert answer["data"]["pid"] == "1001" and answer["data"]["type"] == "alipay"
        trade_no = answer["data"]["out_trade_no"]
        good = epay_notice(trade_no, "73.00")
        body = "&".join(f"{k}={v}" for k, v in good.items()).encode()
        form = {"content-type": "application/x-www-form-urlencoded"}
        replies = await asyncio.gather(
            *[client.get("/api/user/epay/notify", params=good) for _ in range(10)],
            *[client.post("/api/user/epay/notify", content=body, headers=form) for _ in range(5)],
            *[client.get("/api/payment/epay/notify", params=good) for _ in range(5)],
            client.get("/api/user/epay/notify", params={**good, "sign": "0" * 32}),
            client.get("/api/user/epay/notify", params=epay_notice(trade_no, "0.73")),
            client.get("/api/user/epay/notify", params=epay_notice(trade_no, "nan")),
            client.get("/api/user/epay/notify", params=epay_notice(trade_no, "inf")),
        )
        assert [(r.status_code, r.text) for r in replies] == [(200, "success")] * 20 + [(400, "fail")] * 4
        assert await quota_of(uid) == 10 * PER_UNIT
        assert await topups_logged(uid) == 1
        assert await status_of(trade_no) == "success"


def stripe_signed(payload: bytes, secret: str = STRIPE["webhook_secret"]) -> dict[str, str]:
    at = int(time.time())
    digest = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return {"stripe-signature": f"t={at},v1={digest}", "content-type": "application/json"}


async def test_concurrent_stripe_webhooks_credit_once(db_config: Config, monkeypatch) -> None:
    fake = MockUpstream()
    fake.route(
        "POST",
        "/v1/checkout/sessions",
        lambda request: {"id": "cs_1", "object": "checkout.session", "url": "https://checkout.test/cs_1"},
    )
    with fake:
        monkeypatch.setattr(stripe, "api_base", fake.url)  # the SDK pointed at the fake, as the issue asks
        async with running(db_config) as client:
            uid = await as_user(client, "striper")
            await configure(client, "stripe", STRIPE)
            await buyer(client, "striper")
            r = await client.post("/api/user/stripe/pay", json={"amount": 3, "payment_method": "stripe"})
            assert r.json()["data"]["pay_link"] == "https://checkout.test/cs_1", r.text
            trade_no = r.json()["data"]["trade_no"]
            (sent,) = fake.requests_for(path="/v1/checkout/sessions")
            assert dict(parse_qsl(sent.body.decode()))["line_items[0][price_data][unit_amount]"] == "2400"  # 3 x 8
            session = {"client_reference_id": trade_no, "amount_subtotal": 2400, "payment_status": "paid"}
            payload = json.dumps(
                {"id": "evt_1", "object": "event", "type": "checkout.session.completed", "data": {"object": session}}
            ).encode()
            replies = await asyncio.gather(
                *[
                    client.post("/api/stripe/webhook", content=payload, headers=stripe_signed(payload))
                    for _ in range(20)
                ],
                client.post("/api/stripe/webhook", content=payload, headers=stripe_signed(payload, "whsec_other")),
            )
            assert [r.status_code for r in replies] == [200] * 20 + [400]
            assert await quota_of(uid) == 3 * PER_UNIT
            assert await topups_logged(uid) == 1


async def open_orders(client: Client, count: int, amount: int = 10) -> list[str]:
    made = []
    for _ in range(count):
        r = await client.post("/api/user/pay", json={"amount": amount, "payment_method": "alipay"})
        made.append(r.json()["data"]["out_trade_no"])
    return made


async def test_order_desk_lists_filters_and_completes_by_hand(db_config: Config) -> None:
    async with running(db_config) as client:
        uid = await as_user(client, "desker")
        await configure(client, "epay", EPAY)
        await buyer(client, "desker")
        stuck, paid, other = await open_orders(client, 3)
        r = await client.get("/api/user/topup")
        assert r.status_code == 403  # the desk is for admins
        await client.get("/api/user/epay/notify", params=epay_notice(paid, "73.00"))

        await as_root_again(client)
        page = (await client.get("/api/user/topup", params={"p": 1, "page_size": 2})).json()["data"]
        assert page["total"] == 3 and page["page"] == 1 and page["page_size"] == 2
        assert [o["trade_no"] for o in page["items"]] == [other, paid]  # newest first
        assert {
            o["trade_no"] for o in (await client.get("/api/user/topup?p=2&page_size=2")).json()["data"]["items"]
        } == {stuck}

        async def listed(**query) -> list[str]:
            return [o["trade_no"] for o in (await client.get("/api/user/topup", params=query)).json()["data"]["items"]]

        assert await listed(status="success") == [paid]
        assert await listed(status="pending", user_id=uid) == [other, stuck]
        assert await listed(user_id=uid + 100) == []
        assert await listed(payment_method="alipay") == [other, paid, stuck]
        assert await listed(payment_method="epay") == [other, paid, stuck]
        assert await listed(payment_method="stripe") == []
        assert await listed(trade_no=stuck[-12:]) == [stuck]
        assert await listed(keyword=stuck) == [stuck]
        now = int(time.time())
        assert len(await listed(start_timestamp=now - 60, end_timestamp=now + 60)) == 3
        assert await listed(start_timestamp=now + 60) == []
        for bad in ({"user_id": "x"}, {"user_id": str(10**20)}, {"start_timestamp": "1e99"}, {"p": "abc"}):
            r = await client.get("/api/user/topup", params=bad)  # unreadable filters are ignored, never a 500
            assert r.status_code == 200 and r.json()["success"], (bad, r.text)

        # The admin completes the stuck order: credited once, however many clicks arrive at once.
        replies = await asyncio.gather(
            *[client.post("/api/user/topup/complete", json={"trade_no": stuck}) for _ in range(8)]
        )
        bodies = [r.json() for r in replies]
        assert sum(b["success"] for b in bodies) == 1
        assert {b["message"] for b in bodies if not b["success"]} == {"the order is success, not awaiting payment"}
        assert await quota_of(uid) == 20 * PER_UNIT
        assert await status_of(stuck) == "success"
        (manage,) = await Log.select().where((Log.user_id == uid) & (Log.type == LOG_MANAGE))
        assert f"Completed top-up order {stuck} by hand" in manage["content"] and "by root" in manage["content"]
        assert (await client.post("/api/user/topup/complete", json={"trade_no": "nope"})).json() == {
            "success": False,
            "message": "top-up order not found",
        }
        assert (await client.post("/api/user/topup/complete", json={})).json()["success"] is False
        assert await topups_logged(uid) == 2


async def test_pending_orders_expire_and_a_late_payment_still_counts(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        uid = await as_user(client, "expirer")
        await configure(client, "epay", EPAY)
        await buyer(client, "expirer")
        old, fresh = await open_orders(client, 2)
        await TopUp.update({TopUp.create_time: int(time.time()) - 31 * 60}).where(TopUp.trade_no == old)
        ctx = JobContext(plugin="core", settings=None, state=client.app.state)

        await client.app.state.host.options.set_many({"TopUpExpireMinutes": "0"})  # 0: orders never expire
        await payments_api.expire_orders(ctx)
        assert await status_of(old) == "pending"

        await client.app.state.host.options.set_many({"TopUpExpireMinutes": "30"})
        await payments_api.expire_orders(ctx)
        assert (await status_of(old), await status_of(fresh)) == ("expired", "pending")
        assert payments_api.TOPUP_EXPIRY_JOB.once_per_cluster
        assert "topup-expiry" in [j.name for j in client.app.state.host.jobs.core_jobs]

        # The user did pay, late: the genuine notice still credits the expired order, once.
        for _ in range(2):
            r = await client.get("/api/user/epay/notify", params=epay_notice(old, "73.00"))
            assert (r.status_code, r.text) == (200, "success")
        assert await status_of(old) == "success" and await quota_of(uid) == 10 * PER_UNIT


async def test_payment_secrets_stay_with_root(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_user(client, "peeker")
        await configure(client, "epay", EPAY)
        await configure(client, "stripe", STRIPE)
        await client.app.state.host.options.set_many({"EpayKey": "option-key-2", "StripeWebhookSecret": "whsec_opt"})
        shown = (await client.get("/api/plugins")).text + (await client.get("/api/option/")).text
        for secret in (EPAY["epay_key"], STRIPE["api_secret"], STRIPE["webhook_secret"], "option-key-2", "whsec_opt"):
            assert secret not in shown
        await buyer(client, "peeker")
        info = (await client.get("/api/user/topup/info")).text
        assert EPAY["epay_key"] not in info and "sk_test" not in info


async def test_invite_rebate_on_the_first_paid_top_ups(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        uid = await as_user(client, "invitee")
        await configure(client, "epay", EPAY)
        inviter = (await User.select(User.id).where(User.username == "root").first())["id"]
        await User.update({User.inviter_id: inviter}).where(User.id == uid)
        inviter_wallet = await quota_of(inviter)
        options = client.app.state.host.options
        await options.set_many({"invite_rebate_setting.times": "2", "invite_rebate_setting.percent": "10"})
        await buyer(client, "invitee")
        assert (await client.get("/api/user/topup/info")).json()["data"]["invite_rebate"] == {
            "times": 2,
            "percent": 10.0,
        }
        orders = await open_orders(client, 3)
        for trade_no in orders:
            for _ in range(2):  # a repeated notice gives no second rebate either
                await client.get("/api/user/epay/notify", params=epay_notice(trade_no, "73.00"))
        row = await User.select(User.aff_quota, User.aff_history).where(User.id == inviter).first()
        assert row == {"aff_quota": 2 * PER_UNIT, "aff_history": 2 * PER_UNIT}  # 10% of the first two only
        assert await quota_of(uid) == 30 * PER_UNIT
        assert await quota_of(inviter) == inviter_wallet  # the rebate waits in the invitation balance


async def test_the_plugins_page_and_new_api_options_hold_one_value(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_user(client, "mirror")
        await as_root_again(client)
        # Set as New API does (or an import): the Plugins page shows it, the secret masked.
        for key, value in {"PayAddress": "https://a.example", "EpayId": "7", "EpayKey": "k-from-option"}.items():
            assert (await client.put("/api/option/", json={"key": key, "value": value})).json()["success"]
        shown = (await client.get("/api/plugins/epay/settings")).json()["data"]["settings"]
        assert (shown["pay_address"], shown["epay_id"], shown["epay_key"]) == ("https://a.example", "7", "**********")

        # Saved on the Plugins page: the options hold the new values (the secret stays unlisted).
        r = await client.put("/api/plugins/epay/settings", json={"pay_address": "https://b.example", "epay_key": "k2"})
        assert r.json()["success"], r.text
        options = client.app.state.host.options
        assert (options.get("PayAddress"), options.get("EpayKey"), options.get("EpayId")) == (
            "https://b.example",
            "k2",
            "7",
        )
        listed = {o["key"]: o["value"] for o in (await client.get("/api/option/")).json()["data"]}
        assert listed["PayAddress"] == "https://b.example" and "EpayKey" not in listed
        # A masked secret sent back unchanged keeps the option's value.
        shown = (await client.get("/api/plugins/epay/settings")).json()["data"]["settings"]
        assert (await client.put("/api/plugins/epay/settings", json=shown)).json()["success"]
        assert options.get("EpayKey") == "k2"

        # The method signs with what both now hold.
        await buyer(client, "mirror")
        answer = (await client.post("/api/user/pay", json={"amount": 1, "payment_method": "alipay"})).json()
        sent = answer["data"]
        assert answer["url"] == "https://b.example/submit.php" and sent["pid"] == "7"
        params = {k: v for k, v in sent.items() if k not in ("sign", "sign_type")}
        assert sent["sign"] == signature(params, "k2")


async def test_stripe_through_the_generic_pay_route_is_priced_as_new_api_prices_stripe(
    sqlite_config: Config, monkeypatch
) -> None:
    """``POST /api/user/pay`` with ``stripe``: ``StripeUnitPrice`` per unit (not ``Price``), at least
    ``StripeMinTopUp``, times the group ratio, as New API's ``getStripePayMoney``; the top-up log
    names the currency Stripe reports."""
    fake = MockUpstream()
    fake.route(
        "POST",
        "/v1/checkout/sessions",
        lambda request: {"id": "cs_2", "object": "checkout.session", "url": "https://checkout.test/cs_2"},
    )
    with fake:
        monkeypatch.setattr(stripe, "api_base", fake.url)
        async with running(sqlite_config) as client:
            uid = await as_user(client, "generic")
            await configure(client, "stripe", {**STRIPE, "currency": "eur"})
            await client.app.state.host.options.set_many(
                {"Price": "7.3", "StripeUnitPrice": "2.5", "StripeMinTopUp": "3", "TopupGroupRatio": '{"default": 1.2}'}
            )
            await buyer(client, "generic")
            (listed,) = [m for m in (await client.get("/api/user/topup/info")).json()["data"]["pay_methods"]]
            assert (listed["id"], listed["currency"]) == ("stripe", "EUR")  # the wallet names the price's currency
            low = (await client.post("/api/user/pay", json={"amount": 2, "payment_method": "stripe"})).json()
            assert low == {"success": False, "message": "the top-up amount must be at least 3"}
            r = await client.post("/api/user/pay", json={"amount": 4, "payment_method": "stripe"})
            trade_no = r.json()["data"]["trade_no"]
            row = await TopUp.select(TopUp.money, TopUp.amount).where(TopUp.trade_no == trade_no).first()
            assert row == {"money": 12.0, "amount": 4}  # 4 x 2.5 x 1.2, not 4 x 7.3 x 1.2
            (sent,) = fake.requests_for(path="/v1/checkout/sessions")
            form = dict(parse_qsl(sent.body.decode()))
            assert form["line_items[0][price_data][unit_amount]"] == "1200"
            assert form["line_items[0][price_data][currency]"] == "eur"
            quoted = await client.post("/api/user/stripe/amount", json={"amount": 4})
            assert quoted.json()["data"] == "12.00"  # the same price on Stripe's own route

            session = {"client_reference_id": trade_no, "amount_subtotal": 1200, "currency": "eur"}
            payload = json.dumps(
                {
                    "id": "evt_2",
                    "object": "event",
                    "type": "checkout.session.completed",
                    "data": {"object": {**session, "payment_status": "paid"}},
                }
            ).encode()
            r = await client.post("/api/stripe/webhook", content=payload, headers=stripe_signed(payload))
            assert r.status_code == 200
            assert await quota_of(uid) == 4 * PER_UNIT
            (logged,) = await Log.select(Log.content).where((Log.user_id == uid) & (Log.type == LOG_TOPUP))
            assert "paid 12.00 EUR with Stripe" in logged["content"]


CREEM = {"api_key": "creem_inprocess", "webhook_secret": "creem_whsec_inprocess"}


def creem_signed(payload: bytes, secret: str = CREEM["webhook_secret"]) -> dict[str, str]:
    return {"creem-signature": hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()}


async def test_refused_notices_are_kept_for_the_admin_and_only_the_admin(sqlite_config: Config) -> None:
    """Each kind of refusal (bad signature, stale signature, wrong amount, unknown order, an unpaid
    status, a method that is not there) leaves a record the admin reads at
    ``GET /api/user/topup/refused``: method, trade number, reason, source address, time, status
    answered; no signature and no secret. A common user is refused the list."""
    async with running(sqlite_config) as client:
        uid = await as_user(client, "refused")
        await configure(client, "epay", EPAY)
        await configure(client, "stripe", STRIPE)
        await configure(client, "creem", CREEM)
        await buyer(client, "refused")
        trade_no = (await open_orders(client, 1))[0]
        forged = {**epay_notice(trade_no, "73.00"), "sign": "deadbeef" * 4}
        sends = [
            (client.get("/api/user/epay/notify", params=forged), 400),
            (client.get("/api/user/epay/notify", params=epay_notice(trade_no, "0.73")), 400),
            (client.get("/api/user/epay/notify", params=epay_notice("USR1NOnothere1700000000", "73.00")), 404),
            (client.get("/api/user/epay/notify", params=epay_notice(trade_no, "73.00", trade_status="WAIT")), 200),
            (client.get("/api/payment/nomethod/notify", params={"out_trade_no": trade_no}), 404),
        ]
        for send, status in sends:
            r = await send
            assert r.status_code == status, r.text
        stale = json.dumps({"type": "checkout.session.completed", "data": {"object": {"client_reference_id": "cs"}}})
        old = stripe_signed(stale.encode())
        old["stripe-signature"] = old["stripe-signature"].replace("t=", "t=1")  # signed at another time
        assert (await client.post("/api/stripe/webhook", content=stale, headers=old)).status_code == 400
        unpaid = json.dumps(
            {"eventType": "checkout.completed", "object": {"request_id": trade_no, "order": {"status": "pending"}}}
        ).encode()
        assert (
            await client.post("/api/creem/webhook", content=unpaid, headers=creem_signed(unpaid))
        ).status_code == 200
        forged_creem = creem_signed(unpaid, "not-the-secret")
        assert (await client.post("/api/creem/webhook", content=unpaid, headers=forged_creem)).status_code == 400
        paid = json.dumps(
            {"eventType": "checkout.completed", "object": {"request_id": trade_no, "order": {"amount": 7300}}}
        ).encode()
        paid = paid.replace(b'"amount": 7300', b'"amount": 7300, "status": "paid", "type": "onetime"')
        other = await client.post("/api/creem/webhook", content=paid, headers=creem_signed(paid))
        assert other.status_code == 404  # genuinely Creem's, but the order is Epay's
        assert await quota_of(uid) == 0 and await status_of(trade_no) == "pending"

        r = await client.get("/api/user/topup/refused")
        assert r.status_code == 403  # only admins read them

        await as_root_again(client)
        r = await client.get("/api/user/topup/refused", params={"page_size": 50})
        page = r.json()["data"]
        assert page["total"] == 9
        seen = [(x["method"], x["trade_no"], x["reason"], x["status"]) for x in reversed(page["items"])]
        assert seen == [
            ("epay", trade_no, "bad signature", 400),
            ("epay", trade_no, "wrong amount: paid 0.73, the order's price is 73.00", 400),
            ("epay", "USR1NOnothere1700000000", "unknown order", 404),
            ("epay", trade_no, "trade_status 'WAIT': not paid", 200),
            ("nomethod", "", "no enabled payment method of that id", 404),
            ("stripe", "cs", "bad or stale Stripe-Signature", 400),
            ("creem", trade_no, "order status 'pending': not paid", 200),
            ("creem", trade_no, "bad signature", 400),
            ("creem", trade_no, "the order belongs to epay", 404),
        ]
        now = time.time()
        assert all(x["ip"] == "127.0.0.1" and now - 60 < x["created_at"] <= now for x in page["items"])
        for secret in ("deadbeef", EPAY["epay_key"], STRIPE["webhook_secret"], CREEM["webhook_secret"], "v1="):
            assert secret not in r.text
        only = (await client.get("/api/user/topup/refused", params={"method": "creem"})).json()["data"]
        assert [x["reason"] for x in only["items"]] == [
            "the order belongs to epay",
            "bad signature",
            "order status 'pending': not paid",
        ]
        by_trade = (await client.get("/api/user/topup/refused", params={"trade_no": "nothere"})).json()["data"]
        assert [x["reason"] for x in by_trade["items"]] == ["unknown order"]

        # A flood of forged notices cannot fill the disk: the expiry job keeps the newest ones.
        assert await topups.prune_refusals(keep=3) == 6
        left = (await client.get("/api/user/topup/refused")).json()["data"]["items"]
        assert [x["reason"] for x in left] == [x["reason"] for x in only["items"]]


async def test_concurrent_creem_webhooks_credit_once(db_config: Config) -> None:
    fake = MockUpstream()
    fake.route(
        "POST", "/v1/checkouts", lambda request: {"id": "ch_9", "checkout_url": "https://creem.test/checkout/ch_9"}
    )
    with fake:
        async with running(db_config) as client:
            uid = await as_user(client, "creemer")
            await configure(client, "creem", {**CREEM, "api_base": fake.url})
            product = {"productId": "prod_p", "name": "P", "price": 4.5, "currency": "USD", "quota": 1_234_567}
            await client.app.state.host.options.set_many({"CreemProducts": json.dumps([product])})
            await buyer(client, "creemer")
            r = await client.post("/api/user/creem/pay", json={"product_id": "prod_p", "payment_method": "creem"})
            trade_no = r.json()["data"]["order_id"]
            order = {"amount": 450, "status": "paid", "type": "onetime"}
            payload = json.dumps(
                {"eventType": "checkout.completed", "object": {"request_id": trade_no, "order": order}}
            ).encode()
            replies = await asyncio.gather(
                *[client.post("/api/creem/webhook", content=payload, headers=creem_signed(payload)) for _ in range(20)],
                client.post("/api/creem/webhook", content=payload, headers=creem_signed(payload, "forged")),
            )
            assert [r.status_code for r in replies] == [200] * 20 + [400]
            assert await quota_of(uid) == 1_234_567  # the product's quota, once
            assert await topups_logged(uid) == 1
            assert await status_of(trade_no) == "success"
