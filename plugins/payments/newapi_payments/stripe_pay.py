"""Stripe Checkout through the official ``stripe`` SDK, with New API's routes.

``POST /api/user/stripe/amount`` quotes, ``POST /api/user/stripe/pay`` opens an order priced at
``StripeUnitPrice`` per unit (``StripeMinTopUp`` at least, group ratio and amount discounts as
New API) and a Checkout Session for it: a one-off line of exactly that price, or ``amount`` x
``StripePriceId`` when a price id is set. ``POST /api/stripe/webhook`` takes Stripe's events,
verified with the SDK's signature check (``Stripe-Signature``, 5 minutes' tolerance):
``checkout.session.completed`` (when paid) and ``checkout.session.async_payment_succeeded``
credit the order once; ``checkout.session.async_payment_failed`` marks it failed and
``checkout.session.expired`` expired. A forged, stale or tampered event credits nothing and is
answered 400, so Stripe retries it and the dashboard shows it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

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
    quote_topup,
    settings,
    user_auth,
)

from .config import answer, option, pick, pick_bool, pick_number

if TYPE_CHECKING:
    import stripe

NEWAPI_SDK = ">=1.2,<2"
NEWAPI_CONFORMANCE = "newapi_payments.conformance:stripe"

TOLERANCE = 300  # seconds a signed event stays acceptable (the SDK's default)
PLUGIN = "stripe"  # the entry point name: where the host keeps this method's settings


class StripeSettings(BaseModel):
    """A field naming a New API option in parentheses mirrors that option (see ``config``)."""

    api_secret: SecretStr = Field(
        SecretStr(""),
        description="Secret or restricted key, sk_... / rk_... (StripeApiSecret)",
        json_schema_extra=option("StripeApiSecret"),
    )
    webhook_secret: SecretStr = Field(
        SecretStr(""),
        description="Signing secret of the webhook endpoint, whsec_... (StripeWebhookSecret)",
        json_schema_extra=option("StripeWebhookSecret"),
    )
    price_id: str = Field(
        "",
        description="Price charged per unit, price_...; empty: a one-off price (StripePriceId)",
        json_schema_extra=option("StripePriceId"),
    )
    unit_price: float | None = Field(
        None,
        gt=0,
        description="Money per unit of quota bought (StripeUnitPrice)",
        json_schema_extra=option("StripeUnitPrice"),
    )
    min_topup: int | None = Field(
        None, ge=1, description="Least units per top-up (StripeMinTopUp)", json_schema_extra=option("StripeMinTopUp")
    )
    promotion_codes: bool | None = Field(
        None,
        description="Let users enter promotion codes (StripePromotionCodesEnabled)",
        json_schema_extra=option("StripePromotionCodesEnabled"),
    )
    currency: str = Field("usd", pattern=r"^[a-zA-Z]{3}$", description="Currency of the one-off price")
    api_base: str = Field("", description="Stripe API address; empty: the SDK's (https://api.stripe.com)")


def _settings(value: Any) -> StripeSettings:
    return value if isinstance(value, StripeSettings) else StripeSettings()


def _sdk() -> Any:
    """The ``stripe`` package, imported on first use: it is large, and every worker loads this plugin."""
    import stripe

    return stripe


def _client(s: StripeSettings, opts: Mapping[str, str]) -> stripe.StripeClient:
    stripe = _sdk()
    key = pick(s.api_secret, opts, "StripeApiSecret")
    if not key.startswith(("sk_", "rk_")):
        raise RuntimeError("Stripe is not configured: the API secret must start with sk_ or rk_")
    base = s.api_base.rstrip("/") or stripe.api_base
    return stripe.StripeClient(key, base_addresses={"api": base}, http_client=stripe.HTTPXClient())


async def create_order(order: PaymentOrder) -> str:
    s = _settings(order.settings)
    client = _client(s, order.options)
    price_id = pick(s.price_id, order.options, "StripePriceId")
    if price_id:
        line = {"price": price_id, "quantity": order.amount}
    else:
        line = {
            "price_data": {
                "currency": s.currency.lower(),
                "unit_amount": round(order.money * 100),
                "product_data": {"name": f"Top-up: {order.amount} units"},
            },
            "quantity": 1,
        }
    params: dict[str, Any] = {
        "mode": "payment",
        "client_reference_id": order.trade_no,
        "line_items": [line],
        "success_url": order.return_url,
        "cancel_url": order.return_url,
        "allow_promotion_codes": pick_bool(s.promotion_codes, order.options, "StripePromotionCodesEnabled"),
        "metadata": {"trade_no": order.trade_no},
        "customer_creation": "always",
    }
    if order.email:
        params["customer_email"] = order.email
    session = await client.v1.checkout.sessions.create_async(params=params)
    return str(session.url)


def _refused(body: bytes, reason: str) -> PaymentNotice:
    """A refusal naming the trade number the unverified body claims (for the admin's eyes only)."""
    try:
        claimed = json.loads(body)["data"]["object"].get("client_reference_id") or ""
    except (ValueError, TypeError, KeyError, AttributeError):
        claimed = ""
    return PaymentNotice(trade_no=str(claimed), paid=False, refused=True, reason=reason, reply=b"")


PAID_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")


async def verify_notice(callback: PaymentCallback) -> PaymentNotice | None:
    s = _settings(callback.settings)
    secret = pick(s.webhook_secret, callback.options, "StripeWebhookSecret")
    if not secret:
        return None
    stripe = _sdk()
    try:
        event = stripe.Webhook.construct_event(
            callback.body, callback.headers.get("stripe-signature", ""), secret, TOLERANCE
        )
    except stripe.SignatureVerificationError:
        return _refused(callback.body, "bad or stale Stripe-Signature")
    except ValueError:
        return _refused(callback.body, "not a Stripe event")
    session = event.data.object.to_dict()
    trade_no = session.get("client_reference_id") or ""
    kind = event.type
    if not trade_no or not kind.startswith("checkout.session."):
        return PaymentNotice(trade_no="", paid=False, ignore=True, reply=b"")
    if kind in PAID_EVENTS:
        if session.get("payment_status") not in ("paid", "no_payment_required"):
            return PaymentNotice(trade_no="", paid=False, ignore=True, reply=b"")  # an async payment still runs
        # The price before promotion codes must be the order's (a one-off price is exactly it).
        checked = not pick(s.price_id, callback.options, "StripePriceId")
        subtotal = session.get("amount_subtotal")
        money = subtotal / 100 if checked and isinstance(subtotal, int) else None
        if checked and money is None:
            return PaymentNotice(trade_no=trade_no, paid=False, refused=True, reason="no amount_subtotal", reply=b"")
        currency = str(session.get("currency") or "").upper()
        return PaymentNotice(trade_no=trade_no, paid=True, money=money, reply=b"", currency=currency)
    if kind == "checkout.session.async_payment_failed":
        return PaymentNotice(trade_no=trade_no, paid=False, status="failed", reply=b"")
    if kind == "checkout.session.expired":
        return PaymentNotice(trade_no=trade_no, paid=False, status="expired", reply=b"")
    return PaymentNotice(trade_no="", paid=False, ignore=True, reply=b"")


def pay_types(settings: Any, opts: Mapping[str, str]) -> list[dict[str, str]]:
    """Stripe in the wallet once its keys are set (New API's ``enable_stripe_topup``)."""
    s = _settings(settings)
    if not pick(s.api_secret, opts, "StripeApiSecret") or not pick(s.webhook_secret, opts, "StripeWebhookSecret"):
        return []
    least = max(1, int(pick_number(s.min_topup, opts, "StripeMinTopUp", 1)))
    entry = {"name": "Stripe", "type": "stripe", "color": "#635BFF", "min_topup": str(least)}
    return [{**entry, "currency": s.currency.upper()}]


def pricing(settings: Any, opts: Mapping[str, str]) -> tuple[float, int]:
    """New API's Stripe price: ``StripeUnitPrice`` (default 8) per unit, at least ``StripeMinTopUp``
    units; the host applies the group ratio and amount discounts (``getStripePayMoney``)."""
    s = _settings(settings)
    unit = pick_number(s.unit_price, opts, "StripeUnitPrice", 8.0)
    return unit, max(1, int(pick_number(s.min_topup, opts, "StripeMinTopUp", 1)))


METHOD = PaymentMethod(
    id="stripe",
    name="Stripe",
    create_order=create_order,
    verify_notice=verify_notice,
    currency="USD",
    pay_types=pay_types,
    pricing=pricing,
)


def _price(request: Request[Any, Any, Any], amount: Any) -> Any:
    unit, least = pricing(settings(request, PLUGIN), options(request))
    return quote_topup(request, amount, price=unit, minimum=least)


@post("/api/user/stripe/amount", guards=[user_auth], status_code=200)
async def stripe_amount(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """``{"amount"}``: the price of that top-up with Stripe, ``data`` as a string with two decimals."""
    body = await _body(request)
    try:
        return answer(f"{_price(request, body.get('amount')).money:.2f}")
    except PaymentRefused as exc:
        return answer(None, exc.message)


@post("/api/user/stripe/pay", guards=[user_auth], status_code=200)
async def stripe_pay(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """``{"amount", "payment_method": "stripe"}``: a Checkout Session; ``data.pay_link`` is its page."""
    body = await _body(request)
    if body.get("payment_method", "stripe") != "stripe":
        return answer(None, "unsupported payment method")
    try:
        price = _price(request, body.get("amount"))
        trade_no, url = await open_order(
            request, METHOD.id, amount=price.units, money=price.money, notify_path="/api/stripe/webhook"
        )
    except PaymentRefused as exc:
        return answer(None, exc.message)
    return answer({"pay_link": url, "trade_no": trade_no})


@post("/api/stripe/webhook", status_code=200)
async def stripe_webhook(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Stripe's events, settled by the host exactly as ``/api/payment/stripe/notify``."""
    return await payment_notice(request, METHOD.id)


async def _body(request: Request[Any, Any, Any]) -> dict[str, Any]:
    try:
        body = await request.json()
    except Exception:
        return {}
    return body if isinstance(body, dict) else {}


@hookimpl
def newapi_register_payments(registry: Registrar) -> None:
    registry.payment_method(METHOD)


@hookimpl
def newapi_plugin_settings() -> type[StripeSettings]:
    return StripeSettings


@hookimpl
def newapi_routes() -> list[Any]:
    return [stripe_amount, stripe_pay, stripe_webhook]
