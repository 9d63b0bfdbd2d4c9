"""Creem end to end: a real gateway process and a fake Creem process (``fake_creem.py``: its
checkout API, checkout page and signed webhooks, as Creem's). The webhook is signed with
``creem-signature`` (hex HMAC-SHA256 of the raw body); the same checks also run with webhooks the
test signs itself (replayed, concurrent, forged, tampered, wrong amount, unpaid)."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from payments_helpers import HERE, buyer, order_of, quota_of

from newapi_host.sdk.testing import KitGateway

API_KEY = "creem_test_key_789"
SECRET = "creem_webhook_secret_012"
PRODUCTS = [
    {"productId": "prod_small", "name": "Small", "price": 9.9, "currency": "USD", "quota": 2_500_000},
    {"productId": "prod_big", "name": "Big", "price": 49, "currency": "USD", "quota": 15_000_000},
]


@pytest.fixture(scope="module")
def fake_creem(gateway: KitGateway) -> Iterator[str]:
    """The fake Creem, delivering its webhooks to the gateway's New API path."""
    prices = json.dumps({p["productId"]: round(p["price"] * 100) for p in PRODUCTS})
    webhook_url = f"{gateway.url}/api/creem/webhook"
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "fake_creem.py"), API_KEY, webhook_url, SECRET, prices],
        stdout=subprocess.PIPE,
        text=True,
    )
    port = proc.stdout.readline().strip() if proc.stdout else ""
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def configure(gateway: KitGateway, fake_creem: str) -> None:
    gateway.option("CreemProducts", PRODUCTS)  # New API's option key; key and secret on the Plugins page
    gateway.option("ServerAddress", gateway.url)
    gateway.plugin_settings("creem", api_key=API_KEY, webhook_secret=SECRET, api_base=fake_creem)


def completed(trade_no: str, amount: int, status: str = "paid", kind: str = "onetime") -> bytes:
    order = {"id": "ord_1", "amount": amount, "amount_paid": amount, "currency": "USD", "status": status, "type": kind}
    body = {
        "id": "evt_1",
        "eventType": "checkout.completed",
        "object": {"id": "ch_1", "request_id": trade_no, "order": order, "customer": {"email": "b@example.com"}},
    }
    return json.dumps(body).encode()


def webhook(gateway: KitGateway, payload: bytes, secret: str = SECRET, signed: bytes | None = None) -> int:
    """Post ``payload`` signed with ``secret`` (over ``signed`` when given: a body tampered after signing)."""
    sign = hmac.new(secret.encode(), payload if signed is None else signed, hashlib.sha256).hexdigest()
    headers = {"creem-signature": sign, "content-type": "application/json"}
    return httpx.post(f"{gateway.url}/api/creem/webhook", content=payload, headers=headers, timeout=30).status_code


def checkouts(fake_creem: str) -> dict:
    return httpx.get(f"{fake_creem}/control/checkouts", timeout=10).json()


def test_creem_product_checkout_paid_at_the_fake_creem(gateway: KitGateway, fake_creem: str) -> None:
    configure(gateway, fake_creem)
    client, uid = buyer(gateway, "creembuyer")
    info = client.get("/api/user/topup/info").json()["data"]
    assert info["enable_creem_topup"] is True and json.loads(info["creem_products"]) == PRODUCTS

    assert client.post("/api/user/creem/pay", json={"product_id": "nope", "payment_method": "creem"}).json() == {
        "success": False,
        "message": "product does not exist",
        "data": "product does not exist",
    }
    answer = client.post("/api/user/creem/pay", json={"product_id": "prod_small", "payment_method": "creem"}).json()
    assert answer["success"], answer
    trade_no = answer["data"]["order_id"]
    (sent,) = [c for c in checkouts(fake_creem)["checkouts"].values() if c["request_id"] == trade_no]
    assert answer["data"]["checkout_url"] == sent["checkout_url"]
    assert sent["product_id"] == "prod_small" and sent["success_url"] == f"{gateway.url}/console/wallet"
    assert sent["metadata"]["quota"] == "2500000" and sent["metadata"]["reference_id"] == trade_no
    order = order_of(gateway, trade_no)
    assert (order["status"], order["money"], order["amount"]) == ("pending", 9.9, 2_500_000)

    # The buyer opens the checkout and pays; Creem posts the signed webhook, then sends them back.
    with httpx.Client(timeout=30) as browser:
        page = browser.get(sent["checkout_url"])
        assert page.status_code == 200 and "9.90 USD" in page.text
        paid = browser.post(sent["checkout_url"])
    assert paid.status_code == 303 and paid.headers["location"].startswith(f"{gateway.url}/console/wallet?")
    (delivery,) = [d for d in checkouts(fake_creem)["deliveries"] if d["request_id"] == trade_no]
    assert delivery["status"] == 200
    assert quota_of(gateway, uid) == 2_500_000  # the product's quota, as New API credits Creem
    assert order_of(gateway, trade_no)["status"] == "success"

    # Creem repeats the webhook: answered 200, nothing more credited.
    assert httpx.post(sent["checkout_url"], timeout=30).status_code == 303
    assert quota_of(gateway, uid) == 2_500_000
    assert len([r for r in gateway.logs(type=1) if r["user_id"] == uid]) == 1


def test_creem_webhooks_replayed_concurrent_forged_tampered(gateway: KitGateway, fake_creem: str) -> None:
    configure(gateway, fake_creem)
    client, uid = buyer(gateway, "creemrefused")
    answer = client.post("/api/user/creem/pay", json={"product_id": "prod_small", "payment_method": "creem"}).json()
    trade_no = answer["data"]["order_id"]

    good = completed(trade_no, 990)
    assert webhook(gateway, good, "forged-secret") == 400
    assert (
        webhook(gateway, good.replace(b'"amount": 990', b'"amount": 9'), signed=good) == 400
    )  # tampered after signing
    unsigned = httpx.post(f"{gateway.url}/api/creem/webhook", content=good, timeout=30)
    assert unsigned.status_code == 400
    assert webhook(gateway, completed(trade_no, 99)) == 400  # signed, but not the product's price
    assert webhook(gateway, completed(trade_no, 990, status="pending")) == 200  # not paid: nothing to do
    assert webhook(gateway, completed("USR1NOnothere1700000000", 990)) == 404
    assert quota_of(gateway, uid) == 0 and order_of(gateway, trade_no)["status"] == "pending"

    with ThreadPoolExecutor(20) as pool:
        assert list(pool.map(lambda _: webhook(gateway, good), range(20))) == [200] * 20
    assert webhook(gateway, good) == 200  # replayed afterwards
    assert quota_of(gateway, uid) == 2_500_000
    assert order_of(gateway, trade_no)["status"] == "success"
    assert len([r for r in gateway.logs(type=1) if r["user_id"] == uid]) == 1

    refused = gateway.admin.get("/api/user/topup/refused", params={"method": "creem", "page_size": 50}).json()
    reasons = [(r["trade_no"], r["reason"]) for r in reversed(refused["data"]["items"])]
    assert reasons == [
        (trade_no, "bad signature"),
        (trade_no, "bad signature"),
        (trade_no, "no creem-signature header"),
        (trade_no, "wrong amount: paid 0.99, the order's price is 9.90"),
        (trade_no, "order status 'pending': not paid"),
        ("USR1NOnothere1700000000", "unknown order"),
    ]
