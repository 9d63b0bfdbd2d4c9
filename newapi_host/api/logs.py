"""Usage and audit logs: New API's ``/api/log/*`` routes, and log retention.

Admins list and sum everyone's rows; users see only their own (``/self``), with admin-only
details removed as New API does (``other.admin_info``, ``audit_info``, ``stream_status``, channel
names; channel ids too for common users, and row ids replaced by their position in the list).
``/api/log/token`` answers to an API key, even an expired or exhausted one, and lists that key's
rows. Old rows go either on request (``DELETE /api/log/``, root) or by :func:`cleanup_logs`,
which keeps ``LogRetentionDays`` days; both delete in small batches so a large table is never
locked for long.

JSON field names follow New API: the ``channel_id`` column is ``channel``; ``other`` stays a
JSON string; ``request_id``/``upstream_request_id`` are left out when empty.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from litestar import Request, Response, delete, get
from piccolo.columns.combination import WhereRaw
from piccolo.query.functions.aggregate import Count, Sum
from piccolo.querystring import QueryString

from newapi_host.auth.guards import admin_auth, root_auth, user_auth
from newapi_host.db.engine import refresh_statistics
from newapi_host.db.tables import (
    LOG_CONSUME,
    ROLE_ADMIN,
    TOKEN_DISABLED,
    USER_ENABLED,
    Channel,
    Log,
    QuotaByModel,
    QuotaByUserModel,
    QuotaData,
    Token,
    User,
)
from newapi_host.host import Host, host_of
from newapi_host.plugins.contracts import BackgroundJob, JobContext

from .common import page_of, paging
from .envelope import fail, ok

MAX_RECENT_ITEMS = 1000  # New API's cap for unpaged lists (token logs)
SEARCH_LIMIT = 100
DELETE_BATCH = 1000
DELETE_PAUSE = 0.03  # seconds between two delete batches: SQLite's waiting writers poll at most every 25 ms
DELETE_BATCH_SECONDS = 0.05  # what a delete batch should take; its size follows
DELETE_MIN_BATCH, DELETE_MAX_BATCH = 100, 5000
COUNT_LIMIT = 10_000  # list totals are exact up to this many rows
USER_HIDDEN_OTHER = ("admin_info", "audit_info", "stream_status")

Where = Any  # a Piccolo where-clause (column comparison, combination or WhereRaw)


# -- query parameters ---------------------------------------------------------------------------


def _int(request: Request[Any, Any, Any], name: str) -> int:
    """New API reads numeric filters leniently: a missing or malformed value counts as 0 (no filter)."""
    try:
        return int(request.query_params.get(name, "0"))
    except ValueError:
        return 0


def _like_pattern(value: str) -> str:
    """New API's rules for a ``%`` search: at most two ``%``, not adjacent, two other characters."""
    if "%%" in value:
        raise ValueError("consecutive % wildcards are not allowed in a search pattern")
    if value.count("%") > 2:
        raise ValueError("a search pattern may contain at most 2 % wildcards")
    if len(value.replace("%", "")) < 2:
        raise ValueError("a fuzzy search needs at least 2 characters besides %")
    return value.replace("!", "!!").replace("_", "!_")


def _text_filter(column: str, value: str, table: Any = Log) -> Where | None:
    """Exact match, or a LIKE pattern when the value holds ``%`` (as New API's log filters)."""
    if not value:
        return None
    if "%" in value:
        return WhereRaw(f"{column} LIKE {{}} ESCAPE '!'", _like_pattern(value))
    return getattr(table, column) == value


def _filters(request: Request[Any, Any, Any], *, admin: bool, user_id: int | None = None) -> list[Where]:
    """Conditions from New API's log filters; ``user_id`` pins the rows to one user."""
    q = request.query_params
    conds: list[Where | None] = []
    if user_id is not None:
        conds.append(Log.user_id == user_id)
    if log_type := _int(request, "type"):
        conds.append(Log.type == log_type)
    conds.append(_text_filter("model_name", q.get("model_name", "")))
    if admin:
        conds.append(_text_filter("username", q.get("username", "")))
        if channel := _int(request, "channel"):
            conds.append(Log.channel_id == channel)
    for name, column in (
        ("token_name", Log.token_name),
        ("request_id", Log.request_id),
        ("upstream_request_id", Log.upstream_request_id),
        ("group", Log.group),
    ):
        if value := q.get(name, ""):
            conds.append(column == value)
    if start := _int(request, "start_timestamp"):
        conds.append(Log.created_at >= start)
    if end := _int(request, "end_timestamp"):
        conds.append(Log.created_at <= end)
    return [c for c in conds if c is not None]


def _where(query: Any, conds: list[Where]) -> Any:
    for cond in conds:
        query = query.where(cond)
    return query


# -- rows -> New API's JSON ---------------------------------------------------------------------


def _row_json(row: dict[str, Any]) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "user_id": row["user_id"],
        "created_at": row["created_at"],
        "type": row["type"],
        "content": row["content"],
        "username": row["username"],
        "token_name": row["token_name"],
        "model_name": row["model_name"],
        "quota": row["quota"],
        "prompt_tokens": row["prompt_tokens"],
        "completion_tokens": row["completion_tokens"],
        "use_time": row["use_time"],
        "is_stream": bool(row["is_stream"]),
        "channel": row["channel_id"],
        "channel_name": "",
        "token_id": row["token_id"],
        "group": row["group"],
        "ip": row["ip"],
    }
    if row["request_id"]:
        out["request_id"] = row["request_id"]
    if row["upstream_request_id"]:
        out["upstream_request_id"] = row["upstream_request_id"]
    out["other"] = row["other"]
    return out


async def _with_channel_names(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = sorted({item["channel"] for item in items if item["channel"]})
    if ids:
        rows = await Channel.select(Channel.id, Channel.name).where(Channel.id.is_in(ids))
        names = {r["id"]: r["name"] for r in rows}
        for item in items:
            item["channel_name"] = names.get(item["channel"], "")
    return items


def _strip_other(other: str) -> str:
    try:
        parsed = json.loads(other) if other else None
    except ValueError:
        return other
    if not isinstance(parsed, dict) or not any(k in parsed for k in USER_HIDDEN_OTHER):
        return other
    for key in USER_HIDDEN_OTHER:
        parsed.pop(key, None)
    return json.dumps(parsed, ensure_ascii=False, separators=(",", ":"))


def _user_view(items: list[dict[str, Any]], start: int, *, hide_channel: bool) -> list[dict[str, Any]]:
    """What a user may see of their own rows (New API's formatUserLogs)."""
    for i, item in enumerate(items):
        item["id"] = start + i + 1
        item["channel_name"] = ""
        item["other"] = _strip_other(item["other"])
        if hide_channel:
            item["channel"] = 0
    return items


# -- listing ------------------------------------------------------------------------------------


async def bounded_count(conds: list[Where], page: int, size: int) -> int:
    """How many rows match, counted up to :data:`COUNT_LIMIT` (or just past the page asked for).

    A full ``COUNT(*)`` over a filter that matches millions of rows reads them all for every page;
    the console needs the total only to draw its pager, so beyond the limit it gets the limit
    (as New API's own capped counts), and a later page still counts far enough to show it.
    """
    limit = max(COUNT_LIMIT, page * size + 1)
    inner = _where(Log.select(Log.id), conds).limit(limit)
    engine = Log._meta.db
    rows = await engine.run_querystring(QueryString("SELECT COUNT(*) AS n FROM ({}) AS matched", inner.querystrings[0]))
    return int(rows[0]["n"])


async def _page(conds: list[Where], page: int, size: int) -> tuple[list[dict[str, Any]], int]:
    total = await bounded_count(conds, page, size)
    # Newest first by time, as the admin list always was (New API sorts by id; the ledger writes
    # rows in time order, so the two agree but for rows of one second from different workers):
    # every filter's index ends in (created_at, id), so a page is read from it in order.
    query = _where(Log.select(), conds).order_by(Log.created_at, Log.id, ascending=False)
    rows = await query.limit(size).offset((page - 1) * size)
    return [_row_json(r) for r in rows], total


@get("/api/log/", guards=[admin_auth])
async def all_logs(request: Request[Any, Any, Any]) -> dict[str, Any]:
    page, size = paging(request)
    try:
        conds = _filters(request, admin=True)
    except ValueError as exc:
        return fail(str(exc))
    items, total = await _page(conds, page, size)
    return ok(page_of(await _with_channel_names(items), total, page, size))


@get("/api/log/self", guards=[user_auth])
async def self_logs(request: Request[Any, Any, Any]) -> dict[str, Any]:
    caller = request.state.caller
    page, size = paging(request)
    try:
        conds = _filters(request, admin=False, user_id=caller.id)
    except ValueError as exc:
        return fail(str(exc))
    items, total = await _page(conds, page, size)
    items = _user_view(items, (page - 1) * size, hide_channel=caller.role < ROLE_ADMIN)
    return ok(page_of(items, total, page, size))


def _keyword_filter(keyword: str) -> Where:
    """A number is a log type; anything else matches model, token name, request id or content prefix."""
    if keyword.strip().lstrip("-").isdigit():
        return Log.type == int(keyword)
    prefix = keyword.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"
    return (
        (Log.model_name == keyword)
        | (Log.token_name == keyword)
        | (Log.request_id == keyword)
        | WhereRaw("content LIKE {} ESCAPE '!'", prefix)
    )


async def _search(keyword: str, user_id: int | None) -> list[dict[str, Any]]:
    query = Log.select().where(_keyword_filter(keyword))
    if user_id is not None:
        query = query.where(Log.user_id == user_id)
    rows = await query.order_by(Log.id, ascending=False).limit(SEARCH_LIMIT)
    return [_row_json(r) for r in rows]


@get("/api/log/self/search", guards=[user_auth])
async def search_self_logs(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The caller's newest rows (up to 100) matching ``keyword`` (New API 2025 behaviour)."""
    caller = request.state.caller
    keyword = request.query_params.get("keyword", "")
    if not keyword or len(keyword) > 255:
        return fail("keyword must be 1 to 255 characters")
    items = await _search(keyword, caller.id)
    return ok(_user_view(items, 0, hide_channel=caller.role < ROLE_ADMIN))


@get("/api/log/search", guards=[admin_auth])
async def search_all_logs(request: Request[Any, Any, Any]) -> dict[str, Any]:
    keyword = request.query_params.get("keyword", "")
    if not keyword or len(keyword) > 255:
        return fail("keyword must be 1 to 255 characters")
    return ok(await _with_channel_names(await _search(keyword, None)))


# -- statistics ---------------------------------------------------------------------------------


async def _stat(conds: list[Where], span: tuple[int, int], summary: Summary | None = None) -> dict[str, int]:
    """Quota of consume rows over the filter and time range; rpm/tpm over the last 60 s.

    ``summary``: the same filter on an hourly sums table (None when none can express it). Whole hours
    inside the range are then summed from the hourly buckets, and only the partial hours at its
    ends from the log rows (see :func:`_quota_sum`).
    """
    consume = [*conds, Log.type == LOG_CONSUME]
    quota = await _quota_sum(consume, span, summary)
    recent = [*consume, Log.created_at >= int(time.time()) - 60]
    totals = await _where(
        Log.select(Count(Log.id, alias="n"), Sum(Log.prompt_tokens, alias="p"), Sum(Log.completion_tokens, alias="c")),
        recent,
    ).first()
    return {
        "quota": quota,
        "rpm": int(totals["n"] or 0) if totals else 0,
        "tpm": int((totals["p"] or 0) + (totals["c"] or 0)) if totals else 0,
    }


async def _log_quota(consume: list[Where], start: int | None, stop: int | None) -> int:
    """Sum of ``quota`` over consume rows with ``start <= created_at < stop`` (None: open)."""
    times = [Log.created_at >= start] if start is not None else []
    times += [Log.created_at < stop] if stop is not None else []
    row = await _where(Log.select(Sum(Log.quota, alias="quota")), [*consume, *times]).first()
    return int(row["quota"] or 0) if row else 0


async def _quota_sum(consume: list[Where], span: tuple[int, int], summary: Summary | None) -> int:
    """Quota over ``[start, end]`` (0: no bound, as New API), from ``quota_data`` for whole hours.

    The ledger writes each consume row and its hour's bucket in one transaction, so the whole
    hours of the range sum the same from either table; the buckets are one row per user, model,
    key and channel an hour instead of one per request. The partial hours at the ends of the
    range come from the rows.
    """
    start = span[0] or None
    stop = span[1] + 1 if span[1] else None  # the range end is inclusive
    if summary is None:
        return await _log_quota(consume, start, stop)
    first = -(-start // 3600) * 3600 if start is not None else None  # the first whole hour inside
    last = stop - stop % 3600 if stop is not None else None  # the end of the last whole hour
    if first is not None and last is not None and first >= last:
        return await _log_quota(consume, start, stop)  # no whole hour inside: the rows only
    table, conds = summary
    query = table.select(Sum(table.quota, alias="quota"))
    for cond in conds:
        query = query.where(cond)
    if first is not None:
        query = query.where(table.created_at >= first)
    if last is not None:
        query = query.where(table.created_at < last)
    row = await query.first()
    total = int(row["quota"] or 0) if row else 0
    if start is not None and first is not None and start < first:
        total += await _log_quota(consume, start, first)
    if stop is not None and last is not None and last < stop:
        total += await _log_quota(consume, last, stop)
    return total


Summary = tuple[Any, list[Any]]  # an hourly sums table and the stat's filter on it


def _summary_filters(request: Request[Any, Any, Any], *, admin: bool, user_id: int | None) -> Summary | None:
    """The smallest hourly sums table with a column for each stat filter, and the filter on it.

    None when none has: the sums keep no key names, and are not written while
    ``DataExportEnabled`` is off. With no filter or only a model, the per-model sums answer;
    with a user (or username) too, the per-user-and-model ones; with a channel or group,
    ``quota_data`` itself.
    """
    q = request.query_params
    if q.get("token_name", "") or not host_of(request.app.state).options.get_bool("DataExportEnabled"):
        return None
    username = q.get("username", "") if admin else ""
    channel = _int(request, "channel") if admin else 0
    model, group = q.get("model_name", ""), q.get("group", "")
    table: Any = QuotaByModel
    if channel or group:
        table = QuotaData
    elif user_id is not None or username:
        table = QuotaByUserModel
    conds: list[Any] = []
    if user_id is not None:
        conds.append(table.user_id == user_id)
    if username:
        conds.append(_text_filter("username", username, table))
    if channel:
        conds.append(table.channel_id == channel)
    if model:
        conds.append(_text_filter("model_name", model, table))
    if group:
        conds.append(table.use_group == group)
    return table, conds


def _stat_filters(
    request: Request[Any, Any, Any], *, admin: bool, user_id: int | None = None
) -> tuple[list[Where], tuple[int, int], Summary | None]:
    """New API's stat filters, apart from them the time range (which rpm/tpm ignore), and the
    same filters on ``quota_data`` when it can answer them."""
    q = request.query_params
    conds: list[Where | None] = []
    if user_id is not None:
        conds.append(Log.user_id == user_id)
    if admin:
        conds.append(_text_filter("username", q.get("username", "")))
        if channel := _int(request, "channel"):
            conds.append(Log.channel_id == channel)
    conds.append(_text_filter("model_name", q.get("model_name", "")))
    if token_name := q.get("token_name", ""):
        conds.append(Log.token_name == token_name)
    if group := q.get("group", ""):
        conds.append(Log.group == group)
    span = (_int(request, "start_timestamp"), _int(request, "end_timestamp"))
    summary = _summary_filters(request, admin=admin, user_id=user_id)
    return [c for c in conds if c is not None], span, summary


@get("/api/log/stat", guards=[admin_auth])
async def logs_stat(request: Request[Any, Any, Any]) -> dict[str, Any]:
    try:
        conds, span, summary = _stat_filters(request, admin=True)
    except ValueError as exc:
        return fail(str(exc))
    return ok(await _stat(conds, span, summary))


@get("/api/log/self/stat", guards=[user_auth])
async def self_logs_stat(request: Request[Any, Any, Any]) -> dict[str, Any]:
    try:
        conds, span, summary = _stat_filters(request, admin=False, user_id=request.state.caller.id)
    except ValueError as exc:
        return fail(str(exc))
    return ok(await _stat(conds, span, summary))


# -- by API key ---------------------------------------------------------------------------------


async def _token_of(authorization: str) -> tuple[dict[str, Any] | None, int, str]:
    """New API's read-only key check: any state but disabled; the owner must not be banned."""
    key = authorization.strip()
    if not key:
        return None, 401, "Token not provided"
    if key[:7].lower() == "bearer ":
        key = key[7:].strip()
    key = key.removeprefix("sk-").split("-")[0]
    token = (
        await Token.select(Token.id, Token.user_id, Token.status)
        .where((Token.key == key) & Token.deleted_at.is_null())
        .first()
        if key
        else None
    )
    if token is None:
        return None, 401, "Invalid token"
    if token["status"] == TOKEN_DISABLED:
        return None, 401, "This token status is unavailable"
    user = await User.select(User.status).where((User.id == token["user_id"]) & User.deleted_at.is_null()).first()
    if user is None:
        return None, 401, "Invalid token"
    if user["status"] != USER_ENABLED:
        return None, 403, "User has been banned"
    return token, 200, ""


@get("/api/log/token")
async def token_logs(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """The newest rows (up to 1000) of the API key in ``Authorization``."""
    token, status, message = await _token_of(request.headers.get("authorization", ""))
    if token is None:
        return Response(fail(message), status_code=status)
    rows = (
        await Log.select()
        .where((Log.token_id == token["id"]) & (Log.user_id == token["user_id"]))
        .order_by(Log.id, ascending=False)
        .limit(MAX_RECENT_ITEMS)
    )
    return Response(ok(_user_view([_row_json(r) for r in rows], 0, hide_channel=True)))


# -- deletion and retention ---------------------------------------------------------------------


async def delete_logs_before(cutoff: int, batch: int = DELETE_BATCH, pause: float | None = None) -> int:
    """Delete rows created before ``cutoff`` in batches; return how many went.

    Each batch commits on its own, is sized to take about :data:`DELETE_BATCH_SECONDS` (a batch
    of 1,000 rows takes a quarter of a second on SQLite under load, with the indexes ``logs``
    carries), and the next one waits ``pause`` seconds. On SQLite, whose writers take turns,
    every worker's ledger flush waiting on the lock gets it between two batches instead of
    queueing behind one huge delete or a tight loop of them.
    """
    pause = DELETE_PAUSE if pause is None else pause
    total = 0
    while True:
        started = time.monotonic()
        ids = (
            await Log.select(Log.id)
            .where(Log.created_at < cutoff)
            .order_by(Log.created_at, Log.id)
            .limit(batch)
            .output(as_list=True)
        )
        if not ids:
            return total
        await Log.delete().where(Log.id.is_in(ids))
        total += len(ids)
        if len(ids) < batch:
            return total
        took = max(time.monotonic() - started, 1e-3)
        batch = max(DELETE_MIN_BATCH, min(DELETE_MAX_BATCH, int(batch * DELETE_BATCH_SECONDS / took)))
        await asyncio.sleep(pause)


@delete("/api/log/", guards=[root_auth], status_code=200)
async def delete_history_logs(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """New API 2025: ``?target_timestamp=`` deletes every row older than it; data is the count."""
    target = _int(request, "target_timestamp")
    if target <= 0:
        return fail("target timestamp is required")
    return ok(await delete_logs_before(target))


async def cleanup_logs(host: Host) -> int:
    """Delete rows older than ``LogRetentionDays`` days (0 keeps everything); return the count."""
    days = host.options.get_int("LogRetentionDays", 0)
    if days <= 0:
        return 0
    return await delete_logs_before(int(time.time()) - days * 86400)


async def run_log_cleanup(ctx: JobContext) -> None:
    await cleanup_logs(host_of(ctx.state))
    await refresh_statistics()  # the log tables grow by the hour; SQLite's planner needs to know


# A once-per-cluster host job: the lease keeps two nodes from deleting the same rows at once.
LOG_CLEANUP_JOB = BackgroundJob(name="log-cleanup", interval=3600.0, run=run_log_cleanup)


ROUTES = [
    all_logs,
    self_logs,
    search_self_logs,
    search_all_logs,
    logs_stat,
    self_logs_stat,
    token_logs,
    delete_history_logs,
]
