"""Online top-up through the payment methods of enabled plugins, provider-independent.

``POST /api/user/pay`` (New API's route and fields) opens a pending ``top_ups`` order and asks the
method's ``create_order`` for the page the user pays on; ``payment_method`` is a method's id or
one of its pay types (Epay's ``alipay``, ``wxpay`` ...). ``POST /api/user/amount`` quotes the price
first. The provider then calls ``/api/payment/{method_id}/notify`` (or a New API path the plugin
serves with :func:`newapi_host.sdk.payment_notice`); :func:`newapi_host.billing.topups.settle_notice`
verifies it and credits the order exactly once.

The admin's order desk: ``GET /api/user/topup`` lists every order (filters: user, status,
method, trade number, time) and ``POST /api/user/topup/complete`` completes an unpaid one by hand,
with the same exactly-once credit and a manage log row. Pending orders expire after option
``TopUpExpireMinutes`` (a job, once per cluster).
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import parse_qsl

from litestar import HttpMethod, Request, Response, get, post, route
from litestar.params import FromPath
from piccolo.query import WhereRaw

from newapi_host.auth.guards import admin_auth, user_auth
from newapi_host.billing import topups
from newapi_host.db.tables import PaymentRefusal, TopUp, User
from newapi_host.host import host_of
from newapi_host.plugins.contracts import BackgroundJob, JobContext, PaymentMethod

from .common import manage_log, page_of, paging
from .envelope import fail, json_object, ok
from .redemptions import topup_json

log = logging.getLogger(__name__)

EXPIRY_CHECK_SECONDS = 60.0


def _method(request: Request[Any, Any, Any], method_id: str) -> PaymentMethod | None:
    """The payment method ``method_id`` of an enabled plugin."""
    return next((m for m in host_of(request.app.state).registry.payment_methods() if m.id == method_id), None)


def base_url(request: Request[Any, Any, Any], option: str = "ServerAddress") -> str:
    options = host_of(request.app.state).options
    return (options.get(option) or options.get("ServerAddress") or str(request.base_url)).rstrip("/")


async def buyer(user_id: int) -> dict[str, Any]:
    row = await User.select(User.id, User.username, User.email).where(User.id == user_id).first()
    return row or {"id": user_id, "username": "", "email": ""}


@post("/api/user/pay", guards=[user_auth], status_code=200)
async def pay(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """``{"amount", "payment_method"}``: open an order and answer the page to pay it on.

    ``amount`` is in units (USD), or in quota in New API's TOKENS display mode. The price is
    ``amount x Price x TopupGroupRatio[group] x payment_setting.amount_discount[amount]``, in the
    method's currency, rounded to cents; a method with its own ``pricing`` (Stripe:
    ``StripeUnitPrice``, ``StripeMinTopUp``) replaces ``Price`` and ``MinTopUp``. ``data`` is
    ``{pay_link, url, trade_no}``; for a ``form_post`` method (Epay) ``data`` holds the form's
    fields and ``url`` where to post them.
    """
    body = await json_object(request)
    if body is None:
        return fail('request body must be a JSON object: {"amount": ..., "payment_method": "..."}')
    host = host_of(request.app.state)
    found = topups.resolve(host, body.get("payment_method"))
    if found is None:
        return fail("payment method does not exist")
    method, pay_type = found
    caller = request.state.caller
    try:
        each, least = topups.method_pricing(host, method)
        price = topups.quote(host.options, caller.group, body.get("amount"), price=each, minimum=least)
        trade_no, url = await topups.open_order(
            host,
            method,
            await buyer(caller.id),
            amount=price.units,
            money=price.money,
            return_url=f"{base_url(request)}/console/wallet",
            notify_url=f"{base_url(request, 'CustomCallbackAddress')}/api/payment/{method.id}/notify",
            pay_type=pay_type,
        )
    except topups.Refused as exc:
        return fail(exc.message)
    if method.form_post:  # New API's Epay answer: the form's fields and where to post them
        address, _, query = url.partition("?")
        return {"success": True, "message": "success", "data": dict(parse_qsl(query)), "url": address}
    return ok({"pay_link": url, "url": url, "trade_no": trade_no}, message="success")


@post("/api/user/amount", guards=[user_auth], status_code=200)
async def amount_quote(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """``{"amount"}``: what that top-up costs (``data``, a string with two decimals), as New API."""
    body = await json_object(request)
    if body is None:
        return fail('request body must be a JSON object: {"amount": ...}')
    host = host_of(request.app.state)
    try:
        price = topups.quote(host.options, request.state.caller.group, body.get("amount"))
    except topups.Refused as exc:
        return {"success": False, "message": exc.message, "data": exc.message}
    return ok(f"{price.money:.2f}", message="success")


@route("/api/payment/{method_id:str}/notify", http_method=[HttpMethod.GET, HttpMethod.POST], status_code=200)
async def payment_notify(request: Request[Any, Any, Any], method_id: FromPath[str]) -> Response[bytes]:
    """The provider's callback: verified by the method, then the order is credited once.

    Answers the notice's ``reply`` when the order is (or already was) settled; ``fail`` with 400
    for a call that is not genuine, 404 for an unknown method or order.
    """
    method = _method(request, method_id)
    if method is None:
        ip = request.client.host if request.client else ""
        await topups.record_refusal(method_id, "", "no enabled payment method of that id", ip, 404)
        return Response(b"fail", status_code=404, media_type="text/plain")
    return await answer_notice(request, method)


async def answer_notice(request: Request[Any, Any, Any], method: PaymentMethod) -> Response[bytes]:
    query = dict(request.query_params.items())
    headers = {k.lower(): v for k, v in request.headers.items()}
    ip = request.client.host if request.client else ""
    status, body = await topups.settle_notice(
        host_of(request.app.state), method, query, await request.body(), headers, ip
    )
    return Response(body, status_code=status, media_type="text/plain")


# -- the admin's order desk ------------------------------------------------------------------------


def _like(column: str, text: str) -> WhereRaw:
    pattern = "%" + text.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"
    return WhereRaw(f"\"{column}\" LIKE {{}} ESCAPE '!'", pattern)


def _int(text: str | None) -> int | None:
    """A whole-number filter; None when absent, unreadable or beyond what a column holds."""
    try:
        value = int(text) if text not in (None, "") else None
    except ValueError:
        return None
    return value if value is None or abs(value) < 2**53 else None


@get("/api/user/topup", guards=[admin_auth])
async def all_topups(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Every top-up order, newest first, paged as New API's ``GetAllTopUps``.

    Filters (all optional): ``keyword`` or ``trade_no`` (part of the trade number), ``user_id``,
    ``status``, ``payment_method`` (what the user picked, or the plugin that opened the order),
    ``start_timestamp`` / ``end_timestamp`` (creation time, unix seconds, inclusive).
    """
    page, size = paging(request)
    query = request.query_params
    where: Any = TopUp.id > 0
    trade = (query.get("trade_no") or query.get("keyword") or "").strip()[:255]
    if trade:
        where &= _like("trade_no", trade)
    user_id = _int(query.get("user_id"))
    if user_id is not None:
        where &= TopUp.user_id == user_id
    status = (query.get("status") or "").strip()
    if status:
        where &= TopUp.status == status
    method = (query.get("payment_method") or "").strip()
    if method:
        where &= (TopUp.payment_method == method) | (TopUp.payment_provider == method)
    start, end = _int(query.get("start_timestamp")), _int(query.get("end_timestamp"))
    if start is not None:
        where &= TopUp.create_time >= start
    if end is not None:
        where &= TopUp.create_time <= end
    rows = await TopUp.select().where(where).order_by(TopUp.id, ascending=False).limit(size).offset((page - 1) * size)
    total = await TopUp.count().where(where)
    return ok(page_of([topup_json(r) for r in rows], total, page, size))


@post("/api/user/topup/complete", guards=[admin_auth], status_code=200)
async def complete_topup(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """``{"trade_no"}``: complete an unpaid order by hand (the admin saw the payment arrive).

    The same exactly-once credit as a provider's notice; a manage log row names the admin.
    """
    body = await json_object(request)
    trade_no = body.get("trade_no") if body is not None else None
    if not isinstance(trade_no, str) or not trade_no.strip():
        return fail('please give the order: {"trade_no": "..."}')
    host = host_of(request.app.state)
    order = await topups.find(trade_no.strip())
    if order is None:
        return fail("top-up order not found")
    caller = request.state.caller
    done = await topups.credit(
        host.wallets, host.options, order.trade_no, None, f"completed by hand by admin {caller.username}"
    )
    if done is None:
        now = await topups.find(order.trade_no)  # read after the attempt: another completion may have won
        return fail(f"the order is {now.status if now else order.status}, not awaiting payment")
    await host.watcher.changed("users")
    await manage_log(caller, done.user_id, f"Completed top-up order {done.trade_no} by hand ({done.money:.2f})")
    return ok(None)


@get("/api/user/topup/refused", guards=[admin_auth])
async def refused_notices(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Payment notices the gateway refused (bad signature, unknown order, wrong amount ...) or that
    reported an order unpaid, newest first, paged: ``{id, created_at, method, trade_no, reason, ip,
    status}`` (``status``: the HTTP status answered). Filters: ``method``, ``trade_no`` (part of it)."""
    page, size = paging(request)
    query = request.query_params
    where: Any = PaymentRefusal.id > 0
    trade = (query.get("trade_no") or "").strip()[:255]
    if trade:
        where &= _like("trade_no", trade)
    method = (query.get("method") or "").strip()
    if method:
        where &= PaymentRefusal.method == method
    rows = (
        await PaymentRefusal.select()
        .where(where)
        .order_by(PaymentRefusal.id, ascending=False)
        .limit(size)
        .offset((page - 1) * size)
    )
    return ok(page_of(rows, await PaymentRefusal.count().where(where), page, size))


# -- expiry ----------------------------------------------------------------------------------------


async def expire_orders(ctx: JobContext) -> None:
    """Close orders left pending longer than option ``TopUpExpireMinutes`` (0: never); keep only the
    newest refused notices."""
    minutes = host_of(ctx.state).options.get_int("TopUpExpireMinutes", 30)
    if minutes > 0:
        count = await topups.expire(int(time.time()) - minutes * 60)
        if count:
            log.info("expired %d unpaid top-up orders older than %d minutes", count, minutes)
    await topups.prune_refusals()


TOPUP_EXPIRY_JOB = BackgroundJob(name="topup-expiry", interval=EXPIRY_CHECK_SECONDS, run=expire_orders)

ROUTES = [pay, amount_quote, payment_notify, all_topups, complete_topup, refused_notices]
