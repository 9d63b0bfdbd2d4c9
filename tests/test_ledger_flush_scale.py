"""Ledger flushes over many keys: two workers' flushes never deadlock on PostgreSQL, totals stay
exact, and a flush costs a statement per table rather than one per user, key and channel."""

from __future__ import annotations

import asyncio
import random

import pytest

from newapi_host.billing import ledger as ledgers
from newapi_host.billing.ledger import Charge, write_charges
from newapi_host.config import Config
from newapi_host.db.tables import LOG_CONSUME, Channel, Log, QuotaData, Token, User

from .conftest import fresh_pg_database, running

USERS, TOKENS_PER_USER, CHANNELS = 120, 3, 40
START = 10_000_000
UNLIMITED: set[int] = set()  # ids of the unlimited keys made by make_rows


async def make_rows() -> tuple[list[int], list[tuple[int, int]], list[int]]:
    """Users, (token id, owner) pairs and channels, inserted in bulk."""
    await User.insert(*[User(username=f"u{i}", password="x", quota=START) for i in range(USERS)])
    users = [r["id"] for r in await User.select(User.id).where(User.username.like("u%")).order_by(User.id)]
    tokens = [
        Token(user_id=u, key=f"{u:08d}{k:02d}".ljust(48, "k"), name=f"k{k}", remain_quota=START, unlimited_quota=k == 2)
        for u in users
        for k in range(TOKENS_PER_USER)
    ]
    await Token.insert(*tokens)
    found = await Token.select(Token.id, Token.user_id, Token.unlimited_quota).order_by(Token.id)
    pairs = [(r["id"], r["user_id"]) for r in found]
    UNLIMITED.clear()
    UNLIMITED.update(r["id"] for r in found if r["unlimited_quota"])
    await Channel.insert(*[Channel(name=f"c{i}", key="sk", type=1) for i in range(CHANNELS)])
    channels = [r["id"] for r in await Channel.select(Channel.id).order_by(Channel.id)]
    return users, pairs, channels


def charges(seed: int, pairs: list[tuple[int, int]], channels: list[int], n: int) -> list[Charge]:
    """``n`` charges in a random arrival order (each worker's order differs)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        token_id, user_id = rng.choice(pairs)
        channel_id = rng.choice(channels)
        quota = rng.randint(1, 50)
        log = {name: "" for name in ledgers.LOG_COLUMNS}
        log.update(
            user_id=user_id, created_at=1_700_000_000 + rng.randint(0, 3) * 3600, type=LOG_CONSUME,
            username=f"u{user_id}", model_name=rng.choice(("a", "b")), quota=quota, prompt_tokens=1,
            completion_tokens=2, use_time=0, is_stream=False, channel_id=channel_id, token_id=token_id,
            group="default", request_id=f"r{seed}-{i}", other="{}",
        )  # fmt: skip
        out.append(Charge(user_id, token_id, channel_id, quota, token_id in UNLIMITED, log=log))
    return out


async def check_totals(batches: list[list[Charge]], pairs: list[tuple[int, int]]) -> None:
    every = [c for b in batches for c in b]
    users = {r["id"]: r for r in await User.select(User.id, User.quota, User.used_quota, User.request_count)}
    for uid in {c.user_id for c in every}:
        spent = sum(c.quota for c in every if c.user_id == uid)
        count = sum(1 for c in every if c.user_id == uid)
        row = users[uid]
        assert (START - row["quota"], row["used_quota"], row["request_count"]) == (spent, spent, count)
    tokens = {r["id"]: r for r in await Token.select(Token.id, Token.remain_quota, Token.used_quota)}
    for tid, _ in pairs:
        used = sum(c.quota for c in every if c.token_id == tid)
        remain = sum(c.quota for c in every if c.token_id == tid and not c.token_unlimited)
        assert (tokens[tid]["used_quota"], START - tokens[tid]["remain_quota"]) == (used, remain)
    chans = {r["id"]: r["used_quota"] for r in await Channel.select(Channel.id, Channel.used_quota)}
    for cid, used in chans.items():
        assert used == sum(c.quota for c in every if c.channel_id == cid)
    assert await Log.count().where(Log.type == LOG_CONSUME) == len(every)
    sums = await QuotaData.select(QuotaData.quota, QuotaData.count)
    assert sum(r["quota"] for r in sums) == sum(c.quota for c in every)
    assert sum(r["count"] for r in sums) == len(every)


@pytest.mark.postgres
async def test_two_workers_flushes_over_many_keys_never_deadlock_on_postgres(tmp_path):
    async with fresh_pg_database() as dsn:
        config = Config(data_dir=tmp_path, sql_dsn=dsn, session_secret="s", sync_interval=0.1)
        async with running(config):
            _, pairs, channels = await make_rows()
            done: list[list[Charge]] = []
            for round_ in range(4):
                # two workers' batches over the same keys, each in its own arrival order
                a = charges(2 * round_, pairs, channels, 400)
                b = charges(2 * round_ + 1, pairs, channels, 400)
                await asyncio.gather(write_charges(a, None, True), write_charges(b, None, True))
                done += [a, b]
            await check_totals(done, pairs)


async def test_a_flush_is_exact_on_sqlite(sqlite_config: Config):
    async with running(sqlite_config):
        _, pairs, channels = await make_rows()
        batches = [charges(seed, pairs, channels, 300) for seed in range(3)]
        for batch in batches:
            await write_charges(batch, None, True)
        await check_totals(batches, pairs)
