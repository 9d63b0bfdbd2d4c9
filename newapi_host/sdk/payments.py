"""What a payment plugin's own routes may ask of the host's top-up orders.

The host owns the order table and the one place where a paid order becomes quota
(:mod:`newapi_host.billing.topups`): a conditional UPDATE away from an unpaid status, with the
credit and its log row in the same transaction, so a payment is credited exactly once however
many notices arrive, on however many workers. A plugin never writes ``top_ups`` or a wallet
itself; it opens orders, hands the provider's callbacks to :func:`payment_notice`, and may look
orders up or close them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from litestar import Request, Response

from newapi_host.auth.guards import user_auth
from newapi_host.billing import topups
from newapi_host.billing.topups import Order, Quote
from newapi_host.billing.topups import Refused as PaymentRefused
from newapi_host.db.tables import User

from .services import _host

__all__ = [
    "Order",
    "PaymentRefused",
    "Quote",
    "close_order",
    "find_order",
    "open_order",
    "options",
    "payment_notice",
    "quote_topup",
    "server_address",
    "user_auth",
]


def options(source: Any) -> Any:
    """The gateway's options (New API's keys such as ``Price`` or ``PayAddress``), read-only.

    ``get(key, default)``, ``get_int``, ``get_float``, ``get_bool`` and ``get_json`` read one value.
    """
    return _host(source).options


def server_address(request: Request[Any, Any, Any], option: str = "ServerAddress") -> str:
    """Where users and providers reach this gateway: ``option`` (``ServerAddress``, or
    ``CustomCallbackAddress`` for provider callbacks), else ``ServerAddress``, else the request's base URL."""
    opts = _host(request).options
    return (opts.get(option) or opts.get("ServerAddress") or str(request.base_url)).rstrip("/")


def quote_topup(
    request: Request[Any, Any, Any], amount: Any, *, price: Any = None, minimum: int | None = None
) -> Quote:
    """The price of a top-up of ``amount`` for the signed-in user, exactly as ``POST /api/user/pay``
    prices it (``MinTopUp``, ``TopupGroupRatio``, ``amount_discount``, TOKENS display mode), with
    ``price`` per unit instead of option ``Price`` and ``minimum`` instead of ``MinTopUp`` when given.
    Raises :class:`PaymentRefused` with a message for the user."""
    return topups.quote(_host(request).options, request.state.caller.group, amount, price=price, minimum=minimum)


async def open_order(
    request: Request[Any, Any, Any],
    method_id: str,
    *,
    amount: int,
    money: Decimal | float,
    quota: int = 0,
    pay_type: str = "",
    trade_no: str = "",
    notify_path: str = "",
    return_path: str = "/console/wallet",
) -> tuple[str, str]:
    """Open a pending order for the signed-in user (route guarded by :data:`user_auth`) and ask
    the enabled method ``method_id`` for its payment page; ``(trade_no, url)``.

    ``amount`` units are credited as ``amount x QuotaPerUnit``, or ``quota`` when set (a product
    with a fixed quota). The order's ``notify_url`` is the host's ``/api/payment/{method}/notify``
    unless ``notify_path`` names the plugin's own route. Raises :class:`PaymentRefused`.
    """
    host = _host(request)
    method = next((m for m in host.registry.payment_methods() if m.id == method_id), None)
    if method is None:
        raise PaymentRefused("payment method does not exist")
    caller = request.state.caller
    user = await User.select(User.id, User.username, User.email).where(User.id == caller.id).first()
    return await topups.open_order(
        host,
        method,
        user or {"id": caller.id},
        amount=amount,
        money=Decimal(str(money)),
        quota=quota,
        pay_type=pay_type,
        trade_no=trade_no,
        return_url=f"{server_address(request)}{return_path}",
        notify_url=server_address(request, "CustomCallbackAddress")
        + (notify_path or f"/api/payment/{method.id}/notify"),
    )


async def payment_notice(request: Request[Any, Any, Any], method_id: str) -> Response[bytes]:
    """Serve a provider's callback at the plugin's own path exactly as ``/api/payment/{method}/notify``:
    the method's ``verify_notice`` judges it, the host credits (once) or closes the order and answers."""
    host = _host(request)
    method = next((m for m in host.registry.payment_methods() if m.id == method_id), None)
    if method is None:
        return Response(b"fail", status_code=404, media_type="text/plain")
    query = dict(request.query_params.items())
    headers = {k.lower(): v for k, v in request.headers.items()}
    ip = request.client.host if request.client else ""
    status, body = await topups.settle_notice(host, method, query, await request.body(), headers, ip)
    return Response(body, status_code=status, media_type="text/plain")


async def find_order(source: Any, trade_no: str) -> Order | None:
    """The order with that trade number, or None."""
    _host(source)
    return await topups.find(trade_no)


async def close_order(source: Any, trade_no: str, status: str = "failed") -> bool:
    """Close a pending order as ``failed`` or ``expired`` (the user gave up, the provider let it lapse);
    False when it was no longer pending. A closed order is still credited if its payment is later confirmed."""
    _host(source)
    return await topups.close(trade_no, status)
