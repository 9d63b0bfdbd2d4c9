"""Redemption codes: admin management (``/api/redemption/*``) and redeeming (``POST /api/user/topup``);
the wallet's top-up options (``GET /api/user/topup/info``) and top-up history (``GET /api/user/topup/self``).

A code is worth ``quota`` once. Redeeming is a single conditional UPDATE (enabled -> used) in
the same transaction as the wallet credit, so of any number of concurrent attempts on one code,
on any number of workers, only the one whose UPDATE matched credits the wallet.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from typing import Annotated, Any, Literal

from litestar import Request, delete, get, post, put
from litestar.params import FromPath
from piccolo.query import WhereRaw
from pydantic import AfterValidator, BaseModel, Field

from newapi_host.auth.guards import admin_auth, user_auth
from newapi_host.billing import topups
from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import (
    LOG_TOPUP,
    REDEMPTION_DISABLED,
    REDEMPTION_ENABLED,
    REDEMPTION_USED,
    Log,
    Redemption,
    TopUp,
    User,
)
from newapi_host.host import host_of

from .common import announce, manage_log, page_of, paging, parse_body, wallets
from .envelope import fail, json_object, ok

MAX_QUOTA = 2**53
NOT_FOUND = "redemption code not found"


def redemption_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "key": row["key"],
        "status": row["status"],
        "name": row["name"],
        "quota": row["quota"],
        "created_time": row["created_time"],
        "redeemed_time": row["redeemed_time"],
        "used_user_id": row["used_user_id"],
        "expired_time": row["expired_time"],
        "DeletedAt": None,
    }


def _name(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("must not be blank")
    return value.strip() if value is not None else None


def _expiry_problem(expired_time: int) -> str | None:
    if expired_time != 0 and expired_time < time.time():
        return "expired_time must be 0 (never) or a time in the future"
    return None


class RedemptionIn(BaseModel):
    name: Annotated[str, AfterValidator(_name)] = Field(min_length=1, max_length=20)
    quota: int = Field(100, gt=0, le=MAX_QUOTA)
    expired_time: int = Field(0, ge=0, le=MAX_QUOTA)
    count: int = Field(1, ge=1, le=100)


class RedemptionUpdate(BaseModel):
    """Fields left out (or null) keep their value."""

    id: int = Field(ge=1, le=MAX_QUOTA)
    name: Annotated[str | None, AfterValidator(_name)] = Field(None, min_length=1, max_length=20)
    quota: int | None = Field(None, gt=0, le=MAX_QUOTA)
    expired_time: int | None = Field(None, ge=0, le=MAX_QUOTA)


class RedemptionStatus(BaseModel):
    id: int = Field(ge=1, le=MAX_QUOTA)
    status: Literal[1, 2]


_live = Redemption.deleted_at.is_null()


async def _one(redemption_id: int) -> dict[str, Any] | None:
    return await Redemption.select().where(_live & (Redemption.id == redemption_id)).first()


async def _page(request: Request[Any, Any, Any], where: Any) -> dict[str, Any]:
    page, size = paging(request)
    rows = (
        await Redemption.select()
        .where(where)
        .order_by(Redemption.id, ascending=False)
        .limit(size)
        .offset((page - 1) * size)
    )
    total = await Redemption.count().where(where)
    return ok(page_of([redemption_json(r) for r in rows], total, page, size))


@get("/api/redemption/", guards=[admin_auth])
async def list_redemptions(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return await _page(request, _live)


@get("/api/redemption/search", guards=[admin_auth])
async def search_redemptions(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """``keyword``: an id or a name prefix. ``status``: 1, 2, 3 or ``expired`` (as New API)."""
    where = _live
    keyword = (request.query_params.get("keyword") or "")[:255]
    if keyword:
        prefix = keyword.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"
        by_name = WhereRaw("\"name\" LIKE {} ESCAPE '!'", prefix)
        where &= (Redemption.id == int(keyword)) | by_name if keyword.isdigit() and len(keyword) < 16 else by_name
    status = request.query_params.get("status") or ""
    now = int(time.time())
    unexpired = (Redemption.expired_time == 0) | (Redemption.expired_time >= now)
    if status == "expired":
        where &= (Redemption.status == REDEMPTION_ENABLED) & (Redemption.expired_time != 0)
        where &= Redemption.expired_time < now
    elif status == str(REDEMPTION_ENABLED):
        where &= (Redemption.status == REDEMPTION_ENABLED) & unexpired
    elif status in (str(REDEMPTION_DISABLED), str(REDEMPTION_USED)):
        where &= Redemption.status == int(status)
    return await _page(request, where)


@get("/api/redemption/{redemption_id:int}", guards=[admin_auth])
async def get_redemption(redemption_id: FromPath[int]) -> dict[str, Any]:
    row = await _one(redemption_id)
    return ok(redemption_json(row)) if row else fail(NOT_FOUND)


@post("/api/redemption/", guards=[admin_auth], status_code=200)
async def add_redemptions(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Create ``count`` (1..100) codes alike; ``data`` is the list of their 32-character keys."""
    data = await parse_body(RedemptionIn, request)
    if isinstance(data, str):
        return fail(data)
    if problem := _expiry_problem(data.expired_time):
        return fail(problem)
    caller = request.state.caller
    now = int(time.time())
    keys = [uuid.uuid4().hex for _ in range(data.count)]
    async with write_transaction():
        await Redemption.insert(
            *[
                Redemption(
                    user_id=caller.id,
                    key=key,
                    status=REDEMPTION_ENABLED,
                    name=data.name,
                    quota=data.quota,
                    created_time=now,
                    expired_time=data.expired_time,
                )
                for key in keys
            ]
        )
    await manage_log(caller, caller.id, f"created {data.count} redemption code(s) {data.name!r} of {data.quota} quota")
    return ok(keys)


@put("/api/redemption/", guards=[admin_auth], status_code=200)
async def update_redemption(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Change name/quota/expired_time by ``id`` (omitted fields keep their value);
    with ``?status_only=true`` switch ``status`` between 1 (enabled) and 2 (disabled)."""
    status_only = (request.query_params.get("status_only") or "").lower() not in ("", "false", "0")
    data: RedemptionStatus | RedemptionUpdate | str
    if status_only:
        data = await parse_body(RedemptionStatus, request)
    else:
        data = await parse_body(RedemptionUpdate, request)
    if isinstance(data, str):
        return fail(data)
    row = await _one(data.id)
    if row is None:
        return fail(NOT_FOUND)
    where = _live & (Redemption.id == data.id)
    if isinstance(data, RedemptionStatus):
        values: dict[Any, Any] = {Redemption.status: data.status}
        where &= Redemption.status != REDEMPTION_USED  # a used code stays used, even if redeemed just now
    else:
        given = {name: getattr(data, name) for name in data.model_fields_set - {"id"}}
        given = {name: value for name, value in given.items() if value is not None}
        changed_expiry = given.get("expired_time", row["expired_time"]) != row["expired_time"]
        if changed_expiry and (problem := _expiry_problem(given["expired_time"])):
            return fail(problem)
        values = {getattr(Redemption, name): value for name, value in given.items()}
    if values and not await Redemption.update(values).where(where).returning(Redemption.id):
        return fail("this redemption code has been used; its status cannot change" if status_only else NOT_FOUND)
    row = await _one(data.id)
    return ok(redemption_json(row)) if row else fail(NOT_FOUND)


@delete("/api/redemption/invalid", guards=[admin_auth], status_code=200)
async def delete_invalid_redemptions() -> dict[str, Any]:
    """Delete used, disabled and expired codes; ``data`` is how many."""
    now = int(time.time())
    expired = (
        (Redemption.status == REDEMPTION_ENABLED) & (Redemption.expired_time != 0) & (Redemption.expired_time < now)
    )
    invalid = Redemption.status.is_in([REDEMPTION_USED, REDEMPTION_DISABLED]) | expired
    deleted = (
        await Redemption.update({Redemption.deleted_at: dt.datetime.now(dt.UTC)})
        .where(_live & invalid)
        .returning(Redemption.id)
    )
    return ok(len(deleted))


@delete("/api/redemption/{redemption_id:int}", guards=[admin_auth], status_code=200)
async def delete_redemption(redemption_id: FromPath[int]) -> dict[str, Any]:
    deleted = (
        await Redemption.update({Redemption.deleted_at: dt.datetime.now(dt.UTC)})
        .where(_live & (Redemption.id == redemption_id))
        .returning(Redemption.id)
    )
    return ok() if deleted else fail(NOT_FOUND)


async def _why_not(key: str) -> str:
    """The reason a code could not be redeemed (read after the atomic attempt failed)."""
    row = await Redemption.select(Redemption.status, Redemption.expired_time).where(_live & (Redemption.key == key))
    if not row:
        return "invalid redemption code"
    status = row[0]["status"]
    if status == REDEMPTION_USED:
        return "this redemption code has already been used"
    if status == REDEMPTION_DISABLED:
        return "this redemption code is disabled"
    return "this redemption code has expired"


@post("/api/user/topup", guards=[user_auth], status_code=200)
async def redeem(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """``{"key": "..."}``: redeem a code into the caller's wallet; ``data`` is the quota credited."""
    body = await json_object(request)
    raw = body.get("key") if body is not None else None
    if not isinstance(raw, str) or not raw.strip():
        return fail('please provide a redemption code: {"key": "..."}')
    key = raw.strip()
    if len(key) > 64:
        return fail("invalid redemption code")
    caller = request.state.caller
    now = int(time.time())
    async with wallets(request).change() as change:
        won = (
            await Redemption.update(
                {Redemption.status: REDEMPTION_USED, Redemption.used_user_id: caller.id, Redemption.redeemed_time: now}
            )
            .where(
                _live
                & (Redemption.key == key)
                & (Redemption.status == REDEMPTION_ENABLED)
                & ((Redemption.expired_time == 0) | (Redemption.expired_time >= now))
            )
            .returning(Redemption.id, Redemption.quota)
        )
        if won:
            code_id, quota = won[0]["id"], won[0]["quota"]
            await User.update({User.quota: User.quota + quota}).where(User.id == caller.id)
            change.wallet(caller.id, quota)
            per_unit = host_of(request.app.state).options.get_float("QuotaPerUnit", 500000.0) or 500000.0
            await Log.insert(
                Log(
                    user_id=caller.id,
                    created_at=now,
                    type=LOG_TOPUP,
                    content=f"Redeemed code #{code_id}: +{quota} quota (${quota / per_unit:.6f})",
                    username=caller.username,
                )
            )
    if not won:
        return fail(await _why_not(key))
    await announce(request, "users", ids=[caller.id])  # the relay's key cache holds the old balance
    return ok(quota)


# -- the wallet: what top-up offers, and the caller's top-up orders --------------------------------

DEFAULT_AMOUNT_OPTIONS = [10, 20, 50, 100, 200, 500]  # New API's payment_setting.amount_options


def _amount_options(options: Any) -> list[int]:
    """Preset amounts (``payment_setting.amount_options``): positive whole units, else New API's default."""
    value = options.get_json("payment_setting.amount_options", None)
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        picked = [v for v in value if 0 < v <= MAX_QUOTA]
        if picked:
            return picked
    return list(DEFAULT_AMOUNT_OPTIONS)


@get("/api/user/topup/info", guards=[user_auth])
async def topup_info(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """What the wallet's top-up form offers, as New API's ``GetTopUpInfo``.

    ``pay_methods`` are the payment methods of enabled plugins (``type`` repeats ``id`` for New
    API's clients); ``enable_online_topup`` is false when there is none. ``min_topup`` (option
    ``MinTopUp``, default 1), ``amount_options`` and ``discount`` are in top-up units;
    ``creem_products`` is the JSON text of ``CreemProducts`` (``"[]"`` while Creem is not offered).
    """
    host = host_of(request.app.state)
    methods = [
        {"currency": m.currency, **kind, "id": kind["type"]}  # a pay type may name its own currency
        for m in host.registry.payment_methods()
        for kind in topups.pay_types(host, m)
    ]
    listed = {m["type"] for m in methods}
    rebate = topups.rebate_terms(host.options)
    products = host.options.get_json("CreemProducts", None)
    return ok(
        {
            "enable_online_topup": bool(listed - {"stripe", "creem"}),
            "enable_stripe_topup": "stripe" in listed,
            "enable_creem_topup": "creem" in listed,
            "pay_methods": methods,
            # New API sends the option's JSON text (its frontend runs JSON.parse on it)
            "creem_products": json.dumps(products if isinstance(products, list) and "creem" in listed else []),
            "min_topup": max(1, host.options.get_int("MinTopUp", 1)),
            "stripe_min_topup": max(1, host.options.get_int("StripeMinTopUp", 1)),
            "invite_rebate": {"times": rebate[0], "percent": float(rebate[1])},
            "amount_options": _amount_options(host.options),
            "discount": topups.amount_discount(host.options),
        }
    )


def topup_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "amount": row["amount"],
        "money": row["money"],
        "trade_no": row["trade_no"],
        "payment_method": row["payment_method"],
        "payment_provider": row["payment_provider"],
        "create_time": row["create_time"],
        "complete_time": row["complete_time"],
        "status": row["status"],
        "quota": row["quota"],  # a product's fixed quota (Creem); 0: amount x QuotaPerUnit
    }


@get("/api/user/topup/self", guards=[user_auth])
async def self_topups(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The caller's top-up orders, newest first, paged; ``keyword`` matches part of the trade number."""
    page, size = paging(request)
    where = TopUp.user_id == request.state.caller.id
    keyword = (request.query_params.get("keyword") or "").strip()[:255]
    if keyword:
        pattern = "%" + keyword.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"
        where &= WhereRaw("\"trade_no\" LIKE {} ESCAPE '!'", pattern)
    rows = await TopUp.select().where(where).order_by(TopUp.id, ascending=False).limit(size).offset((page - 1) * size)
    total = await TopUp.count().where(where)
    return ok(page_of([topup_json(r) for r in rows], total, page, size))


ROUTES = [
    list_redemptions,
    search_redemptions,
    get_redemption,
    add_redemptions,
    update_redemption,
    delete_invalid_redemptions,
    delete_redemption,
    redeem,
    topup_info,
    self_topups,
]
