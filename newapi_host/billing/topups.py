"""Top-up orders (``top_ups``): the one place where a paid order becomes quota.

An order is opened ``pending`` and leaves that state exactly once, by a conditional UPDATE:
to ``success`` when the payment is confirmed (a verified provider notice, or an admin completing
it by hand), to ``failed`` when the provider reports the attempt declined, to ``expired`` when no
payment arrived in time. ``success`` is final; a genuine payment notice may still complete a
``failed`` or ``expired`` order (the user did pay, late or on a second attempt), so no money is
ever lost. The credit is written in the same transaction as the status change, through the
wallets' change path, so of any number of duplicate or concurrent notices on any number of
workers and nodes, only the one whose UPDATE matched adds the quota and writes the log.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import string
import time
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import LOG_SYSTEM, LOG_TOPUP, Log, PaymentRefusal, TopUp, User
from newapi_host.plugins.contracts import PaymentCallback, PaymentMethod, PaymentNotice, PaymentOrder
from newapi_host.sync import bump

log = logging.getLogger(__name__)

UNPAID = ("pending", "failed", "expired")  # statuses a confirmed payment may still complete
CLOSED = ("failed", "expired")  # what a pending order may be closed as without a payment
DEFAULT_PER_UNIT = Decimal(500000)
DEFAULT_PRICE = "7.3"  # New API's Price: CNY per USD
MAX_TOPUP_UNITS = 10_000_000  # one order buys at most this many units (USD)
MAX_QUOTA = 2**53
ORDER_TIMEOUT = 30.0  # seconds a provider gets to create an order
CENT = Decimal("0.01")
_ALNUM = string.ascii_letters + string.digits


class Refused(Exception):
    """An order that cannot be opened; the message is for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class Order:
    """One top-up order as plugins see it (New API's ``top_ups`` row)."""

    id: int
    user_id: int
    amount: int  # units bought (New API's ``amount``)
    money: float  # the price, in the method's currency
    trade_no: str
    payment_method: str  # what the user picked (``alipay``, ``stripe`` ...)
    payment_provider: str  # the plugin that opened it
    create_time: int
    complete_time: int
    status: str
    quota: int  # quota to credit when set (a product's fixed quota); 0: amount x QuotaPerUnit


def per_unit(options: Any) -> Decimal:
    try:
        value = Decimal(options.get("QuotaPerUnit", "500000"))
    except ArithmeticError:
        return DEFAULT_PER_UNIT
    return value if value.is_finite() and value > 0 else DEFAULT_PER_UNIT


def decimal_of(text: Any, default: str) -> Decimal:
    try:
        value = Decimal(str(text))
    except (InvalidOperation, ValueError):
        return Decimal(default)
    return value if value.is_finite() else Decimal(default)


def in_tokens(options: Any) -> bool:
    """New API's TOKENS display mode: amounts the user types are quota, not units."""
    return options.get("general_setting.quota_display_type", "USD").upper() == "TOKENS"


def topup_group_ratio(options: Any, group: str) -> Decimal:
    """``TopupGroupRatio[group]``; 1 when missing or 0, as New API."""
    table = options.get_json("TopupGroupRatio", None)
    value = table.get(group) if isinstance(table, dict) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return Decimal(str(value))
    return Decimal(1)


def amount_discount(options: Any) -> dict[str, float]:
    """``payment_setting.amount_discount``: amount -> price factor (0.9 is 10% off); bad entries dropped."""
    value = options.get_json("payment_setting.amount_discount", None)
    if not isinstance(value, dict):
        return {}
    return {
        str(k): float(v)
        for k, v in value.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1 and str(k).isdigit()
    }


@dataclass(frozen=True, slots=True)
class Quote:
    units: int  # whole units bought
    money: Decimal  # the price, rounded half up to the cent


def quote(options: Any, group: str, amount: Any, *, price: Any = None, minimum: int | None = None) -> Quote:
    """New API's price of a top-up of ``amount``: ``units x price x TopupGroupRatio[group] x
    amount_discount[amount]``, rounded to the cent.

    ``amount`` is in units, or in quota in the TOKENS display mode; ``price`` (money per unit)
    defaults to option ``Price``, ``minimum`` (units) to ``MinTopUp``. Raises :class:`Refused`.
    """
    if isinstance(amount, float) and amount.is_integer():
        amount = int(amount)
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise Refused("amount must be a whole number")
    unit = per_unit(options)
    tokens = in_tokens(options)
    least = max(1, options.get_int("MinTopUp", 1) if minimum is None else minimum)
    if tokens:
        least = int(least * unit)
    if amount < least:
        raise Refused(f"the top-up amount must be at least {least}")
    units = Decimal(amount) / unit if tokens else Decimal(amount)
    if tokens and units != units.to_integral_value():
        raise Refused(f"the amount must be a whole number of units ({unit.normalize():f} quota each)")
    units = units.to_integral_value()
    if units > MAX_TOPUP_UNITS or units * unit > MAX_QUOTA:
        raise Refused(f"the top-up amount is too large (at most {MAX_TOPUP_UNITS} units per order)")
    discount = Decimal(str(amount_discount(options).get(str(amount), 1.0)))
    each = decimal_of(options.get("Price", DEFAULT_PRICE) if price is None else price, DEFAULT_PRICE)
    money = (units * each * topup_group_ratio(options, group) * discount).quantize(CENT, ROUND_HALF_UP)
    if money < CENT:
        raise Refused("the payment amount is too low")
    return Quote(int(units), money)


def new_trade_no(user_id: int) -> str:
    """New API's trade number: ``USR{user}NO{6 random}{unix time}``."""
    return f"USR{user_id}NO{''.join(secrets.choice(_ALNUM) for _ in range(6))}{int(time.time())}"


def _is_web_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) > 8


def resolve(host: Any, payment_method: Any) -> tuple[PaymentMethod, str] | None:
    """The enabled method that serves ``payment_method`` (its id, or one of its pay types), and the type."""
    if not isinstance(payment_method, str) or not payment_method:
        return None
    methods = host.registry.payment_methods()
    for method in methods:
        if method.id == payment_method:
            return method, method.id
    for method in methods:
        if method.pay_types is not None and payment_method in {t.get("type") for t in pay_types(host, method)}:
            return method, payment_method
    return None


def pay_types(host: Any, method: PaymentMethod) -> list[dict[str, str]]:
    """The method's sub-types (``[{name, type, ...}]``), or the method itself when it has none."""
    if method.pay_types is None:
        return [{"name": method.name, "type": method.id}]
    owner = host.registry.owner_of("payment method", method.id)
    try:
        return list(method.pay_types(host.states.settings(owner) if owner else None, options_view(host.options)))
    except Exception:
        log.warning("payment method %r could not list its pay types", method.id, exc_info=True)
        return []


def method_pricing(host: Any, method: PaymentMethod) -> tuple[Any, int | None]:
    """``(money per unit, least units)`` for :func:`quote`: the method's own ``pricing`` (Stripe's
    ``StripeUnitPrice``, ``StripeMinTopUp``), or ``(None, None)``: options ``Price`` and ``MinTopUp``.
    Raises :class:`Refused` when the method's pricing fails (its fault, not the user's)."""
    if method.pricing is None:
        return None, None
    owner = host.registry.owner_of("payment method", method.id)
    try:
        price, least = method.pricing(host.states.settings(owner) if owner else None, options_view(host.options))
        each = Decimal(str(price))
        if not each.is_finite() or each <= 0:
            raise ValueError(f"pricing gave {price!r} per unit")
        return each, int(least)
    except Exception:
        log.warning("payment method %r could not price a top-up", method.id, exc_info=True)
        raise Refused(f"{method.name} is not available right now; please try again later") from None


def options_view(options: Any) -> Any:
    return options.view()


async def open_order(
    host: Any,
    method: PaymentMethod,
    user: dict[str, Any],
    *,
    amount: int,
    money: Decimal,
    return_url: str,
    notify_url: str,
    pay_type: str = "",
    quota: int = 0,
    trade_no: str = "",
) -> tuple[str, str]:
    """Insert a pending order and ask the method for its payment page; ``(trade_no, url)``.

    ``user`` holds the buyer's ``id``, ``username`` and ``email``. When the provider cannot
    create the order it is marked ``failed`` and :class:`Refused` raised.
    """
    trade_no = trade_no or new_trade_no(user["id"])
    owner = host.registry.owner_of("payment method", method.id) or ""
    async with write_transaction():
        await TopUp.insert(
            TopUp(
                user_id=user["id"],
                amount=amount,
                money=float(money),
                trade_no=trade_no,
                payment_method=pay_type or method.id,
                payment_provider=owner,
                create_time=int(time.time()),
                status="pending",
                quota=quota,
            )
        )
    order = PaymentOrder(
        trade_no=trade_no,
        user_id=user["id"],
        amount=amount,
        money=float(money),
        return_url=return_url,
        notify_url=notify_url,
        settings=host.states.settings(owner) if owner else None,
        pay_type=pay_type or method.id,
        email=user.get("email") or "",
        username=user.get("username") or "",
        options=options_view(host.options),
    )
    try:
        url = await asyncio.wait_for(method.create_order(order), ORDER_TIMEOUT)
        if not _is_web_url(url):
            raise ValueError(f"create_order returned {url!r}, not an http(s) URL")
    except Exception:
        log.warning("payment method %r could not create order %s", method.id, trade_no, exc_info=True)
        await close(trade_no, "failed")
        raise Refused(f"{method.name} could not create the payment order; please try again later") from None
    return trade_no, url


def _order(row: dict[str, Any]) -> Order:
    return Order(**{name: row[name] for name in Order.__slots__})


async def find(trade_no: str) -> Order | None:
    row = await TopUp.select().where(TopUp.trade_no == trade_no).first()
    return _order(row) if row else None


def same_money(a: float, b: float) -> bool:
    """Equal to the cent (prices are stored rounded to cents); never for NaN or infinity."""
    return math.isfinite(a) and math.isfinite(b) and round(a * 100) == round(b * 100)


async def credit(wallets: Any, options: Any, trade_no: str, provider: str | None, how: str) -> Order | None:
    """Complete an unpaid order and credit its user, exactly once; the order, or None when nothing moved.

    ``provider`` (the plugin that verified the payment) must be the one that opened the order;
    None (an admin) completes any. ``how`` ends the top-up log line ("paid with Epay").
    """
    now = int(time.time())
    where = (TopUp.trade_no == trade_no) & TopUp.status.is_in(list(UNPAID))
    if provider is not None:
        where &= TopUp.payment_provider == provider
    async with wallets.change() as change:
        won = (
            await TopUp.update({TopUp.status: "success", TopUp.complete_time: now})
            .where(where)
            .returning(*TopUp.all_columns())
        )
        if not won:
            return None
        order = _order(won[0])
        unit = per_unit(options)
        quota = order.quota if order.quota > 0 else int(Decimal(order.amount) * unit)
        await User.update({User.quota: User.quota + quota}).where(User.id == order.user_id)
        change.wallet(order.user_id, quota)
        user = await User.select(User.username).where(User.id == order.user_id).first()
        await Log.insert(
            Log(
                user_id=order.user_id,
                created_at=now,
                type=LOG_TOPUP,
                content=(
                    f"Online top-up succeeded: credited ${Decimal(quota) / unit:.6f} ({quota} quota), "
                    f"{how} (order {trade_no})"
                ),
                username=user["username"] if user else "",
            )
        )
        await invite_rebate(options, order, quota, now)
        await bump("users", [order.user_id])  # the relay's key cache holds the old balance
    return order


def rebate_terms(options: Any) -> tuple[int, Decimal]:
    """New API's ``invite_rebate_setting``: the inviter earns ``percent``% of each of the invitee's
    first ``times`` paid top-ups (times clamped to 0..100, percent to 0..100); off when either is 0."""
    times = min(max(options.get_int("invite_rebate_setting.times", 0), 0), 100)
    percent = min(max(decimal_of(options.get("invite_rebate_setting.percent", "0"), "0"), Decimal(0)), Decimal(100))
    return times, percent


async def invite_rebate(options: Any, order: Order, quota: int, now: int) -> None:
    """Inside the credit's transaction: the inviter's share of this paid top-up, into their
    invitation balance (``aff_quota``, moved to the wallet with ``aff_transfer``), exactly once
    because the credit itself happens once."""
    times, percent = rebate_terms(options)
    if times <= 0 or percent <= 0:
        return
    user = await User.select(User.inviter_id).where(User.id == order.user_id).first()
    inviter = user["inviter_id"] if user else 0
    if not inviter or inviter == order.user_id:
        return
    paid = await TopUp.count().where((TopUp.user_id == order.user_id) & (TopUp.status == "success"))
    bonus = int(Decimal(quota) * percent / 100)
    if paid > times or bonus <= 0:
        return
    await User.update({User.aff_quota: User.aff_quota + bonus, User.aff_history: User.aff_history + bonus}).where(
        User.id == inviter
    )
    await Log.insert(
        Log(
            user_id=inviter,
            created_at=now,
            type=LOG_SYSTEM,
            content=f"Invite rebate: {bonus} quota ({percent:f}% of top-up {order.trade_no} of user {order.user_id})",
            username="",
        )
    )


async def close(trade_no: str, status: str, provider: str | None = None) -> bool:
    """Move a pending order to ``failed`` or ``expired``; False when it was not pending (or not ours)."""
    if status not in CLOSED:
        raise ValueError(f"an order can be closed as {' or '.join(CLOSED)}, not {status!r}")
    where = (TopUp.trade_no == trade_no) & (TopUp.status == "pending")
    if provider is not None:
        where &= TopUp.payment_provider == provider
    async with write_transaction():
        return bool(await TopUp.update({TopUp.status: status}).where(where).returning(TopUp.id))


async def expire(older_than: int) -> int:
    """Close every order still pending that was opened before ``older_than`` (unix time); how many."""
    async with write_transaction():
        done = (
            await TopUp.update({TopUp.status: "expired"})
            .where((TopUp.status == "pending") & (TopUp.create_time < older_than))
            .returning(TopUp.id)
        )
    return len(done)


REFUSALS_KEPT = 10_000  # refused notices kept for the admin; older ones are pruned


async def record_refusal(method: str, trade_no: str, reason: str, ip: str, status: int) -> None:
    """Keep a refused (or unpaid) notice for the admin's order desk; never fails the answer."""
    try:
        async with write_transaction():
            await PaymentRefusal.insert(
                PaymentRefusal(
                    created_at=int(time.time()),
                    method=method[:50],
                    trade_no=trade_no[:255],
                    reason=reason[:255],
                    ip=ip[:64],
                    status=status,
                )
            )
    except Exception:
        log.warning("could not record a refused notice of %r", method, exc_info=True)


async def prune_refusals(keep: int = REFUSALS_KEPT) -> int:
    """Drop all but the newest ``keep`` refusals (a flood of forged notices must not fill the disk)."""
    newest = (
        await PaymentRefusal.select(PaymentRefusal.id).order_by(PaymentRefusal.id, ascending=False).offset(keep).first()
    )
    if newest is None:
        return 0
    async with write_transaction():
        gone = await PaymentRefusal.delete().where(PaymentRefusal.id <= newest["id"]).returning(PaymentRefusal.id)
    return len(gone)


async def settle_notice(
    host: Any, method: PaymentMethod, query: dict[str, str], body: bytes, headers: dict[str, str], ip: str = ""
) -> tuple[int, bytes]:
    """Verify a provider's callback with ``method`` and act on it; the ``(status, body)`` to answer.

    A genuine paid notice completes the order once (a repeat is answered the same, crediting
    nothing); a genuine unpaid one closes a pending order. Anything else (bad signature, unknown
    order, an order of another method, a paid amount that is not the price) credits nothing, is
    answered ``fail`` with 400 (404 for an unknown order), which every provider reads as "not
    accepted", and is recorded for the admin (:func:`record_refusal`, shown on the order desk) and
    in the server log; so is a genuine notice about an order that reports it unpaid.
    """
    owner = host.registry.owner_of("payment method", method.id)
    settings = host.states.settings(owner) if owner else None
    callback = PaymentCallback(query, body, headers, settings, options_view(host.options))

    async def refuse(status: int, trade_no: str, reason: str) -> tuple[int, bytes]:
        log.warning("payment method %r refused a notice for %r from %s: %s", method.id, trade_no, ip, reason)
        await record_refusal(method.id, trade_no, reason, ip, status)
        return status, b"fail"

    try:
        notice = await method.verify_notice(callback)
    except Exception:
        log.warning("payment method %r failed to verify a notice", method.id, exc_info=True)
        return await refuse(400, "", "the notice could not be verified (the method failed)")
    if not isinstance(notice, PaymentNotice):
        return await refuse(400, "", "not genuine (bad signature or fields)")
    if notice.refused:
        return await refuse(400, notice.trade_no, notice.reason or "not genuine")
    if notice.ignore:
        if notice.trade_no and notice.reason:
            await record_refusal(method.id, notice.trade_no, notice.reason, ip, 200)
        return 200, notice.reply
    order = await find(notice.trade_no)
    if order is None:
        return await refuse(404, notice.trade_no, "unknown order")
    if order.payment_provider != (owner or ""):
        return await refuse(404, notice.trade_no, f"the order belongs to {order.payment_provider or 'another method'}")
    if not notice.paid:
        if await close(notice.trade_no, notice.status, owner):
            log.info("payment method %r closed order %s as %s", method.id, notice.trade_no, notice.status)
        return 200, notice.reply
    if notice.money is not None and not same_money(notice.money, order.money):
        return await refuse(
            400, notice.trade_no, f"wrong amount: paid {notice.money:.2f}, the order's price is {order.money:.2f}"
        )
    how = f"paid {order.money:.2f} {(notice.currency or method.currency).upper()} with {method.name}"
    if await credit(host.wallets, host.options, notice.trade_no, owner, how) is not None:
        await host.watcher.changed("users")
    return 200, notice.reply
