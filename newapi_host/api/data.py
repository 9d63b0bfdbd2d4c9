"""Dashboard data: New API's ``/api/data/*`` routes over the hourly ``quota_data`` aggregates.

The ledger fills ``quota_data`` in the same transaction as the consume logs (see
:mod:`newapi_host.billing.ledger`), so these sums always match the logs. The charts read coarser
sums kept beside it in the same transaction (per model and hour, per user and hour, per user,
model and hour: ``QuotaByModel`` and friends), which stay small however many keys, groups and
channels the traffic spreads over. Answers are lists of New API's QuotaData objects (``id``,
``user_id``, ``username``, ``model_name``, ``created_at``, ``use_group``, ``token_id``,
``channel_id``, ``node_name``, ``token_used``, ``count``, ``quota``); fields a query does not group
by are zero values, as in New API.

The ``/flow`` routes sum the whole range per user/group/model/channel (admin; root also per key
and node) or per key/group/model (self). They read daily sums per numbered key
(``quota_data_flow_sums``, see :func:`~newapi_host.billing.ledger.add_flow_sums`) for whole days
and ``quota_data``'s hours only for partial days (:func:`flow_parts`), and keep past days' sums
between views while those days' write counts stay the same.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from operator import attrgetter
from typing import Any

import msgspec
from litestar import Request, get

from newapi_host.auth.guards import admin_auth, user_auth
from newapi_host.billing.ledger import FLOW_DAY, FLOW_KEY, FLOW_KEYS, FLOW_MARKS, FLOW_SUMS
from newapi_host.db.engine import fetch_tuples
from newapi_host.db.tables import ROLE_ROOT, QuotaByModel, QuotaByUser, QuotaByUserModel, QuotaData

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


def _range(start: int, end: int) -> tuple[int, int]:
    """[start, end]; a missing end means "until now" (New API's console always sends both)."""
    return start, end if end > 0 else int(time.time()) + 3600


def _points(rows: list[Any], named: bool) -> list[dict[str, Any]]:
    """New API's QuotaData objects from ``(user_id, username, model_name, created_at, token_used,
    count, quota)`` rows; built in one pass, as a 30-day chart is tens of thousands of them."""
    if named:
        return [
            {**ZERO, "user_id": u, "username": n, "model_name": m, "created_at": t, "token_used": int(tu),
             "count": int(c), "quota": int(q)}
            for u, n, m, t, tu, c, q in rows
        ]  # fmt: skip
    return [
        {**ZERO, "model_name": m, "created_at": t, "token_used": int(tu), "count": int(c), "quota": int(q)}
        for m, t, tu, c, q in rows
    ]


SUMS = '"token_used", "count", "quota"'
IN_RANGE = '"created_at" >= {} AND "created_at" <= {}'
USER_MODELS = QuotaByUserModel._meta.tablename


@get("/api/data/", guards=[admin_auth])
async def all_quota_data(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Per model and hour; with ``username``, per that user's model and hour.

    The per-hour tables are unique on their key, so their rows are the answer as they are.
    """
    span = _range(_ts(request, "start_timestamp"), _ts(request, "end_timestamp"))
    username = request.query_params.get("username", "")
    if username:
        rows = await fetch_tuples(
            f'SELECT "user_id", "username", "model_name", "created_at", {SUMS} FROM "{USER_MODELS}" '
            f'WHERE {IN_RANGE} AND "username" = {{}} ORDER BY "created_at"',
            *span,
            username,
        )
        return ok(_points(rows, named=True))
    rows = await fetch_tuples(
        f'SELECT "model_name", "created_at", {SUMS} FROM "{QuotaByModel._meta.tablename}" '
        f'WHERE {IN_RANGE} ORDER BY "created_at"',
        *span,
    )
    return ok(_points(rows, named=False))


@get("/api/data/users", guards=[admin_auth])
async def quota_data_by_user(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Per user name and hour (New API groups by name: two accounts that shared one add up)."""
    span = _range(_ts(request, "start_timestamp"), _ts(request, "end_timestamp"))
    sums = ", ".join(f'CAST(SUM("{c}") AS BIGINT)' for c in ("token_used", "count", "quota"))
    rows = await fetch_tuples(
        f'SELECT "username", "created_at", {sums} FROM "{QuotaByUser._meta.tablename}" WHERE {IN_RANGE} '
        'GROUP BY "username", "created_at" ORDER BY "created_at"',
        *span,
    )
    return ok(
        [
            {**ZERO, "username": n, "created_at": t, "token_used": int(tu), "count": int(c), "quota": int(q)}
            for n, t, tu, c, q in rows
        ]
    )


@get("/api/data/self", guards=[user_auth])
async def self_quota_data(request: Request[Any, Any, Any]) -> dict[str, Any]:
    start, end = _ts(request, "start_timestamp"), _ts(request, "end_timestamp")
    if end - start > MAX_SELF_SPAN:
        return fail("the time range must not exceed one month")
    rows = await fetch_tuples(
        f'SELECT "user_id", "username", "model_name", "created_at", {SUMS} FROM "{USER_MODELS}" '
        f'WHERE {IN_RANGE} AND "user_id" = {{}} ORDER BY "created_at"',
        *_range(start, end),
        request.state.caller.id,
    )
    return ok(_points(rows, named=True))


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


HOUR, DAY = 3600, FLOW_DAY
FLOW_DAYS = FLOW_SUMS  # quota_data's sums per day and numbered key (see add_flow_sums)


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


class FlowRow(msgspec.Struct, kw_only=True, omit_defaults=True):
    """New API's FlowQuotaData: ids and names are left out when zero or empty (its ``omitempty``);
    a deleted key stays unnamed, a user is named by their current name."""

    user_id: int = 0
    username: str = ""
    node_name: str = ""
    token_id: int = 0
    token_name: str = ""
    use_group: str
    channel_id: int = 0
    channel_name: str = ""
    model_name: str
    token_used: int
    count: int
    quota: int


# The numbered flow keys' columns, by number, for the database in use (numbers are never changed
# or reused, so what was read stays true; a new number is read when a sum first names it).
_KEYS: tuple[Any, dict[int, tuple[Any, ...]]] = (None, {})
MAX_KEPT_KEYS = 250_000  # about 50 MB of key columns per worker at most
CHUNK = 500  # ids per IN (...) list


async def _flow_keys(ids: set[int]) -> dict[int, tuple[Any, ...]]:
    """The ``FLOW_KEY`` columns of each numbered key in ``ids``."""
    global _KEYS
    engine, kept = _KEYS
    if engine is not QuotaData._meta.db:  # another database (tests start many)
        _KEYS = (QuotaData._meta.db, kept := {})
    missing = [i for i in ids if i not in kept]
    if len(kept) + len(missing) > MAX_KEPT_KEYS:
        kept.clear()
        missing = list(ids)
    columns = ", ".join(f'"{c}"' for c in FLOW_KEY)
    if len(missing) > 20 * CHUNK:  # cheaper in one read, if they all fit
        rows = await fetch_tuples(f'SELECT "id", {columns} FROM "{FLOW_KEYS}" LIMIT {MAX_KEPT_KEYS + 1}')
        if len(rows) <= MAX_KEPT_KEYS:
            kept.clear()
            kept.update((r[0], tuple(r[1:])) for r in rows)
            return kept
    for i in range(0, len(missing), CHUNK):
        part = missing[i : i + CHUNK]
        marks = ", ".join("{}" for _ in part)
        rows = await fetch_tuples(f'SELECT "id", {columns} FROM "{FLOW_KEYS}" WHERE "id" IN ({marks})', *part)
        kept.update((r[0], tuple(r[1:])) for r in rows)
    return kept


async def _names_of(table: str, ids: set[int], column: str = "name") -> dict[int, str]:
    names: dict[int, str] = {}
    ordered = sorted(ids)
    for i in range(0, len(ordered), CHUNK):
        part = ordered[i : i + CHUNK]
        marks = ", ".join("{}" for _ in part)
        rows = await fetch_tuples(f'SELECT "id", "{column}" FROM "{table}" WHERE "id" IN ({marks})', *part)
        names.update((r[0], r[1]) for r in rows)
    return names


TOTALS = 'CAST(SUM("token_used") AS BIGINT), CAST(SUM("count") AS BIGINT), CAST(SUM("quota") AS BIGINT)'
Sums = dict[tuple[Any, ...], tuple[int, int, int]]  # FLOW_KEY -> (token_used, count, quota)
# Closed days' sums, as last read: (database, first day, last day, users) -> (the days' write
# marks then, sums). Days before today change only when a flush lands late (after midnight, or a
# journal replayed after a stop); every write to a day also bumps its mark in FLOW_MARKS, so
# equal marks mean equal sums, and a week of history is read once, not per view.
_CLOSED: OrderedDict[tuple[Any, ...], tuple[list[Any], Sums]] = OrderedDict()
MAX_CLOSED = 8


async def _keyed(rows: list[Any]) -> Sums:
    """(key number, token_used, count, quota) rows by their keys' columns."""
    keys = await _flow_keys({r[0] for r in rows})
    return {keys[i]: (token_used, count, quota) for i, token_used, count, quota in rows}


async def _shifted(first: int, closed: int, user_ids: list[int], grouped: str, read: str) -> Sums | None:
    """``[first, closed]`` from a kept range it overlaps, when that reads fewer days: the days that
    left taken away, the days that came added (a week until yesterday, the day after: two days
    read instead of seven). None when no kept range helps or its days have been written since."""
    engine, users, span = QuotaData._meta.db, tuple(user_ids), (closed - first) // DAY + 1
    best = None
    for (db, f0, c0, u0), (marks0, sums0) in _CLOSED.items():
        if db is not engine or u0 != users or f0 > closed or c0 < first:
            continue
        gone = [(a, b) for a, b in ((f0, min(c0, first - DAY)), (max(f0, closed + DAY), c0)) if a <= b]
        came = [(a, b) for a, b in ((first, min(closed, f0 - DAY)), (max(first, c0 + DAY), closed)) if a <= b]
        cost = sum((b - a) // DAY + 1 for a, b in gone + came)
        if 2 * cost <= span and (best is None or cost < best[0]):
            best = (cost, f0, c0, marks0, sums0, gone, came)
    if best is None:
        return None
    _, f0, c0, marks0, sums0, gone, came = best
    if [tuple(m) for m in await fetch_tuples(f'{read} ORDER BY "created_at"', f0, c0)] != marks0:
        return None
    sums = dict(sums0)
    for ranges, sign in ((gone, -1), (came, 1)):
        for a, b in ranges:
            for key, (token_used, count, quota) in (await _keyed(await fetch_tuples(grouped, a, b, *user_ids))).items():
                was = sums.get(key, (0, 0, 0))
                total = (was[0] + sign * token_used, was[1] + sign * count, was[2] + sign * quota)
                if total == (0, 0, 0):
                    sums.pop(key, None)
                else:
                    sums[key] = total
    return sums


async def _day_sums(first: int, last: int, user_ids: list[int]) -> list[Sums]:
    """The daily sums of ``[first, last]``: the closed days' (kept while their marks hold), then today's."""
    who = f' AND "user_id" IN ({", ".join("{}" for _ in user_ids)})' if user_ids else ""
    grouped = f'SELECT "key_id", {TOTALS} FROM "{FLOW_SUMS}" WHERE "created_at" >= {{}} AND "created_at" <= {{}}{who}'
    grouped += ' GROUP BY "key_id"'
    now = int(time.time())
    closed = min(last, now - now % DAY - DAY)
    parts = []
    if first <= closed:
        read = f'SELECT "created_at", "writes" FROM "{FLOW_MARKS}" WHERE "created_at" >= {{}} AND "created_at" <= {{}}'
        marks = [tuple(m) for m in await fetch_tuples(f'{read} ORDER BY "created_at"', first, closed)]
        key = (QuotaData._meta.db, first, closed, tuple(user_ids))
        kept = _CLOSED.get(key)
        if kept is not None and kept[0] == marks:
            _CLOSED.move_to_end(key)
            parts.append(kept[1])
        else:
            sums = await _shifted(first, closed, user_ids, grouped, read)
            if sums is None:
                sums = await _keyed(await fetch_tuples(grouped, first, closed, *user_ids))
            _CLOSED[key] = (marks, sums)
            while len(_CLOSED) > MAX_CLOSED:
                _CLOSED.popitem(last=False)
            parts.append(sums)
    if last > closed:
        parts.append(await _keyed(await fetch_tuples(grouped, max(first, closed + DAY), last, *user_ids)))
    return parts


async def _flow_sums(start: int, end: int, user_ids: list[int]) -> Sums:
    """Totals per ``FLOW_KEY`` over quota_data's buckets stamped in ``[start, end]``."""
    sums: Sums = {}
    who = f' AND "user_id" IN ({", ".join("{}" for _ in user_ids)})' if user_ids else ""
    for table, first, last, sign in flow_parts(min(start, LAST_STAMP), min(end, LAST_STAMP), int(time.time())):
        if table == FLOW_DAYS:
            parts = await _day_sums(first, last, user_ids)
        else:  # a partial day's hours (a number of hours, so few rows)
            columns = ", ".join(f'"{c}"' for c in FLOW_KEY)
            rows = await fetch_tuples(
                f'SELECT {columns}, {TOTALS} FROM quota_data WHERE "created_at" >= {{}} AND "created_at" <= {{}}{who} '
                f"GROUP BY {columns}",
                first,
                last,
                *user_ids,
            )
            parts = [{tuple(r[:6]): (r[6], r[7], r[8]) for r in rows}]
        for part in parts:
            if not sums and sign > 0:  # the usual first part, most of the answer: a copy (kept sums stay as kept)
                sums = dict(part)
                continue
            for key, (token_used, count, quota) in part.items():
                total = sums.get(key)
                if total is None:
                    sums[key] = (sign * token_used, sign * count, sign * quota)
                else:
                    sums[key] = (total[0] + sign * token_used, total[1] + sign * count, total[2] + sign * quota)
    return sums


GROUP = FLOW_KEY.index("use_group")


async def _flow(start: int, end: int, by: tuple[str, ...], user_id: int = 0, username: str = "") -> list[FlowRow]:
    """Totals over ``[start, end]`` per ``by``, largest quota first (tens of thousands for root)."""
    user_ids = [user_id] if user_id else []
    if username:
        user_ids = [r[0] for r in await fetch_tuples('SELECT "id" FROM users WHERE "username" = {}', username)]
        if not user_ids:
            return []
    sums = await _flow_sums(start, end, user_ids)
    # each total moved onto ``by``: the columns not grouped by blanked (FLOW_KEY's shape kept)
    kept = [c in by for c in FLOW_KEY]
    whole, blank = all(kept), (0, 0, "", "", 0, "")
    groups: dict[tuple[Any, ...], Any] = {}  # tuples as summed, lists where parts add up
    for key, total in sums.items():
        if not key[GROUP] or not total[1]:  # no group: not a relayed request; no count: only hours taken away
            continue
        if whole:
            groups[key] = total
            continue
        part = tuple(v if k else b for v, k, b in zip(key, kept, blank, strict=True))
        if (into := groups.get(part)) is None:
            groups[part] = list(total)
        else:
            into[0] += total[0]
            into[1] += total[1]
            into[2] += total[2]
    ids = [{k[at] for k in groups} for at in (0, 1, 4)]  # users, keys, channels
    users = dict.fromkeys(ids[0], "") | await _names_of("users", ids[0] - {0}, "username")
    tokens = dict.fromkeys(ids[1], "") | await _names_of("tokens", ids[1] - {0})  # a deleted key stays unnamed
    channels = {c: name or f"channel-{c}" for c, name in (await _names_of("channels", ids[2] - {0})).items()}
    channels = {c: channels.get(c, f"channel-{c}") if c else "" for c in ids[2]}
    out = [
        FlowRow(user_id=u, username=users[u], node_name=node, token_id=token, token_name=tokens[token],
                use_group=group, channel_id=channel, channel_name=channels[channel], model_name=model,
                token_used=token_used, count=count, quota=quota)
        for (u, token, group, model, channel, node), (token_used, count, quota) in groups.items()
    ]  # fmt: skip
    out.sort(key=attrgetter("quota"), reverse=True)
    return out


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
