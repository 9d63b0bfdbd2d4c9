"""Creem: product checkouts and their signed webhook, with New API's routes.

Root lists the products (``CreemProducts``: ``[{"productId", "name", "price", "currency",
"quota"}]``); ``POST /api/user/creem/pay`` with ``{"product_id", "payment_method": "creem"}`` opens
an order for one (its ``quota`` is what is credited, as New API does, its ``price`` what is paid)
and a checkout at Creem's ``/v1/checkouts`` (``x-api-key``), whose ``checkout_url`` the user is
sent to. Creem then posts ``checkout.completed`` to ``/api/creem/webhook`` with header
``creem-signature``: the HMAC-SHA256 of the raw body with the webhook secret, in hex. A paid
one-time order with the right amount is credited once; anything unsigned credits nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import httpx
from litestar import Request, Response, post
from pydantic import BaseModel, Field, SecretStr

from newapi_host.sdk import (
    PaymentCallback,
    PaymentMethod,
    PaymentNotice,
    PaymentOrder,
    PaymentRefused,
    Registrar,
    hookimpl,
    open_order,
    options,
    payment_notice,
    settings,
    user_auth,
)

from .config import answer, option, pick, pick_bool, pick_json

NEWAPI_SDK = ">=1.2,<2"
NEWAPI_CONFORMANCE = "newapi_payments.conformance:creem"

PLUGIN = "creem"
LIVE_API = "https://api.creem.io"
TEST_API = "https://test-api.creem.io"
TIMEOUT = 30.0


class CreemSettings(BaseModel):
    """A field naming a New API option in parentheses mirrors that option (see ``config``)."""

    api_key: SecretStr = Field(
        SecretStr(""), description="API key (CreemApiKey)", json_schema_extra=option("CreemApiKey")
    )
    webhook_secret: SecretStr = Field(
        SecretStr(""),
        description="Webhook signing secret (CreemWebhookSecret)",
        json_schema_extra=option("CreemWebhookSecret"),
    )
    products: str = Field(
        "",
        description='Products, JSON: [{"productId", "name", "price", "currency", "quota"}] (CreemProducts)',
        json_schema_extra=option("CreemProducts"),
    )
    test_mode: bool | None = Field(
        None, description="Use Creem's test environment (CreemTestMode)", json_schema_extra=option("CreemTestMode")
    )
    api_base: str = Field("", description="Creem API address; empty: Creem's live or test address")


def _settings(value: Any) -> CreemSettings:
    return value if isinstance(value, CreemSettings) else CreemSettings()


def signature(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def products(s: CreemSettings, opts: Mapping[str, str]) -> list[dict[str, Any]]:
    listed = pick_json(s.products, opts, "CreemProducts", [])
    return [p for p in listed if isinstance(p, dict) and p.get("productId")] if isinstance(listed, list) else []


def _api(s: CreemSettings, opts: Mapping[str, str]) -> str:
    if s.api_base:
        return s.api_base.rstrip("/")
    return TEST_API if pick_bool(s.test_mode, opts, "CreemTestMode") else LIVE_API


async def create_order(order: PaymentOrder) -> str:
    s = _settings(order.settings)
    key = pick(s.api_key, order.options, "CreemApiKey")
    if not key:
        raise RuntimeError("Creem is not configured: set the API key")
    product = next((p for p in products(s, order.options) if p["productId"] == order.pay_type), None)
    if product is None:
        raise RuntimeError(f"Creem product {order.pay_type!r} is not configured")
    payload = {
        "product_id": product["productId"],
        "request_id": order.trade_no,
        "success_url": order.return_url,  # back to the wallet once paid (New API relies on the product's default)
        "customer": {"email": order.email},
        "metadata": {
            "username": order.username,
            "reference_id": order.trade_no,
            "product_name": str(product.get("name", "")),
            "quota": str(order.amount),
        },
    }
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        r = await client.post(f"{_api(s, order.options)}/v1/checkouts", json=payload, headers={"x-api-key": key})
    r.raise_for_status()
    url = r.json().get("checkout_url")
    if not isinstance(url, str) or not url:
        raise RuntimeError("Creem answered no checkout_url")
    return url


async def verify_notice(callback: PaymentCallback) -> PaymentNotice | None:
    s = _settings(callback.settings)
    secret = pick(s.webhook_secret, callback.options, "CreemWebhookSecret")
    given = callback.headers.get("creem-signature", "")
    try:
        event = json.loads(callback.body)
    except ValueError:
        event = None
    obj = event.get("object") if isinstance(event, dict) else None
    obj = obj if isinstance(obj, dict) else {}
    claimed = str(obj.get("request_id") or "")  # as the caller claims it, until the signature is checked
    if not secret or not given or not hmac.compare_digest(given.lower(), signature(callback.body, secret)):
        return refused(claimed, "bad signature" if given else "no creem-signature header")
    if not isinstance(event, dict) or not obj:
        return refused(claimed, "not a Creem event")
    order = obj.get("order") if isinstance(obj.get("order"), dict) else {}
    if event.get("eventType") != "checkout.completed":
        return PaymentNotice(trade_no="", paid=False, ignore=True, reply=b"")
    if order.get("status") != "paid":
        reason = f"order status {order.get('status')!r}: not paid"
        return PaymentNotice(trade_no=claimed, paid=False, ignore=True, reply=b"", reason=reason)
    if order.get("type", "onetime") != "onetime" or not claimed:
        return PaymentNotice(trade_no="", paid=False, ignore=True, reply=b"")
    amount = order.get("amount")
    if not isinstance(amount, int) or isinstance(amount, bool):
        return refused(claimed, "order.amount is not a whole number of cents")
    return PaymentNotice(trade_no=claimed, paid=True, money=amount / 100, reply=b"")


def refused(trade_no: str, reason: str) -> PaymentNotice:
    return PaymentNotice(trade_no=trade_no, paid=False, refused=True, reason=reason, reply=b"")


def pay_types(settings: Any, opts: Mapping[str, str]) -> list[dict[str, str]]:
    """Creem in the wallet once its key and products are set (New API's ``enable_creem_topup``);
    its products are bought with ``POST /api/user/creem/pay``."""
    s = _settings(settings)
    if not pick(s.api_key, opts, "CreemApiKey") or not products(s, opts):
        return []
    return [{"name": "Creem", "type": "creem", "color": "#111827"}]


METHOD = PaymentMethod(
    id="creem",
    name="Creem",
    create_order=create_order,
    verify_notice=verify_notice,
    currency="USD",
    pay_types=pay_types,
)


@post("/api/user/creem/pay", guards=[user_auth], status_code=200)
async def creem_pay(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """``{"product_id", "payment_method": "creem"}``: ``data`` is ``{checkout_url, order_id}``."""
    try:
        body = await request.json()
    except Exception:
        body = None
    if not isinstance(body, dict):
        return answer(None, 'request body must be a JSON object: {"product_id": ..., "payment_method": "creem"}')
    if body.get("payment_method", "creem") != "creem":
        return answer(None, "unsupported payment method")
    product_id = body.get("product_id")
    if not isinstance(product_id, str) or not product_id:
        return answer(None, "please choose a product")
    s = _settings(settings(request, PLUGIN))
    product = next((p for p in products(s, options(request)) if p["productId"] == product_id), None)
    if product is None:
        return answer(None, "product does not exist")
    quota, price = product.get("quota"), product.get("price")
    if not isinstance(quota, int) or isinstance(quota, bool) or quota <= 0:
        return answer(None, "the product's quota is not configured")
    if not isinstance(price, (int, float)) or isinstance(price, bool) or price <= 0:
        return answer(None, "the product's price is not configured")
    try:
        trade_no, url = await open_order(
            request,
            METHOD.id,
            amount=quota,
            money=round(float(price), 2),
            quota=quota,
            pay_type=product_id,
            notify_path="/api/creem/webhook",
        )
    except PaymentRefused as exc:
        return answer(None, exc.message)
    return answer({"checkout_url": url, "order_id": trade_no})


@post("/api/creem/webhook", status_code=200)
async def creem_webhook(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Creem's events, settled by the host exactly as ``/api/payment/creem/notify``."""
    return await payment_notice(request, METHOD.id)


@hookimpl
def newapi_register_payments(registry: Registrar) -> None:
    registry.payment_method(METHOD)


@hookimpl
def newapi_plugin_settings() -> type[CreemSettings]:
    return CreemSettings


@hookimpl
def newapi_routes() -> list[Any]:
    return [creem_pay, creem_webhook]
