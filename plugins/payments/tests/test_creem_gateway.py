"""Creem: product checkout against a local fake of Creem's API, and its webhook signed with
``creem-signature`` (hex HMAC-SHA256 of the raw body), against a real gateway process."""

from __future__ import annotations

import hashlib
import hmac
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from payments_helpers import buyer, order_of, quota_of

from newapi_host.sdk.testing import MockUpstream

API_KEY = "creem_test_key_789"
SECRET = "creem_webhook_secret_012"
PRODUCTS = [
    {"productId": "prod_small", "name": "Small", "price": 9.9, "currency": "USD", "quota": 2_500_000},
    {"productId": "prod_big", "name": "Big", "price": 49, "currency": "USD", "quota": 15_000_000},
]


@pytest.fixture(scope="module")
def fake_creem():
    api = MockUpstream()

    def checkout(request):
        if request.headers.get("x-api-key") != API_KEY:
            return {"error": "unauthorized"}
        return {"id": "ch_1", "checkout_url": f"{api.url}/checkout/{request.json['request_id']}"}

    api.route("POST", "/v1/checkouts", checkout)
    api.start()
    yield api
    api.stop()


def completed(trade_no: str, amount: int, status: str = "paid", kind: str = "onetime") -> bytes:
    order = {"id": "ord_1", "amount": amount, "amount_paid": amount, "currency": "USD", "status": status, "type": kind}
    body = {
        "id": "evt_1",
        "eventType": "checkout.completed",
        "object": {"id": "ch_1", "request_id": trade_no, "order": order, "customer": {"email": "b@example.com"}},
    }
    return json.dumps(body).encode()


def webhook(gateway, payload: bytes, secret: str = SECRET) -> int:
    sign = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    headers = {"creem-signature": sign, "content-type": "application/json"}
    return httpx.post(f"{gateway.url}/api/creem/webhook", content=payload, headers=headers, timeout=30).status_code


def test_creem_product_checkout_and_signed_webhook(gateway, fake_creem) -> None:
    gateway.option("CreemProducts", PRODUCTS)  # New API's option key; key and secret on the Plugins page
    gateway.plugin_settings("creem", api_key=API_KEY, webhook_secret=SECRET, api_base=fake_creem.url)
    client, uid = buyer(gateway, "creembuyer")
    info = client.get("/api/user/topup/info").json()["data"]
    assert info["enable_creem_topup"] is True and info["creem_products"] == PRODUCTS

    assert client.post("/api/user/creem/pay", json={"product_id": "nope", "payment_method": "creem"}).json() == {
        "success": False,
        "message": "product does not exist",
        "data": "product does not exist",
    }
    answer = client.post("/api/user/creem/pay", json={"product_id": "prod_small", "payment_method": "creem"}).json()
    assert answer["success"], answer
    trade_no = answer["data"]["order_id"]
    assert answer["data"]["checkout_url"] == f"{fake_creem.url}/checkout/{trade_no}"
    (sent,) = fake_creem.requests_for(path="/v1/checkouts")
    assert sent.json["product_id"] == "prod_small" and sent.json["request_id"] == trade_no
    assert sent.json["metadata"]["quota"] == "2500000"
    order = order_of(gateway, trade_no)
    assert (order["status"], order["money"], order["amount"]) == ("pending", 9.9, 2_500_000)

    good = completed(trade_no, 990)
    assert webhook(gateway, good, "forged-secret") == 400
    assert webhook(gateway, completed(trade_no, 99)) == 400  # signed, but not the product's price
    assert webhook(gateway, completed(trade_no, 990, status="pending")) == 200  # not paid: nothing to do
    assert quota_of(gateway, uid) == 0 and order_of(gateway, trade_no)["status"] == "pending"

    with ThreadPoolExecutor(10) as pool:
        assert list(pool.map(lambda _: webhook(gateway, good), range(10))) == [200] * 10
    assert quota_of(gateway, uid) == 2_500_000  # the product's quota, as New API credits Creem
    assert order_of(gateway, trade_no)["status"] == "success"
    assert len([r for r in gateway.logs(type=1) if r["user_id"] == uid]) == 1
