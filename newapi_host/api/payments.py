"""Online top-up through the payment methods of enabled plugins, provider-independent.

``POST /api/user/pay`` (New API's route and fields) opens a pending ``top_ups`` order and asks the
method's ``create_order`` for the page the user pays on. The provider then calls
``/api/payment/{method_id}/notify``; ``verify_notice`` says whether the call is genuine and which
order it is about. Crediting is one transaction whose first statement is a conditional UPDATE of
the order away from an unpaid status (``pending``, or ``failed`` after a declined attempt) to
``success``: of any number of duplicate or concurrent notices, on any number of workers, only the
one whose UPDATE matched adds the quota and writes the top-up log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from litestar import HttpMethod, Request, Response, post, route
from litestar.params import FromPath

from newapi_host.auth.guards import user_auth
from newapi_host.auth.users import random_key
from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import LOG_TOPUP, Log, TopUp, User
from newapi_host.host import host_of
from newapi_host.options import DEFAULT_PRICE
from newapi_host.plugins.contracts import PaymentCallback, PaymentMethod, PaymentNotice, PaymentOrder

from .common import announce, wallets
from .envelope import fail, json_object, ok
from .redemptions import MAX_QUOTA, _amount_discount

log = logging.getLogger(__name__)

MAX_TOPUP_UNITS = 10_000_000  # one order buys at most this many units (USD)
ORDER_TIMEOUT = 30.0  # seconds a provider gets to create an order
UNPAID = ("pending", "failed")  # statuses a genuine paid notice may still complete
CENT = Decimal("0.01")


def _decimal(text: str, default: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return Decimal(default)
    return value if value.is_finite() else Decimal(default)


def _per_unit(options: Any) -> Decimal:
    value = _decimal(options.get("QuotaPerUnit", "500000"), "500000")
    return value if value > 0 else Decimal(500000)


def _in_tokens(options: Any) -> bool:
    """New API's TOKENS display mode: the wallet's amounts are quota, not units."""
    return options.get("general_setting.quota_display_type", "USD").upper() == "TOKENS"


def _topup_group_ratio(options: Any, group: str) -> Decimal:
    """``TopupGroupRatio[group]``; 1 when missing or 0, as New API."""
    table = options.get_json("TopupGroupRatio", None)
    value = table.get(group) if isinstance(table, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return Decimal(str(value))
    return Decimal(1)


def _method(request: Request[Any, Any, Any], method_id: str) -> PaymentMethod | None:
    """The payment method ``method_id`` of an enabled plugin."""
    return next((m for m in host_of(request.app.state).registry.payment_methods() if m.id == method_id), None)


def _base(request: Request[Any, Any, Any], option: str = "ServerAddress") -> str:
    options = host_of(request.app.state).options
    return (options.get(option) or options.get("ServerAddress") or str(request.base_url)).rstrip("/")


def _is_web_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) > 8


async def _mark(trade_no: str, status: str) -> None:
    async with write_transaction():
        await TopUp.update({TopUp.status: status}).where((TopUp.trade_no == trade_no) & (TopUp.status == "pending"))


@post("/api/user/pay", guards=[user_auth], status_code=200)
async def pay(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """``{"amount", "payment_method"}``: open an order and answer the page to pay it on.

    ``amount`` is in units (USD), or in quota in New API's TOKENS display mode. The price is
    ``amount x Price x TopupGroupRatio[group] x payment_setting.amount_discount[amount]``, in the
    method's currency, rounded to cents. ``data`` is ``{pay_link, url, trade_no}``.
    """
    body = await json_object(request)
    if body is None:
        return fail('request body must be a JSON object: {"amount": ..., "payment_method": "..."}')
    host = host_of(request.app.state)
    options = host.options
    method_id = body.get("payment_method")
    method = _method(request, method_id) if isinstance(method_id, str) else None
    if method is None:
        return fail("payment method does not exist")
    amount = body.get("amount")
    if isinstance(amount, float) and amount.is_integer():
        amount = int(amount)
    if not isinstance(amount, int) or isinstance(amount, bool):
        return fail("amount must be a whole number")

    per_unit = _per_unit(options)
    tokens = _in_tokens(options)
    minimum = max(1, options.get_int("MinTopUp", 1))
    if tokens:
        minimum = int(minimum * per_unit)
    if amount < minimum:
        return fail(f"the top-up amount must be at least {minimum}")
    units = Decimal(amount) / per_unit if tokens else Decimal(amount)
    if tokens and units != units.to_integral_value():
        return fail(f"the amount must be a whole number of units ({per_unit.normalize():f} quota each)")
    units = units.to_integral_value()
    if units > MAX_TOPUP_UNITS or units * per_unit > MAX_QUOTA:
        return fail(f"the top-up amount is too large (at most {MAX_TOPUP_UNITS} units per order)")

    caller = request.state.caller
    discount = Decimal(str(_amount_discount(options).get(str(amount), 1.0)))
    price = _decimal(options.get("Price", DEFAULT_PRICE), DEFAULT_PRICE)
    money = (units * price * _topup_group_ratio(options, caller.group) * discount).quantize(CENT, ROUND_HALF_UP)
    if money < CENT:
        return fail("the payment amount is too low")

    trade_no = f"USR{caller.id}NO{random_key(6)}{int(time.time())}"
    owner = host.registry.owner_of("payment method", method.id) or ""
    async with write_transaction():
        await TopUp.insert(
            TopUp(
                user_id=caller.id,
                amount=int(units),
                money=float(money),
                trade_no=trade_no,
                payment_method=method.id,
                payment_provider=owner,
                create_time=int(time.time()),
                status="pending",
            )
        )
    order = PaymentOrder(
        trade_no=trade_no,
        user_id=caller.id,
        amount=int(units),
        money=float(money),
        return_url=f"{_base(request)}/console/wallet",
        notify_url=f"{_base(request, 'CustomCallbackAddress')}/api/payment/{method.id}/notify",
        settings=host.states.settings(owner) if owner else None,
    )
    try:
        url = await asyncio.wait_for(method.create_order(order), ORDER_TIMEOUT)
        if not _is_web_url(url):
            raise ValueError(f"create_order returned {url!r}, not an http(s) URL")
    except Exception:
        log.warning("payment method %r could not create order %s", method.id, trade_no, exc_info=True)
        await _mark(trade_no, "failed")
        return fail(f"{method.name} could not create the payment order; please try again later")
    return ok({"pay_link": url, "url": url, "trade_no": trade_no}, message="success")


def _answer(status: int, body: bytes = b"fail") -> Response[bytes]:
    return Response(body, status_code=status, media_type="text/plain")


async def _credit(request: Request[Any, Any, Any], method: PaymentMethod, trade_no: str) -> bool:
    """Complete an unpaid order and credit its user, exactly once; False when nothing changed."""
    options = host_of(request.app.state).options
    per_unit = _per_unit(options)
    now = int(time.time())
    async with wallets(request).change() as change:
        won = (
            await TopUp.update({TopUp.status: "success", TopUp.complete_time: now})
            .where((TopUp.trade_no == trade_no) & (TopUp.payment_method == method.id) & TopUp.status.is_in(UNPAID))
            .returning(TopUp.user_id, TopUp.amount, TopUp.money)
        )
        if not won:
            return False
        user_id, amount, money = won[0]["user_id"], won[0]["amount"], won[0]["money"]
        quota = int(Decimal(amount) * per_unit)
        await User.update({User.quota: User.quota + quota}).where(User.id == user_id)
        change.wallet(user_id, quota)
        user = await User.select(User.username).where(User.id == user_id).first()
        await Log.insert(
            Log(
                user_id=user_id,
                created_at=now,
                type=LOG_TOPUP,
                content=(
                    f"Online top-up succeeded: credited ${quota / per_unit:.6f} ({quota} quota), "
                    f"paid {money:.2f} {method.currency} with {method.name} (order {trade_no})"
                ),
                username=user["username"] if user else "",
            )
        )
    return True


@route("/api/payment/{method_id:str}/notify", http_method=[HttpMethod.GET, HttpMethod.POST], status_code=200)
async def payment_notify(request: Request[Any, Any, Any], method_id: FromPath[str]) -> Response[bytes]:
    """The provider's callback: verified by the method, then the order is credited once.

    Answers the notice's ``reply`` when the order is (or already was) settled; ``fail`` with 400
    for a call that is not genuine, 404 for an unknown method or order.
    """
    method = _method(request, method_id)
    if method is None:
        return _answer(404)
    query = {k: v for k, v in request.query_params.items()}
    headers = {k.lower(): v for k, v in request.headers.items()}
    raw = await request.body()
    host = host_of(request.app.state)
    owner = host.registry.owner_of("payment method", method.id)
    callback = PaymentCallback(query, raw, headers, host.states.settings(owner) if owner else None)
    try:
        notice = await method.verify_notice(callback)
    except Exception:
        log.warning("payment method %r failed to verify a notice", method.id, exc_info=True)
        notice = None
    if not isinstance(notice, PaymentNotice):
        return _answer(400)
    order = await TopUp.select(TopUp.status).where(
        (TopUp.trade_no == notice.trade_no) & (TopUp.payment_method == method.id)
    )
    if not order:
        log.warning("payment method %r notified unknown order %r", method.id, notice.trade_no)
        return _answer(404)
    if notice.paid:
        if await _credit(request, method, notice.trade_no):
            await announce(request, "users")  # cached wallets (relay key cache) must see the new balance
    else:
        await _mark(notice.trade_no, "failed")
    return _answer(200, notice.reply)


ROUTES = [pay, payment_notify]
