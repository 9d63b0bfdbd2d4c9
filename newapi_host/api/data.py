"""Dashboard data: New API's ``/api/data/*`` routes over the hourly ``quota_data`` aggregates.

The ledger fills ``quota_data`` in the same transaction as the consume logs (see
:mod:`newapi_host.billing.ledger`), so these sums always match the logs. The charts read coarser
sums kept beside it in the same transaction (per model and hour, per user and hour, per user,
model and hour: ``QuotaByModel`` and friends), which stay small however many keys, groups and
channels the traffic spreads over; the ``/flow`` views need those columns and read ``quota_data``. Answers are lists of
New API's QuotaData objects (``id``, ``user_id``, ``username``, ``model_name``, ``created_at``,
``use_group``, ``token_id``, ``channel_id``, ``node_name``, ``token_used``, ``count``, ``quota``);
fields a query does not group by are zero values, as in New API. The ``/flow`` routes sum the
whole range per user/group/model/channel (admin) or per token/group/model (self).
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, get
from piccolo.query.functions.aggregate import Sum

from newapi_host.auth.guards import admin_auth, user_auth
from newapi_host.db.tables import ROLE_ROOT, Channel, QuotaByModel, QuotaByUser, QuotaByUserModel, QuotaData, Token

from .envelope import fail, ok

MAX_SELF_SPAN = 30 * 86400  # New API: a user may ask for at most one month at a time

ZERO = {
    "id": 0,
    "user_id": 0,
    "username": "",
    "model_name": "",
    "created_at": 0,
    "use_group": "",
    "token_id": 0,
    "channel_id": 0,
    "node_name": "",
    "token_used": 0,
    "count": 0,
    "quota": 0,
}


def _ts(request: Request[Any, Any, Any], name: str) -> int:
    try:
        return int(request.query_params.get(name, "0"))
    except ValueError:
        return 0


def _sums(table: Any = QuotaData) -> list[Any]:
    return [
        Sum(table.count, alias="count"),
        Sum(table.quota, alias="quota"),
        Sum(table.token_used, alias="token_used"),
    ]


async def _grouped(by: list[Any], where: list[Any], order: list[Any] | None = None) -> list[dict[str, Any]]:
    """``SUM`` of count/quota/token_used over ``where``, grouped by the ``by`` columns (of one table)."""
    table = by[0]._meta.table
    query = table.select(*by, *_sums(table)).group_by(*by)
    for cond in where:
        query = query.where(cond)
    if order:
        query = query.order_by(*order)
    rows = await query
    sums = ("count", "quota", "token_used")
    return [{**ZERO, **{k: int(v or 0) if k in sums else v for k, v in r.items()}} for r in rows]


def _range(start: int, end: int, table: Any = QuotaData) -> list[Any]:
    """Rows in [start, end]; a missing end means "until now" (New API's console always sends both)."""
    if end <= 0:
        end = int(time.time()) + 3600
    return [table.created_at >= start, table.created_at <= end]


@get("/api/data/", guards=[admin_auth])
async def all_quota_data(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Per model and hour; with ``username``, per that user's model and hour."""
    start, end = _ts(request, "start_timestamp"), _ts(request, "end_timestamp")
    username = request.query_params.get("username", "")
    if username:
        q = QuotaByUserModel
        by = [q.user_id, q.username, q.model_name, q.created_at]
        rows = await _grouped(by, [*_range(start, end, q), q.username == username], [q.created_at])
    else:
        q = QuotaByModel
        rows = await _grouped([q.model_name, q.created_at], _range(start, end, q), [q.created_at])
    return ok(rows)


@get("/api/data/users", guards=[admin_auth])
async def quota_data_by_user(request: Request[Any, Any, Any]) -> dict[str, Any]:
    start, end = _ts(request, "start_timestamp"), _ts(request, "end_timestamp")
    q = QuotaByUser
    return ok(await _grouped([q.username, q.created_at], _range(start, end, q), [q.created_at]))


@get("/api/data/self", guards=[user_auth])
async def self_quota_data(request: Request[Any, Any, Any]) -> dict[str, Any]:
    start, end = _ts(request, "start_timestamp"), _ts(request, "end_timestamp")
    if end - start > MAX_SELF_SPAN:
        return fail("the time range must not exceed one month")
    q = QuotaByUserModel
    by = [q.user_id, q.username, q.model_name, q.created_at]
    where = [*_range(start, end, q), q.user_id == request.state.caller.id]
    return ok(await _grouped(by, where, [q.created_at]))


# -- flow: totals over the range ----------------------------------------------------------------


def _flow_range(request: Request[Any, Any, Any]) -> tuple[int, int] | str:
    """New API's strict range for the flow views: both bounds positive, end not before start."""
    values = []
    for name in ("start_timestamp", "end_timestamp"):
        try:
            value = int(request.query_params.get(name, ""))
        except ValueError:
            value = 0
        if value <= 0:
            return f"invalid {name}"
        values.append(value)
    start, end = values
    if end < start:
        return "invalid time range"
    return start, end


FLOW_FIELDS = ("user_id", "username", "node_name", "token_id", "token_name", "use_group", "channel_id")
FLOW_FIELDS += ("channel_name", "model_name", "token_used", "count", "quota")
OMIT_EMPTY = {"user_id", "username", "node_name", "token_id", "token_name", "channel_id", "channel_name"}


def _flow_shape(row: dict[str, Any]) -> dict[str, Any]:
    """New API's FlowQuotaData: ids and names are left out when zero or empty."""
    return {k: row[k] for k in FLOW_FIELDS if k in row and (row[k] or k not in OMIT_EMPTY)}


async def _name_tokens(rows: list[dict[str, Any]]) -> None:
    ids = sorted({r["token_id"] for r in rows if r.get("token_id")})
    if ids:
        names = {t["id"]: t["name"] for t in await Token.select(Token.id, Token.name).where(Token.id.is_in(ids))}
        for r in rows:
            r["token_name"] = names.get(r.get("token_id"), "")  # a deleted token stays unnamed


async def _name_channels(rows: list[dict[str, Any]]) -> None:
    ids = sorted({r["channel_id"] for r in rows if r.get("channel_id")})
    if ids:
        found = await Channel.select(Channel.id, Channel.name).where(Channel.id.is_in(ids))
        names = {c["id"]: c["name"] for c in found}
        for r in rows:
            if r.get("channel_id"):
                r["channel_name"] = names.get(r["channel_id"]) or f"channel-{r['channel_id']}"


async def _flow(where: list[Any], by: list[Any]) -> list[dict[str, Any]]:
    rows = await _grouped(by, [*where, QuotaData.use_group != ""])
    rows.sort(key=lambda r: r["quota"], reverse=True)
    names = {c._meta.name for c in by} | {"token_used", "count", "quota"}
    rows = [{k: v for k, v in r.items() if k in names} for r in rows]
    if "token_id" in names:
        await _name_tokens(rows)
    if "channel_id" in names:
        await _name_channels(rows)
    return [_flow_shape(r) for r in rows]


@get("/api/data/flow", guards=[admin_auth])
async def all_flow_data(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Per user, group, model and channel; root also sees tokens and nodes."""
    span = _flow_range(request)
    if isinstance(span, str):
        return fail(span)
    q = QuotaData
    where = _range(*span)
    if username := request.query_params.get("username", ""):
        where.append(q.username == username)
    by = [q.user_id, q.username, q.use_group, q.model_name, q.channel_id]
    if request.state.caller.role >= ROLE_ROOT:
        by = [q.user_id, q.username, q.node_name, q.token_id, q.use_group, q.model_name, q.channel_id]
    return ok(await _flow(where, by))


@get("/api/data/flow/self", guards=[user_auth])
async def self_flow_data(request: Request[Any, Any, Any]) -> dict[str, Any]:
    span = _flow_range(request)
    if isinstance(span, str):
        return fail(span)
    if span[1] - span[0] > MAX_SELF_SPAN:
        return fail("the time range must not exceed one month")
    where = [*_range(*span), QuotaData.user_id == request.state.caller.id]
    return ok(await _flow(where, [QuotaData.token_id, QuotaData.use_group, QuotaData.model_name]))


ROUTES = [all_quota_data, quota_data_by_user, self_quota_data, all_flow_data, self_flow_data]
