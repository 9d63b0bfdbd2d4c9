"""Holds and settlement: the quota ledger.

A hold reserves New API's pre-consume amount against the shared live balances (see
:mod:`newapi_host.billing.wallets`) before the upstream call, with New API's trust bypass; a
settlement gives the hold back and takes the charge, on the same balances, at once. Every worker
and node sees both immediately, so sequential requests never overdraw a wallet.

The database sees only settled charges: each flush (at least once a second) writes, in one
transaction, the atomic ``quota = quota - n`` updates of users, tokens and channels, the
consume-log rows that explain them, and the journal position they reach. Before a charge is
queued it is appended to this worker's journal (:mod:`newapi_host.billing.journal`), so a
charge survives a failed flush, a stop and a killed process, and is written exactly once.

The same transaction adds the charges that have a consume-log row to the dashboard's hourly
``quota_data`` aggregates (unless the ``DataExportEnabled`` option is off), so the dashboard
always sums to the logs too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import operator
import time
from collections import defaultdict
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

from newapi_host.db.engine import insert_many, write_transaction
from newapi_host.db.tables import LOG_CONSUME, Channel, LedgerJournal, Log, QuotaData, Token, User
from newapi_host.store import NO_AMOUNT, Outcome, Reservation, token_key, user_key

if TYPE_CHECKING:
    from .journal import Journal
    from .wallets import Wallets

log = logging.getLogger(__name__)


LOG_COLUMNS = (
    "user_id",
    "created_at",
    "type",
    "content",
    "username",
    "token_name",
    "model_name",
    "quota",
    "prompt_tokens",
    "completion_tokens",
    "use_time",
    "is_stream",
    "channel_id",
    "token_id",
    "group",
    "ip",
    "request_id",
    "upstream_request_id",
    "other",
)
_LOG_VALUES = operator.itemgetter(*LOG_COLUMNS)  # a log dict's row, in LOG_COLUMNS order


def log_row(
    *,
    type: int,
    user_id: int,
    username: str,
    token_id: int,
    token_name: str,
    group: str,
    model: str,
    quota: int = 0,
    content: str = "",
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    use_time: int = 0,
    is_stream: bool = False,
    channel_id: int = 0,
    request_id: str = "",
    other: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``logs`` row in New API's shape: the relay, the error log and plugins build theirs here."""
    return {
        "user_id": user_id,
        "created_at": int(time.time()),
        "type": type,
        "content": content,
        "username": username,
        "token_name": token_name,
        "model_name": model,
        "quota": quota,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "use_time": use_time,
        "is_stream": is_stream,
        "channel_id": channel_id,
        "token_id": token_id,
        "group": group,
        "ip": "",
        "request_id": request_id,
        "upstream_request_id": "",
        "other": msgspec.json.encode(dict(other or {})).decode(),
    }


QUOTA_DATA_KEY = ("user_id", "model_name", "created_at", "use_group", "token_id", "channel_id", "node_name")
QUOTA_DATA_COLUMNS = (*QUOTA_DATA_KEY, "username", "token_used", "count", "quota")
NODE_NAME = ""  # New API's node name; one logical node here


def quota_buckets(logs: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Consume-log rows summed per (user, model, hour, group, token, channel): QUOTA_DATA_COLUMNS rows."""
    buckets: dict[tuple[Any, ...], list[Any]] = {}
    for row in logs:
        if row["type"] != LOG_CONSUME:
            continue
        created = int(row["created_at"])
        key = (row["user_id"], row["model_name"], created - created % 3600, row["group"], row["token_id"])
        key = (*key, row["channel_id"], NODE_NAME)
        bucket = buckets.setdefault(key, [row["username"], 0, 0, 0])
        bucket[0] = row["username"]  # the newest name wins, as the row is keyed by user id
        bucket[1] += int(row["prompt_tokens"]) + int(row["completion_tokens"])
        bucket[2] += 1
        bucket[3] += int(row["quota"])
    return [(*key, *values) for key, values in buckets.items()]


QUOTA_DATA_TYPES = ("int", "text", "bigint", "text", "int", "int", "text", "text", "bigint", "int", "bigint")


async def add_quota_data(rows: list[tuple[Any, ...]]) -> None:
    """Upsert-increment ``quota_data`` inside the current transaction (SQLite >= 3.24, PostgreSQL).

    PostgreSQL gets every bucket in one statement (``unnest`` of column arrays); the rows should
    come sorted by key so two workers' upserts lock shared buckets in the same order.
    """
    engine = QuotaData._meta.db
    transaction = engine.current_transaction.get()
    if transaction is None:
        raise RuntimeError("add_quota_data must run inside a transaction")
    names = ", ".join(f'"{c}"' for c in QUOTA_DATA_COLUMNS)
    target = ", ".join(f'"{c}"' for c in QUOTA_DATA_KEY)
    sums = ", ".join(f'"{c}" = quota_data."{c}" + excluded."{c}"' for c in ("token_used", "count", "quota"))
    conflict = f'ON CONFLICT ({target}) DO UPDATE SET {sums}, "username" = excluded."username"'
    if isinstance(engine, PostgresEngine):
        arrays = ", ".join(f"${i + 1}::{kind}[]" for i, kind in enumerate(QUOTA_DATA_TYPES))
        sql = f"INSERT INTO quota_data ({names}) SELECT * FROM unnest({arrays}) {conflict}"
        await transaction.connection.execute(sql, *(list(column) for column in zip(*rows, strict=True)))
        return
    marks = ", ".join("?" for _ in QUOTA_DATA_COLUMNS)
    await transaction.connection.executemany(f"INSERT INTO quota_data ({names}) VALUES ({marks}) {conflict}", rows)


# The dashboard's coarser sums (tables QuotaByModel, QuotaByUserModel, QuotaByUser; the daily flow
# sums read by /api/data/flow are add_flow_sums's): for each, its table, key columns (positions in
# a QUOTA_DATA_COLUMNS row), whether it keeps the username, and its time bucket in seconds.
FLOW_DAY = 86400
SUMMARIES = (
    ("quota_data_models", (("created_at", 2, "bigint"), ("model_name", 1, "text")), False, 3600),
    (
        "quota_data_user_models",
        (("user_id", 0, "int"), ("model_name", 1, "text"), ("created_at", 2, "bigint")),
        True,
        3600,
    ),
    ("quota_data_users", (("user_id", 0, "int"), ("created_at", 2, "bigint")), True, 3600),
)


async def add_summaries(buckets: list[tuple[Any, ...]]) -> None:
    """Add ``quota_data`` bucket rows to the coarser dashboard sums (inside the transaction)."""
    engine = QuotaData._meta.db
    transaction = engine.current_transaction.get()
    if transaction is None:
        raise RuntimeError("add_summaries must run inside a transaction")
    postgres = isinstance(engine, PostgresEngine)
    for table, key, named, period in SUMMARIES:
        sums: dict[tuple[Any, ...], list[Any]] = {}
        for row in buckets:
            values = tuple(row[i] - row[i] % period if i == 2 else row[i] for _, i, _ in key)
            total = sums.setdefault(values, [row[7], 0, 0, 0])
            total[0] = row[7]  # the newest username
            total[1] += row[8]
            total[2] += row[9]
            total[3] += row[10]
        rows = [(*k, *(v if named else v[1:])) for k, v in sorted(sums.items())]  # sorted: locks in key order
        columns = [name for name, _, _ in key] + (["username"] if named else []) + ["token_used", "count", "quota"]
        names = ", ".join(f'"{c}"' for c in columns)
        added = ", ".join(f'"{c}" = "{table}"."{c}" + excluded."{c}"' for c in ("token_used", "count", "quota"))
        if named:
            added += ', "username" = excluded."username"'
        conflict = f"ON CONFLICT ({', '.join(f'{chr(34)}{n}{chr(34)}' for n, _, _ in key)}) DO UPDATE SET {added}"
        if postgres:
            kinds = [kind for _, _, kind in key] + (["text"] if named else []) + ["bigint"] * 3
            arrays = ", ".join(f"${i + 1}::{kind}[]" for i, kind in enumerate(kinds))
            sql = f'INSERT INTO "{table}" ({names}) SELECT * FROM unnest({arrays}) {conflict}'
            await transaction.connection.execute(sql, *(list(c) for c in zip(*rows, strict=True)))
        else:
            marks = ", ".join("?" for _ in columns)
            await transaction.connection.executemany(
                f'INSERT INTO "{table}" ({names}) VALUES ({marks}) {conflict}', rows
            )
    if buckets:
        await add_flow_sums(buckets, postgres, transaction.connection)


FLOW_KEYS, FLOW_SUMS, FLOW_MARKS = "quota_data_flow_keys", "quota_data_flow_sums", "quota_data_flow_marks"
FLOW_KEY = ("user_id", "token_id", "use_group", "model_name", "channel_id", "node_name")
FLOW_KEY_AT = (0, 4, 3, 1, 5, 6)  # their places in a QUOTA_DATA_COLUMNS row
FLOW_KEY_TYPES = ("int", "int", "text", "text", "int", "text")


async def add_flow_sums(buckets: list[tuple[Any, ...]], postgres: bool, connection: Any) -> None:
    """Add bucket rows to the daily flow sums: number any key not seen before, then sum per (day, number).

    A key's number is taken inside the transaction (insert if missing, then read), never cached
    here: a rolled-back flush must not leave a number behind that another key could be given.
    Each day written gets its mark bumped, which tells readers that kept the day's sums to read
    them again.
    """
    sums: dict[tuple[Any, ...], list[Any]] = {}
    for row in buckets:
        key = tuple(row[i] for i in FLOW_KEY_AT)
        total = sums.setdefault((row[2] - row[2] % FLOW_DAY, *key), [row[7], 0, 0, 0])
        total[0] = row[7]
        total[1] += row[8]
        total[2] += row[9]
        total[3] += row[10]
    named = {day_key[1:]: total[0] for day_key, total in sorted(sums.items())}  # the newest name
    keys = [(*key, name) for key, name in sorted(named.items())]  # sorted: locks in key order
    rows = [(*k, *v[1:]) for k, v in sorted(sums.items())]
    names = ", ".join(f'"{c}"' for c in FLOW_KEY)
    same = " AND ".join(f'k."{c}" = u."{c}"' for c in FLOW_KEY)
    added = ", ".join(f'"{c}" = "{FLOW_SUMS}"."{c}" + excluded."{c}"' for c in ("token_used", "count", "quota"))
    upsert = f'ON CONFLICT ("created_at", "key_id") DO UPDATE SET {added}'
    number = f'INSERT INTO "{FLOW_KEYS}" ({names}, "username")'
    days = sorted({row[0] for row in rows})
    marked = f'INSERT INTO "{FLOW_MARKS}" ("created_at", "writes")'
    bump = f'ON CONFLICT ("created_at") DO UPDATE SET "writes" = "{FLOW_MARKS}"."writes" + 1'
    if postgres:
        arrays = ", ".join(f"${i + 1}::{kind}[]" for i, kind in enumerate((*FLOW_KEY_TYPES, "text")))
        columns = (list(c) for c in zip(*keys, strict=True))
        await connection.execute(f"{number} SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING", *columns)
        kinds = ("bigint", *FLOW_KEY_TYPES, "bigint", "bigint", "bigint")
        arrays = ", ".join(f"${i + 1}::{kind}[]" for i, kind in enumerate(kinds))
        await connection.execute(
            f'INSERT INTO "{FLOW_SUMS}" ("created_at", "key_id", "user_id", "token_used", "count", "quota") '
            f'SELECT u."created_at", k."id", u."user_id", u."token_used", u."count", u."quota" '
            f'FROM unnest({arrays}) AS u("created_at", {names}, "token_used", "count", "quota") '
            f'JOIN "{FLOW_KEYS}" k ON {same} ORDER BY u."created_at", k."id" {upsert}',
            *(list(c) for c in zip(*rows, strict=True)),
        )
        await connection.execute(f"{marked} SELECT unnest($1::bigint[]), 1 {bump}", days)
        return
    marks = ", ".join("?" for _ in range(len(FLOW_KEY) + 1))
    await connection.executemany(f"{number} VALUES ({marks}) ON CONFLICT DO NOTHING", keys)
    find = " AND ".join(f'k."{c}" = ?' for c in FLOW_KEY)
    await connection.executemany(
        f'INSERT INTO "{FLOW_SUMS}" ("created_at", "key_id", "user_id", "token_used", "count", "quota") '
        f'SELECT ?, k."id", k."user_id", ?, ?, ? FROM "{FLOW_KEYS}" k WHERE {find} {upsert}',
        [(r[0], *r[7:], *r[1:7]) for r in rows],
    )
    await connection.executemany(f"{marked} VALUES (?, 1) {bump}", [(day,) for day in days])


@dataclass(slots=True)
class Charge:
    user_id: int
    token_id: int
    channel_id: int
    quota: int
    token_unlimited: bool
    count_request: bool = True
    log: dict[str, Any] | None = None  # a Log row's fields; None when consume logs are off
    # Filled in by the ledger: the journal's number for it, and the hold it settles.
    seq: int = 0
    hold_id: int = 0
    held: int = 0
    applied: bool = True  # its balance move has reached the shared store


async def add_to_rows(table: type[Table], columns: tuple[str, ...], rows: list[tuple[int, ...]]) -> None:
    """Add deltas to ``columns`` of many rows in one statement: each row is ``(id, *deltas)``.

    Rows are locked in id order (an explicit ``SELECT ... ORDER BY id FOR UPDATE`` first on
    PostgreSQL, whose ``UPDATE ... FROM`` locks in whatever order its join produces), so two
    workers' flushes over the same rows wait for each other instead of deadlocking. SQLite's
    write transaction already excludes other writers; there ``executemany`` runs the per-row
    statement in the driver.
    """
    if not rows:
        return
    rows = sorted(rows)
    name = table._meta.tablename
    engine = table._meta.db
    transaction = engine.current_transaction.get()
    if transaction is None:
        raise RuntimeError("add_to_rows must run inside a transaction")
    connection = transaction.connection
    if isinstance(engine, PostgresEngine):
        ids = [row[0] for row in rows]
        await connection.execute(f'SELECT 1 FROM "{name}" WHERE id = ANY($1::int[]) ORDER BY id FOR UPDATE', ids)
        sets = ", ".join(f'"{c}" = t."{c}" + v.d{i}' for i, c in enumerate(columns))
        arrays = ", ".join(f"${i + 2}::bigint[]" for i in range(len(columns)))
        deltas = ", ".join(f"d{i}" for i in range(len(columns)))
        sql = f'UPDATE "{name}" AS t SET {sets} FROM unnest($1::int[], {arrays}) AS v(id, {deltas}) WHERE t.id = v.id'
        await connection.execute(sql, ids, *([row[i + 1] for row in rows] for i in range(len(columns))))
    else:
        sets = ", ".join(f'"{c}" = "{c}" + ?' for c in columns)
        await connection.executemany(f'UPDATE "{name}" SET {sets} WHERE id = ?', [(*r[1:], r[0]) for r in rows])


async def write_charges(batch: list[Charge], journal: str | None, export: bool) -> None:
    """Write settled charges, their log rows and the journal position in one transaction.

    A flush costs a few statements whatever number of users, keys and channels it touches
    (:func:`add_to_rows`), and locks their rows in id order, table by table, so two workers'
    flushes never deadlock each other on PostgreSQL.
    """
    users: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    tokens: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    channels: dict[int, int] = defaultdict(int)
    rows = []
    logs = []
    for c in batch:
        users[c.user_id][0] += c.quota
        users[c.user_id][1] += 1 if c.count_request else 0
        tokens[c.token_id][0] += c.quota
        tokens[c.token_id][1] += 0 if c.token_unlimited else c.quota
        if c.channel_id:
            channels[c.channel_id] += c.quota
        if c.log is not None:
            rows.append(_LOG_VALUES(c.log))
            logs.append(c.log)
    buckets = sorted(quota_buckets(logs)) if export else []  # upserts lock in key order too
    last = max((c.seq for c in batch), default=0)
    # only error-log rows for a user or key in the batch: nothing to add
    user_rows = [(uid, -quota, quota, requests) for uid, (quota, requests) in users.items() if quota or requests]
    token_rows = [(tid, used, -remain) for tid, (used, remain) in tokens.items() if used or remain]
    async with write_transaction():
        await add_to_rows(User, ("quota", "used_quota", "request_count"), user_rows)
        await add_to_rows(Token, ("used_quota", "remain_quota"), token_rows)
        await add_to_rows(Channel, ("used_quota",), list(channels.items()))
        if rows:
            await insert_many(Log, LOG_COLUMNS, rows)
        if buckets:
            await add_quota_data(buckets)
            await add_summaries(buckets)
        if journal is not None and last:
            await LedgerJournal.insert(LedgerJournal(name=journal, seq=last)).on_conflict(
                target=LedgerJournal.name, action="DO UPDATE", values=[LedgerJournal.seq]
            )


@dataclass(slots=True)
class Hold:
    """A reservation against a wallet and, for a limited key, the key."""

    id: int
    user_id: int
    token_id: int | None  # None: the key is unlimited, only the wallet was reserved
    amount: int

    def balances(self) -> list[str]:
        return [user_key(self.user_id)] + ([token_key(self.token_id)] if self.token_id is not None else [])


def settle_deltas(charge: Charge) -> list[tuple[str, int]]:
    """What settling ``charge`` does to the shared balances: give back its hold, take its quota."""
    move = charge.held - charge.quota
    if not move:
        return []
    deltas = [(user_key(charge.user_id), move)]
    if not charge.token_unlimited:
        deltas.append((token_key(charge.token_id), move))
    return deltas


class Ledger:
    """This worker's holds and its queue of settled charges."""

    def __init__(
        self,
        wallets: Wallets,
        journal: Journal | None = None,
        *,
        options: Any = None,  # newapi_host.options.Options; None counts as DataExportEnabled on
        interval: float = 1.0,
        max_batch: int = 1000,
    ) -> None:
        self.wallets = wallets
        self.journal = journal
        self.options = options
        self.interval = interval
        self.max_batch = max_batch
        self._holds: dict[int, Hold] = {}
        self._next_hold = 1
        self._queue: list[Charge] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._flush_lock = asyncio.Lock()

    @property
    def queued(self) -> int:
        """Settled charges waiting to be written to the database (the metrics' ledger queue)."""
        return len(self._queue)

    # -- holds ------------------------------------------------------------------------------

    async def reserve(
        self, user_id: int, token_id: int | None, amount: int, trust: int
    ) -> tuple[Reservation, Hold | None]:
        """Reserve ``amount`` (``token_id`` None for an unlimited key); the hold, when one was taken.

        ``amount`` may be ``NO_AMOUNT`` when the caller expects the trust bypass; the outcome
        ``NEED_AMOUNT`` then asks for it.
        """
        result = await self.wallets.reserve(user_id, token_id, amount, trust)
        if result.outcome is not Outcome.RESERVED or amount == NO_AMOUNT:
            return result, None
        hold = Hold(self._next_hold, user_id, token_id, amount)
        self._next_hold += 1
        self._holds[hold.id] = hold
        if self.journal is not None:
            self.journal.hold(hold)
        return result, hold

    def release(self, hold: Hold | None) -> None:
        """Give a hold back unused (synchronous: safe in ``finally`` blocks); a second call does nothing."""
        if hold is None or self._holds.pop(hold.id, None) is None:
            return
        if self.journal is not None:
            self.journal.release(hold.id)
        self._track(self.wallets.apply_soon([(key, hold.amount) for key in hold.balances()]), None)

    def open_holds(self) -> list[Hold]:
        return list(self._holds.values())

    # -- settlement -------------------------------------------------------------------------

    def settle(self, charge: Charge, hold: Hold | None = None) -> Awaitable[None] | None:
        """Settle a charge against its hold (synchronous: safe in ``finally`` blocks).

        The hold goes back and the charge is taken from the shared balances at once; the charge
        is journaled and queued for the database. Returns an awaitable when the balance move is
        still on its way (Redis): await it before telling the client the request is done.
        """
        if hold is not None and self._holds.pop(hold.id, None) is not None:
            charge.hold_id, charge.held = hold.id, hold.amount
        deltas = settle_deltas(charge)
        pending = self.wallets.apply_soon(deltas) if deltas else None
        charge.applied = pending is None
        if self.journal is not None:
            self.journal.charge(charge)
        elif self._stopping:
            log.error("a charge of %d quota settled after the ledger stopped is lost", charge.quota)
        self._track(pending, charge)
        self._queue.append(charge)
        if len(self._queue) >= self.max_batch:
            self._wake.set()
        return pending

    def _track(self, pending: Awaitable[None] | None, charge: Charge | None) -> None:
        """Note in the journal when an asynchronous balance move has landed."""
        if pending is None or not isinstance(pending, asyncio.Future):
            return

        def done(task: asyncio.Future[None]) -> None:
            if task.cancelled() or task.exception() is not None:
                return  # the journal still says "not applied": a replay applies it
            if charge is not None:
                charge.applied = True
                if self.journal is not None and charge.seq:
                    with contextlib.suppress(OSError):
                        self.journal.applied(charge.seq)

        pending.add_done_callback(done)

    async def flush(self) -> int:
        async with self._flush_lock:
            batch, self._queue = self._queue, []
            if not batch:
                return 0
            export = self.options is None or self.options.get_bool("DataExportEnabled")
            name = self.journal.name if self.journal is not None else None
            try:
                await write_charges(batch, name, export)
            except BaseException as exc:  # cancelled mid-write too: the batch must not be lost
                self._queue[:0] = batch
                if isinstance(exc, Exception):
                    log.exception("writing %d charges failed; will retry", len(batch))
                    return 0
                raise
            self._compact()
            return len(batch)

    def _compact(self) -> None:
        if self.journal is not None and self.journal.too_long():
            self.journal.rewrite(list(self._holds.values()), list(self._queue))

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            await self.flush()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ledger-flush")

    async def stop(self) -> None:
        """Write everything queued; what cannot be written stays in the journal for the next start."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task  # finishes the flush it is in, then ends
            self._task = None
        for attempt in range(3):
            await self.flush()
            if not self._queue:
                break
            await asyncio.sleep(0.2 * (attempt + 1))
        if self._queue:
            log.error(
                "%d charges could not be written at stop; the journal keeps them for the next start", len(self._queue)
            )
        if self.journal is not None:
            if not self._queue and not self._holds:
                self.journal.rewrite([], [])
            self.journal.close()
            self.journal = None  # a settlement after this point is lost with the process, and said so
