"""Holds and settlement: the quota ledger.

Holds are reservations in this worker's memory, taken against the cached wallet and token
balances with New API's pre-consume formula (and its trust bypass); they never touch the
database. The database sees only settled charges: each flush (at least once a second) writes,
in one transaction, the atomic ``quota = quota - n`` updates of users, tokens and channels and
the consume-log rows that explain them. A crash can lose at most the last unflushed second of
charges and their log rows together, so the ledger and the logs always agree.

The same transaction adds the charges that have a consume-log row to the dashboard's hourly
``quota_data`` aggregates (unless the ``DataExportEnabled`` option is off), so the dashboard
always sums to the logs too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from piccolo.engine.postgres import PostgresEngine

from newapi_host.db.engine import insert_many, write_transaction
from newapi_host.db.tables import LOG_CONSUME, Channel, Log, QuotaData, Token, User

from .keys import KeyCache, TokenEntry

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


async def add_quota_data(rows: list[tuple[Any, ...]]) -> None:
    """Upsert-increment ``quota_data`` inside the current transaction (SQLite >= 3.24, PostgreSQL)."""
    engine = QuotaData._meta.db
    transaction = engine.current_transaction.get()
    if transaction is None:
        raise RuntimeError("add_quota_data must run inside a transaction")
    names = ", ".join(f'"{c}"' for c in QUOTA_DATA_COLUMNS)
    if isinstance(engine, PostgresEngine):
        marks = ", ".join(f"${i}" for i in range(1, len(QUOTA_DATA_COLUMNS) + 1))
    else:
        marks = ", ".join("?" for _ in QUOTA_DATA_COLUMNS)
    target = ", ".join(f'"{c}"' for c in QUOTA_DATA_KEY)
    sums = ", ".join(f'"{c}" = quota_data."{c}" + excluded."{c}"' for c in ("token_used", "count", "quota"))
    sql = (
        f"INSERT INTO quota_data ({names}) VALUES ({marks}) "
        f'ON CONFLICT ({target}) DO UPDATE SET {sums}, "username" = excluded."username"'
    )
    await transaction.connection.executemany(sql, rows)


@dataclass(slots=True)
class Charge:
    user_id: int
    token_id: int
    channel_id: int
    quota: int
    token_unlimited: bool
    count_request: bool = True
    log: dict[str, Any] | None = None  # a Log row's fields; None when consume logs are off


@dataclass
class Ledger:
    keys: KeyCache
    interval: float = 1.0
    max_batch: int = 1000
    options: Any = None  # newapi_host.options.Options; None counts as DataExportEnabled on
    _user_holds: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    _token_holds: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    _queue: list[Charge] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _flush_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending_quota: dict[int, int] = field(default_factory=lambda: defaultdict(int))  # per user, queued not flushed

    # -- holds ------------------------------------------------------------------------------

    def available(self, entry: TokenEntry) -> tuple[int, int | None]:
        """(wallet, token) quota left after this worker's holds and unflushed charges."""
        wallet = entry.user_quota - self._user_holds[entry.user_id] - self.pending_quota[entry.user_id]
        token = None if entry.unlimited_quota else entry.remain_quota - self._token_holds[entry.id]
        return wallet, token

    def hold(self, entry: TokenEntry, amount: int) -> str | None:
        """Reserve ``amount``; return None, or the reason it cannot be reserved."""
        wallet, token = self.available(entry)
        if wallet <= 0 or wallet < amount:
            return "user quota is not enough"
        if token is not None and token < amount:
            return "token quota is not enough"
        self._user_holds[entry.user_id] += amount
        self._token_holds[entry.id] += amount
        return None

    def release(self, entry: TokenEntry, amount: int) -> None:
        if amount:
            self._user_holds[entry.user_id] -= amount
            self._token_holds[entry.id] -= amount

    # -- settlement -------------------------------------------------------------------------

    def settle(self, charge: Charge) -> None:
        """Queue a charge (synchronous: safe in ``finally`` blocks of cancelled requests)."""
        self._queue.append(charge)
        self.pending_quota[charge.user_id] += charge.quota
        if len(self._queue) >= self.max_batch:
            self._wake.set()

    async def flush(self) -> int:
        async with self._flush_lock:
            batch, self._queue = self._queue, []
            if not batch:
                return 0
            try:
                await self._write(batch)
            except Exception:
                log.exception("writing %d charges failed; will retry", len(batch))
                self._queue[:0] = batch
                return 0
            for c in batch:
                self.pending_quota[c.user_id] -= c.quota
                if not self.pending_quota[c.user_id]:
                    del self.pending_quota[c.user_id]
                self.keys.adjust(c.token_id, c.user_id, c.quota)
            return len(batch)

    async def _write(self, batch: list[Charge]) -> None:
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
                rows.append(tuple(c.log[k] for k in LOG_COLUMNS))
                logs.append(c.log)
        export = self.options is None or self.options.get_bool("DataExportEnabled")
        buckets = quota_buckets(logs) if export else []
        async with write_transaction():
            for user_id, (quota, requests) in users.items():
                if not quota and not requests:
                    continue  # only error-log rows for this user in the batch
                await User.update(
                    {
                        User.quota: User.quota - quota,
                        User.used_quota: User.used_quota + quota,
                        User.request_count: User.request_count + requests,
                    }
                ).where(User.id == user_id)
            for token_id, (used, remain) in tokens.items():
                if not used and not remain:
                    continue
                await Token.update(
                    {Token.used_quota: Token.used_quota + used, Token.remain_quota: Token.remain_quota - remain}
                ).where(Token.id == token_id)
            for channel_id, quota in channels.items():
                await Channel.update({Channel.used_quota: Channel.used_quota + quota}).where(Channel.id == channel_id)
            if rows:
                await insert_many(Log, LOG_COLUMNS, rows)
            if buckets:
                await add_quota_data(buckets)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            await self.flush()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ledger-flush")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for _ in range(3):  # write what is left before the process goes
            await self.flush()
            if not self._queue:
                break
