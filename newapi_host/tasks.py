"""Asynchronous tasks (Midjourney drawings, Suno songs, videos): held, settled or refunded once.

A task plugin submits work upstream and gets an upstream id back; the result arrives minutes
later, found by polling. The host keeps the money side here, the same for every task plugin:

- **submit**: the price is reserved on the live balances (the shared store) before the upstream
  call, so a wallet cannot pay for more tasks than it holds; once the upstream accepted the task,
  one write transaction (:meth:`Wallets.change`) inserts the task row and takes the price from the
  wallet (and a limited key), with its consume-log row: the charge is *held* by the task. If the
  upstream refuses, the reservation goes back and nothing is charged.
- **settle**: the poller moves the task to ``SUCCESS`` with a conditional UPDATE (``... WHERE
  status NOT IN ('SUCCESS', 'FAILURE')``); the held charge becomes final.
- **refund**: moving the task to ``FAILURE`` (an upstream failure, or no result within
  ``TASK_TIMEOUT_MINUTES``) is the same conditional UPDATE, and in the same transaction the held
  quota goes back to the wallet and the key, with a refund-log row. Only the transaction whose
  UPDATE matched the row refunds, so two pollers, a retry after a crash, or a poller and a
  timeout sweep can never refund twice; a worker killed mid-poll commits nothing half-way.

Two tables hold tasks, both New API's: ``tasks`` (Suno, videos; ``private_data`` keeps the upstream
id and the key) and ``midjourneys`` (its own columns, times in milliseconds, ``token_id`` and
``billing_channel_id`` for the refund). Polling is a once-per-cluster job with the job leases;
the ``UPDATE_TASK`` environment variable (default true) switches it off on a node.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from piccolo.table import Table

from newapi_host.billing.ledger import add_quota_data, add_summaries, log_row, quota_buckets
from newapi_host.billing.pricing import round_half_away
from newapi_host.db.engine import insert_many
from newapi_host.db.tables import LOG_CONSUME, LOG_REFUND, Channel, Log, Midjourney, Task, Token, User
from newapi_host.relay.errors import RelayError
from newapi_host.relay.request_id import new_request_id
from newapi_host.store import NO_TRUST, Outcome, StoreUnavailable

log = logging.getLogger(__name__)

SUCCESS, FAILURE = "SUCCESS", "FAILURE"
FINAL = (SUCCESS, FAILURE)
STATUSES = ("NOT_START", "SUBMITTED", "QUEUED", "IN_PROGRESS", SUCCESS, FAILURE, "UNKNOWN")
TABLES: dict[str, type[Table]] = {"tasks": Task, "midjourneys": Midjourney}
TIME_SCALE = {"tasks": 1, "midjourneys": 1000}  # New API keeps Midjourney times in milliseconds
TIMED_OUT = "task timed out"
OWNER_COLUMNS = ("id", "user_id", "quota", "channel_id")  # set by the host, never by a plugin


class TaskRefused(Exception):
    """The gateway will not submit the task (no channel, no price, not enough quota): nothing was charged."""

    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def polling_enabled(env: Mapping[str, str] | None = None) -> bool:
    """New API's ``UPDATE_TASK`` (default true): false stops this node from polling tasks."""
    value = (os.environ if env is None else env).get("UPDATE_TASK", "true")
    return value.strip().lower() not in ("false", "0", "no", "off")


def poll_interval(env: Mapping[str, str] | None = None) -> float:
    """Seconds between polls: New API's 15, or ``NEWAPI_TASK_POLL_INTERVAL``."""
    try:
        return max(0.05, float((os.environ if env is None else env).get("NEWAPI_TASK_POLL_INTERVAL", "15")))
    except ValueError:
        return 15.0


def timeout_seconds(env: Mapping[str, str] | None = None) -> float:
    """``TASK_TIMEOUT_MINUTES`` (New API's 1440): an unfinished task older than this fails and is refunded."""
    try:
        return float((os.environ if env is None else env).get("TASK_TIMEOUT_MINUTES", "1440")) * 60
    except ValueError:
        return 1440 * 60.0


def query_limit(env: Mapping[str, str] | None = None) -> int:
    try:
        return max(1, int((os.environ if env is None else env).get("TASK_QUERY_LIMIT", "1000")))
    except ValueError:
        return 1000


def table_of(name: str) -> type[Table]:
    try:
        return TABLES[name]
    except KeyError:
        raise ValueError(f"unknown task table {name!r}; use one of {sorted(TABLES)}") from None


def now_in(table: str) -> int:
    """The current time in the table's unit (seconds for ``tasks``, milliseconds for ``midjourneys``)."""
    return int(time.time() * TIME_SCALE[table])


def _columns(table: type[Table], fields: Mapping[str, Any]) -> dict[str, Any]:
    known = {c._meta.name for c in table._meta.columns}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"{table._meta.tablename} has no column(s) {unknown}")
    reserved = sorted(set(fields) & set(OWNER_COLUMNS))
    if reserved:
        raise ValueError(f"{reserved} are set by the host, not by a task plugin")
    return {k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in fields.items()}


# -- prices and channels ------------------------------------------------------------------------


def price_of(host: Any, model: str, user_group: str, group: str) -> tuple[int, dict[str, Any]]:
    """New API's per-call price of ``model``: ModelPrice x QuotaPerUnit x group ratio (a model with
    only a ratio costs ratio / 2 x QuotaPerUnit x group ratio); the quota and the log details."""
    prices = host.relay.prices
    try:
        price = prices.quote(model, user_group, group)
    except RelayError as exc:
        raise TaskRefused(exc.status, exc.message, exc.code or "model_price_error") from None
    per_unit = prices.quota_per_unit
    if price.model_price is not None:
        quota = round_half_away(price.model_price * per_unit * price.group_ratio)
    else:
        quota = round_half_away(price.model_ratio / 2 * per_unit * price.group_ratio)
    details = {"model_price": price.model_price if price.model_price is not None else -1}
    details.update(group_ratio=price.group_ratio, model_ratio=price.model_ratio, per_call=True)
    return quota, details


def channel_entry(host: Any, group: str, model: str, types: Sequence[int], channel_id: int | None = None) -> Any:
    """The channel to send to: ``channel_id``'s (a follow-up goes where its task went), else the
    best enabled channel of one of ``types`` serving ``model`` to ``group``."""
    index = host.relay.index
    if channel_id:
        entry = index.by_id.get(channel_id)
        if entry is None or entry.status != 1 or host.registry.channel_type(entry.type) is None:
            raise TaskRefused(503, "the channel of this task is disabled", "channel_disabled")
        return entry
    tried: set[int] = set()
    while True:
        entry = index.pick(group, model, tried)
        if entry is None:
            raise TaskRefused(503, f"no available channel for model {model} under group {group}", "model_not_found")
        if not types or entry.type in types:
            return entry
        tried.add(entry.id)


# -- submit: hold and record --------------------------------------------------------------------


async def hold(host: Any, user_id: int, token_id: int | None, quota: int) -> Any:
    """Reserve ``quota`` on the live balances (no trust bypass); the ledger's hold, or None when free."""
    if quota <= 0:
        return None
    try:
        result, taken = await host.relay.ledger.reserve(user_id, token_id, quota, NO_TRUST)
    except StoreUnavailable:
        raise TaskRefused(503, "billing is temporarily unavailable; please retry shortly") from None
    if result.outcome is Outcome.WALLET_SHORT:
        raise TaskRefused(403, "user quota is not enough", "insufficient_user_quota")
    if result.outcome is Outcome.KEY_SHORT:
        raise TaskRefused(403, "token quota is not enough", "pre_consume_token_quota_failed")
    if result.outcome is Outcome.KEY_EXHAUSTED:
        raise TaskRefused(401, "this API key has no quota left", "token_quota_exhausted")
    return taken


async def record(
    host: Any,
    *,
    table: str,
    owner: Any,  # sdk.Caller
    channel_id: int,
    quota: int,
    fields: Mapping[str, Any],
    model: str,
    content: str,
    other: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Insert the task row and take its price, with the consume-log row, in one transaction."""
    cls = table_of(table)
    values = _columns(cls, fields)
    values.update(user_id=owner.user_id, channel_id=channel_id, quota=quota)
    if table == "midjourneys":
        values.setdefault("token_id", owner.token_id)
        values.setdefault("billing_channel_id", channel_id)
        values.setdefault("submit_time", now_in(table))
        values.setdefault("progress", "0%")
    else:
        private = json.loads(values.get("private_data") or "{}")
        private.update(token_id=owner.token_id, billing_source="wallet")
        values["private_data"] = json.dumps(private)
        stamp = now_in(table)
        values.setdefault("created_at", stamp)
        values.setdefault("updated_at", stamp)
        values.setdefault("submit_time", stamp)
        values.setdefault("group", owner.group)
        values.setdefault("status", "NOT_START")
        values.setdefault("progress", "0%")
    row = log_row(
        type=LOG_CONSUME,
        user_id=owner.user_id,
        username=owner.username,
        token_id=owner.token_id,
        token_name=owner.token_name,
        group=owner.group,
        model=model,
        quota=quota,
        content=content,
        channel_id=channel_id,
        request_id=new_request_id(),
        other=other,
    )
    async with host.wallets.change() as change:
        inserted = await cls.insert(cls(**values)).returning(*cls._meta.columns)
        await User.update(
            {
                User.quota: User.quota - quota,
                User.used_quota: User.used_quota + quota,
                User.request_count: User.request_count + 1,
            }
        ).where(User.id == owner.user_id)
        change.wallet(owner.user_id, -quota)
        spent = {Token.used_quota: Token.used_quota + quota}
        if not owner.unlimited:
            spent[Token.remain_quota] = Token.remain_quota - quota
            change.key(owner.token_id, -quota)
        await Token.update(spent).where(Token.id == owner.token_id)
        if channel_id and quota:
            await Channel.update({Channel.used_quota: Channel.used_quota + quota}).where(Channel.id == channel_id)
        await _write_log(host, row)
    return inserted[0]


async def _write_log(host: Any, row: dict[str, Any]) -> None:
    from newapi_host.billing.ledger import LOG_COLUMNS

    await insert_many(Log, LOG_COLUMNS, [tuple(row[k] for k in LOG_COLUMNS)])
    if row["type"] == LOG_CONSUME and host.options.get("DataExportEnabled", "true") == "true":
        buckets = quota_buckets([row])
        await add_quota_data(buckets)
        await add_summaries(buckets)  # the dashboard's sums, as the ledger keeps them


async def submit(
    host: Any,
    *,
    table: str,
    owner: Any,
    channel_id: int,
    quota: int,
    model: str,
    send: Callable[[], Awaitable[Mapping[str, Any]]],
    content: str = "",
    other: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Hold ``quota``, run ``send`` (the upstream submit; it returns the row's columns or raises),
    then record the task and its charge. Any exception from ``send`` gives the hold back."""
    table_of(table)
    taken = await hold(host, owner.user_id, None if owner.unlimited else owner.token_id, quota)
    ledger = host.relay.ledger
    try:
        fields = await send()
        return await record(
            host,
            table=table,
            owner=owner,
            channel_id=channel_id,
            quota=quota,
            fields=fields,
            model=model,
            content=content,
            other=other,
        )
    finally:
        ledger.release(taken)


# -- progress, settle, refund -------------------------------------------------------------------


def _unfinished(cls: type[Table]) -> Any:
    return cls.status.not_in(list(FINAL))


async def update(host: Any, table: str, row_id: int, changes: Mapping[str, Any]) -> str:
    """Apply an upstream's report to an unfinished task.

    A final ``status`` settles (``SUCCESS``) or refunds (``FAILURE``) exactly once and answers
    ``"settled"`` / ``"refunded"``; other changes answer ``"updated"``; a task already final is
    left alone (``"final"``).
    """
    cls = table_of(table)
    values = _columns(cls, changes)
    if table == "tasks":
        values["updated_at"] = now_in(table)
    status = values.get("status")
    if status in FINAL:
        values.setdefault("progress", "100%")
        values.setdefault("finish_time", now_in(table))
        return "settled" if await finish(host, table, row_id, values) else "final"
    moved = await cls.update(values).where((cls.id == row_id) & _unfinished(cls)).returning(cls.id)
    return "updated" if moved else "final"


async def finish(host: Any, table: str, row_id: int, values: Mapping[str, Any]) -> bool:
    """Move a task to its final status; on ``FAILURE`` give its held quota back in the same
    transaction. True when this call made the move (and so did the refund, if any)."""
    cls = table_of(table)
    values = dict(values)
    failed = values.get("status") == FAILURE
    async with host.wallets.change() as change:
        moved = await cls.update(values).where((cls.id == row_id) & _unfinished(cls)).returning(*cls._meta.columns)
        if not moved:
            return False
        if failed:
            await _refund(host, change, table, moved[0], str(values.get("fail_reason") or ""))
    return True


def token_of(table: str, row: Mapping[str, Any]) -> int:
    """The key that paid for a task (0 when unknown, as in rows New API wrote before it kept it)."""
    if table == "midjourneys":
        return int(row.get("token_id") or 0)
    try:
        return int(json.loads(row.get("private_data") or "{}").get("token_id") or 0)
    except (ValueError, AttributeError):
        return 0


async def _refund(host: Any, change: Any, table: str, row: Mapping[str, Any], reason: str) -> None:
    quota = int(row["quota"] or 0)
    if quota <= 0:
        return
    user_id, token_id = int(row["user_id"]), token_of(table, row)
    channel_id = int(row.get("billing_channel_id") or row["channel_id"] or 0)
    user = await User.select(User.username).where(User.id == user_id).first()
    await User.update({User.quota: User.quota + quota, User.used_quota: User.used_quota - quota}).where(
        User.id == user_id
    )
    change.wallet(user_id, quota)
    token = None
    if token_id:
        token = await Token.select(Token.name, Token.unlimited_quota).where(Token.id == token_id).first()
    if token is not None:
        back = {Token.used_quota: Token.used_quota - quota}
        if not token["unlimited_quota"]:
            back[Token.remain_quota] = Token.remain_quota + quota
            change.key(token_id, quota)
        await Token.update(back).where(Token.id == token_id)
    if channel_id:
        await Channel.update({Channel.used_quota: Channel.used_quota - quota}).where(Channel.id == channel_id)
    public_id = row.get("mj_id") or row.get("task_id") or row["id"]
    model = _model_of(table, row)
    row_log = log_row(
        type=LOG_REFUND,
        user_id=user_id,
        username=user["username"] if user else "",
        token_id=token_id,
        token_name=token["name"] if token else "",
        group=str(row.get("group") or ""),
        model=model,
        quota=quota,
        content=f"task {public_id} failed ({reason or 'no reason given'}); {quota} quota refunded",
        channel_id=channel_id,
        request_id=new_request_id(),
        other={"task_id": public_id, "reason": reason},
    )
    await _write_log(host, row_log)


def _model_of(table: str, row: Mapping[str, Any]) -> str:
    if table == "midjourneys":
        action = str(row.get("action") or "").lower()
        return "swap_face" if action == "swap_face" else f"mj_{action}"
    try:
        props = json.loads(row.get("properties") or "{}")
    except ValueError:
        props = {}
    return str(props.get("origin_model_name") or f"{row.get('platform')}_{str(row.get('action') or '').lower()}")


# -- reading ------------------------------------------------------------------------------------


async def find(table: str, *, user_id: int | None = None, **match: Any) -> list[dict[str, Any]]:
    """Rows of ``table`` whose columns equal ``match`` (a list value means "one of"), newest first;
    only ``user_id``'s when given. Plugins answer their fetch routes from here."""
    cls = table_of(table)
    query = cls.select()
    if user_id is not None:
        query = query.where(cls.user_id == user_id)
    for name, value in match.items():
        column = cls._meta.get_column_by_name(name)
        if isinstance(value, (list, tuple, set)):
            if not value:
                return []
            query = query.where(column.is_in(list(value)))
        else:
            query = query.where(column == value)
    return await query.order_by(cls.id, ascending=False).limit(query_limit())


# -- polling ------------------------------------------------------------------------------------


async def poll(
    host: Any,
    table: str,
    fetch: Callable[[Any, list[dict[str, Any]]], Awaitable[Mapping[int, Mapping[str, Any]]]],
    *,
    platform: str | None = None,
    types: Sequence[int] = (),
    view: Callable[[Any], Any],
) -> dict[str, int]:
    """One polling pass: time out stale tasks, then ask ``fetch(channel, rows)`` for each channel's
    unfinished tasks and apply what it reports (``{row id: changes}``). Counts what happened."""
    cls = table_of(table)
    counts = {"timed_out": 0, "settled": 0, "refunded": 0, "updated": 0, "final": 0}
    query = cls.select().where(_unfinished(cls))
    if platform is not None:
        query = query.where(cls.platform == platform)
    rows = await query.order_by(cls.id).limit(query_limit())
    cutoff = now_in(table) - int(timeout_seconds() * TIME_SCALE[table])
    by_channel: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        submitted = int(row["submit_time"] or 0)
        if submitted and submitted < cutoff:
            stamp = now_in(table)
            values = {"status": FAILURE, "fail_reason": TIMED_OUT, "progress": "100%", "finish_time": stamp}
            if await finish(host, table, row["id"], values):
                counts["timed_out"] += 1
            continue
        by_channel.setdefault(int(row["channel_id"] or 0), []).append(row)
    for channel_id, batch in by_channel.items():
        entry = host.relay.index.by_id.get(channel_id)
        if entry is None or (types and entry.type not in types):
            continue  # the channel is gone: the tasks wait for it, or for their timeout
        try:
            reports = await fetch(view(entry), batch)
        except Exception:
            log.exception("polling %d %s on channel #%d failed", len(batch), table, channel_id)
            continue
        known = {row["id"] for row in batch}
        for row_id, changes in reports.items():
            if row_id not in known or not changes:
                continue
            try:
                outcome = await update(host, table, row_id, changes)
            except Exception:
                log.exception("updating %s #%d failed", table, row_id)
                continue
            if outcome == "settled":
                outcome = "refunded" if changes.get("status") == FAILURE else "settled"
            counts[outcome] += 1
    return counts
