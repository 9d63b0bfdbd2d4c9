"""Stripe: the Checkout Session the official SDK sends (to a local fake of Stripe's API), and the
webhook, signed as Stripe signs it, against a real gateway process.

``Stripe-Signature`` is built here the way the SDK verifies it: ``t=<unix time>,v1=<hex HMAC-SHA256
of "<t>.<payload>" with the endpoint's secret>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl

import httpx
import pytest
from payments_helpers import buyer, order_of, quota_of

from newapi_host.sdk.testing import MockUpstream

PER_UNIT = 500000
API_SECRET = "sk_test_fake_secret_123"
WEBHOOK_SECRET = "whsec_test_fake_secret_456"


@pytest.fixture(scope="module")
def fake_stripe():
    """Stripe's API, as far as Checkout goes: records each request and answers a session."""
    api = MockUpstream()

    def create_session(request):
        fields = dict(parse_qsl(request.body.decode()))
        return {
            "id": "cs_test_fake",
            "object": "checkout.session",
            "client_reference_id": fields.get("client_reference_id"),
            "url": f"{api.url}/pay/cs_test_fake",
        }

    api.route("POST", "/v1/checkout/sessions", create_session)
    api.start()
    yield api
    api.stop()


def configure(gateway, fake_stripe) -> None:
    """Keys and prices through New API's option keys; the API address through the Plugins page."""
    for key, value in {
        "StripeApiSecret": API_SECRET,
        "StripeWebhookSecret": WEBHOOK_SECRET,
        "StripeUnitPrice": "1.5",
        "StripeMinTopUp": "2",
        "ServerAddress": gateway.url,
    }.items():
        gateway.option(key, value)
    gateway.plugin_settings("stripe", api_base=fake_stripe.url)


def signed(payload: bytes, secret: str = WEBHOOK_SECRET, at: int | None = None) -> dict[str, str]:
    at = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={at},v1={digest}", "Content-Type": "application/json"}


def event(kind: str, trade_no: str, subtotal: int, payment_status: str = "paid", status: str = "complete") -> bytes:
    session = {
        "id": "cs_test_fake",
        "object": "checkout.session",
        "client_reference_id": trade_no,
        "amount_subtotal": subtotal,
        "amount_total": subtotal,
        "currency": "usd",
        "payment_status": payment_status,
        "status": status,
    }
    body = {"id": f"evt_{trade_no[-8:]}", "object": "event", "type": kind, "data": {"object": session}}
    return json.dumps(body).encode()


def webhook(gateway, payload: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{gateway.url}/api/stripe/webhook", content=payload, headers=headers, timeout=30)


def test_checkout_session_and_webhook_credit_once(gateway, fake_stripe) -> None:
    configure(gateway, fake_stripe)
    client, uid = buyer(gateway, "stripebuyer")
    info = client.get("/api/user/topup/info").json()["data"]
    assert info["enable_stripe_topup"] is True
    assert {"name": "Stripe", "type": "stripe", "color": "#635BFF", "min_topup": "2"} | {
        "id": "stripe",
        "currency": "USD",
    } in info["pay_methods"]

    assert client.post("/api/user/stripe/amount", json={"amount": 10}).json()["data"] == "15.00"
    assert client.post("/api/user/stripe/amount", json={"amount": 1}).json() == {
        "success": False,
        "message": "the top-up amount must be at least 2",
        "data": "the top-up amount must be at least 2",
    }
    answer = client.post("/api/user/stripe/pay", json={"amount": 10, "payment_method": "stripe"}).json()
    assert answer["success"] and answer["message"] == "success", answer
    trade_no = answer["data"]["trade_no"]
    assert answer["data"]["pay_link"] == f"{fake_stripe.url}/pay/cs_test_fake"

    # What the official SDK sent to Stripe: our key, a one-off price of exactly the order's money.
    (sent,) = fake_stripe.requests_for(path="/v1/checkout/sessions")
    assert sent.headers["authorization"] == f"Bearer {API_SECRET}"
    form = dict(parse_qsl(sent.body.decode()))
    assert form["mode"] == "payment" and form["client_reference_id"] == trade_no
    assert form["line_items[0][price_data][unit_amount]"] == "1500"  # 10 x 1.5 USD, in cents
    assert form["line_items[0][price_data][currency]"] == "usd" and form["line_items[0][quantity]"] == "1"
    assert form["success_url"] == f"{gateway.url}/console/wallet"
    assert form["allow_promotion_codes"] == "false" and form["metadata[trade_no]"] == trade_no
    order = order_of(gateway, trade_no)
    assert (order["status"], order["money"], order["amount"], order["payment_method"]) == (
        "pending",
        15.0,
        10,
        "stripe",
    )

    payload = event("checkout.session.completed", trade_no, 1500)
    # Forged (another secret), stale (signed 10 minutes ago), tampered after signing, wrong amount.
    assert webhook(gateway, payload, signed(payload, "whsec_forged")).status_code == 400
    assert webhook(gateway, payload, signed(payload, at=int(time.time()) - 600)).status_code == 400
    tampered = payload.replace(b'"amount_subtotal": 1500', b'"amount_subtotal": 15')
    assert webhook(gateway, tampered, signed(payload)).status_code == 400
    cheap = event("checkout.session.completed", trade_no, 15)
    assert webhook(gateway, cheap, signed(cheap)).status_code == 400
    assert webhook(gateway, payload, {"Content-Type": "application/json"}).status_code == 400
    assert quota_of(gateway, uid) == 0 and order_of(gateway, trade_no)["status"] == "pending"

    # Genuine, then sent again, then 20 at once: one credit.
    assert webhook(gateway, payload, signed(payload)).status_code == 200
    assert webhook(gateway, payload, signed(payload)).status_code == 200
    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(lambda _: webhook(gateway, payload, signed(payload)).status_code, range(20)))
    assert statuses == [200] * 20
    assert quota_of(gateway, uid) == 10 * PER_UNIT
    assert order_of(gateway, trade_no)["status"] == "success"
    assert len([r for r in gateway.logs(type=1) if r["user_id"] == uid]) == 1


def test_async_failures_expiry_and_other_events(gateway, fake_stripe) -> None:
    configure(gateway, fake_stripe)
    client, uid = buyer(gateway, "stripeasync")
    first = client.post("/api/user/stripe/pay", json={"amount": 4}).json()["data"]["trade_no"]
    second = client.post("/api/user/stripe/pay", json={"amount": 4}).json()["data"]["trade_no"]

    # A completed session whose (bank) payment is still running credits nothing yet.
    waiting = event("checkout.session.completed", first, 600, payment_status="unpaid")
    assert webhook(gateway, waiting, signed(waiting)).status_code == 200
    assert order_of(gateway, first)["status"] == "pending"
    failed = event("checkout.session.async_payment_failed", first, 600, payment_status="unpaid")
    assert webhook(gateway, failed, signed(failed)).status_code == 200
    assert order_of(gateway, first)["status"] == "failed"
    expired = event("checkout.session.expired", second, 600, payment_status="unpaid", status="expired")
    assert webhook(gateway, expired, signed(expired)).status_code == 200
    assert order_of(gateway, second)["status"] == "expired"
    other = json.dumps({"id": "evt_x", "object": "event", "type": "customer.created", "data": {"object": {}}}).encode()
    assert webhook(gateway, other, signed(other)).status_code == 200
    assert quota_of(gateway, uid) == 0

    # The retried payment succeeds later: the failed order is completed, once.
    paid = event("checkout.session.async_payment_succeeded", first, 600)
    for _ in range(3):
        assert webhook(gateway, paid, signed(paid)).status_code == 200
    assert quota_of(gateway, uid) == 4 * PER_UNIT
    assert order_of(gateway, first)["status"] == "success"
