"""Dashboard data: New API's ``/api/data/*`` routes over the hourly ``quota_data`` aggregates.

The ledger fills ``quota_data`` in the same transaction as the consume logs (see
:mod:`newapi_host.billing.ledger`), so these sums always match the logs. The charts read coarser
sums kept beside it in the same transaction (per model and hour, per user and hour, per user,
model and hour: ``QuotaByModel`` and friends), which stay small however many keys, groups and
channels the traffic spreads over; the ``/flow`` views read daily sums with ``quota_data``'s columns
(``quota_data_flow_days``) and ``quota_data``'s hours only for partial days (:func:`flow_parts`). Answers are lists of
New API's QuotaData objects (``id``, ``user_id``, ``username``, ``model_name``, ``created_at``,
``use_group``, ``token_id``, ``channel_id``, ``node_name``, ``token_used``, ``count``, ``quota``);
fields a query does not group by are zero values, as in New API. The ``/flow`` routes sum the
whole range per user/group/model/channel (admin) or per token/group/model (self).
"""

from __future__ import annotations

import time
from operator import itemgetter
from typing import Any

from litestar import Request, get
from piccolo.query.functions.aggregate import Sum

from newapi_host.auth.guards import admin_auth, user_auth
from newapi_host.billing.ledger import FLOW_DAY
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
    """A time bound; past int64 it is cut to int64's bounds, as Go's ``ParseInt`` returns them."""
    try:
        value = int(request.query_params.get(name, "0"))
    except ValueError:
        return 0
    return max(-(2**63), min(value, 2**63 - 1))


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


INT64_MAX = 2**63 - 1
LAST_STAMP = 2**62  # no bucket is stamped later; larger bounds are cut to it (SQL integers are int64)


def _flow_range(request: Request[Any, Any, Any]) -> tuple[int, int] | str:
    """New API's strict range for the flow views: both bounds positive, end not before start."""
    values = []
    for name in ("start_timestamp", "end_timestamp"):
        try:
            value = int(request.query_params.get(name, ""))
        except ValueError:
            value = 0
        if value <= 0 or value > INT64_MAX:  # New API parses them as int64
            return f"invalid {name}"
        values.append(value)
    start, end = values
    if end < start:
        return "invalid time range"
    return start, end


FLOW_FIELDS = ("user_id", "username", "node_name", "token_id", "token_name", "use_group", "channel_id")
FLOW_FIELDS += ("channel_name", "model_name", "token_used", "count", "quota")
OMIT_EMPTY = {"user_id", "username", "node_name", "token_id", "token_name", "channel_id", "channel_name"}


async def _name_tokens(rows: list[dict[str, Any]]) -> None:
    ids = sorted({r["token_id"] for r in rows if r.get("token_id")})
    if ids:
        names = {t["id"]: t["name"] for t in await Token.select(Token.id, Token.name).where(Token.id.is_in(ids))}
        for r in rows:
            r["token_name"] = names.get(r.get("token_id"), "")  # a deleted token stays unnamed
    else:
        for r in rows:
            r["token_name"] = ""


async def _name_channels(rows: list[dict[str, Any]]) -> None:
    ids = sorted({r["channel_id"] for r in rows if r.get("channel_id")})
    if ids:
        found = await Channel.select(Channel.id, Channel.name).where(Channel.id.is_in(ids))
        names = {c["id"]: c["name"] for c in found}
    else:
        names = {}
    for r in rows:
        channel = r.get("channel_id")
        r["channel_name"] = (names.get(channel) or f"channel-{channel}") if channel else ""


HOUR, DAY = 3600, FLOW_DAY
FLOW_DAYS = "quota_data_flow_days"  # quota_data's sums per day (see its migration)


def flow_parts(start: int, end: int, now: int) -> list[tuple[str, int, int, int]]:
    """The reads whose sum is quota_data's hourly buckets stamped in ``[start, end]``.

    Each is ``(table, first, last, sign)``: the rows of ``table`` stamped in ``[first, last]``,
    added (1) or taken away (-1). Whole days come from the daily sums; a partial day from its
    hours in range, or from the day's sum minus its hours out of range when those are fewer, so
    no read covers more than 12 hours of ``quota_data``. A range ending at or after ``now``
    reaches the end of its day: no bucket is stamped later than the hour under way.
    """
    first = start + (-start) % HOUR  # the first bucket in range
    last = end - end % HOUR
    if end >= now:
        last += DAY - HOUR - last % DAY  # nothing is stamped after now: take the whole day
    if first > last:
        return []

    def part_of_day(day: int, lo: int, hi: int) -> list[tuple[str, int, int, int]]:
        day_end = day + DAY - HOUR
        inside = (hi - lo) // HOUR + 1
        if inside == DAY // HOUR:
            return [(FLOW_DAYS, day, day, 1)]
        if inside <= DAY // HOUR - inside:
            return [("quota_data", lo, hi, 1)]
        parts = [(FLOW_DAYS, day, day, 1)]
        if lo > day:
            parts.append(("quota_data", day, lo - HOUR, -1))
        if hi < day_end:
            parts.append(("quota_data", hi + HOUR, day_end, -1))
        return parts

    first_day, last_day = first - first % DAY, last - last % DAY
    if first_day == last_day:
        parts = part_of_day(first_day, first, last)
    else:
        parts = part_of_day(first_day, first, first_day + DAY - HOUR)
        if last_day - first_day > DAY:
            parts.append((FLOW_DAYS, first_day + DAY, last_day - DAY, 1))
        parts += part_of_day(last_day, last_day, last)
    days: list[tuple[str, int, int, int]] = []
    for part in sorted(p for p in parts if p[0] == FLOW_DAYS):  # neighbouring whole days: one read
        if days and part[1] == days[-1][2] + DAY:
            days[-1] = (FLOW_DAYS, days[-1][1], part[2], 1)
        else:
            days.append(part)
    return days + [p for p in parts if p[0] != FLOW_DAYS]


async def _flow(
    start: int, end: int, by: tuple[str, ...], user_id: int = 0, username: str = ""
) -> list[dict[str, Any]]:
    """Totals over ``[start, end]`` grouped by ``by`` (and the user's name when by user), largest first."""
    cols = ", ".join(f'"{c}"' for c in by)
    named = "user_id" in by
    selects, args = [], []
    for table, first, last, sign in flow_parts(min(start, LAST_STAMP), min(end, LAST_STAMP), int(time.time())):
        where = '"created_at" >= {} AND "created_at" <= {} AND "use_group" != \'\''
        args += [first, last]
        if user_id:
            where += ' AND "user_id" = {}'
            args.append(user_id)
        if username:
            where += ' AND "username" = {}'
            args.append(username)
        name = '"username"' if sign > 0 else "''"  # a subtracted row never names the user
        minus = "" if sign > 0 else "-"
        selects.append(
            f'SELECT {cols}, {name} AS "username", {minus}"count" AS "count", {minus}"quota" AS "quota", '
            f'{minus}"token_used" AS "token_used" FROM "{table}" WHERE {where}'
        )
    if not selects:
        return []
    sums = ", ".join(f'CAST(SUM("{c}") AS BIGINT) AS "{c}"' for c in ("token_used", "count", "quota"))
    sql = (
        f"SELECT {cols}{', MAX(username) AS username' if named else ''}, {sums} "
        f"FROM ({' UNION ALL '.join(selects)}) AS parts "
        f'GROUP BY {cols} HAVING SUM("count") != 0'  # a key seen only in the hours taken away
    )
    rows = await QuotaData.raw(sql, *args)
    rows.sort(key=itemgetter("quota"), reverse=True)
    if "token_id" in by:
        await _name_tokens(rows)
    if "channel_id" in by:
        await _name_channels(rows)
    # New API's FlowQuotaData: ids and names are left out when zero or empty
    present = {*by, "token_used", "count", "quota"} | ({"username"} if named else set())
    present |= {"token_name"} if "token_id" in by else set()
    present |= {"channel_name"} if "channel_id" in by else set()
    fields = [k for k in FLOW_FIELDS if k in present]
    return [{k: r[k] for k in fields if k not in OMIT_EMPTY or r[k]} for r in rows]


@get("/api/data/flow", guards=[admin_auth])
async def all_flow_data(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Per user, group, model and channel; root also sees tokens and nodes."""
    span = _flow_range(request)
    if isinstance(span, str):
        return fail(span)
    by: tuple[str, ...] = ("user_id", "use_group", "model_name", "channel_id")
    if request.state.caller.role >= ROLE_ROOT:
        by = ("user_id", "node_name", "token_id", "use_group", "model_name", "channel_id")
    return ok(await _flow(*span, by, username=request.query_params.get("username", "")))


@get("/api/data/flow/self", guards=[user_auth])
async def self_flow_data(request: Request[Any, Any, Any]) -> dict[str, Any]:
    span = _flow_range(request)
    if isinstance(span, str):
        return fail(span)
    if span[1] - span[0] > MAX_SELF_SPAN:
        return fail("the time range must not exceed one month")
    return ok(await _flow(*span, ("token_id", "use_group", "model_name"), user_id=request.state.caller.id))


ROUTES = [all_quota_data, quota_data_by_user, self_quota_data, all_flow_data, self_flow_data]
