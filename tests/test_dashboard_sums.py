"""The dashboard's coarser sums (per model, per user, per user and model, each per hour) always
equal ``quota_data`` summed the same way: written by the ledger in its transaction, and filled
from the ``quota_data`` already there by their migration."""

from __future__ import annotations

import importlib
import random
import time

from newapi_host.auth.users import create_user
from newapi_host.billing.ledger import add_quota_data, quota_buckets
from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import QuotaByModel, QuotaByUser, QuotaByUserModel, QuotaData

from .conftest import running
from .test_api_data import charge

MIGRATION = importlib.import_module("newapi_host.db.migrations.newapi_2026_12_05t04_22_00_000000")


async def summed(table, key: tuple[str, ...]) -> dict:
    out = {}
    for row in await table.select():
        out[tuple(row[k] for k in key)] = (row["count"], row["quota"], row["token_used"])
    return out


async def expected(key: tuple[str, ...]) -> dict:
    out: dict = {}
    for row in await QuotaData.select():
        total = out.setdefault(tuple(row[k] for k in key), [0, 0, 0])
        total[0] += row["count"]
        total[1] += row["quota"]
        total[2] += row["token_used"]
    return {k: tuple(v) for k, v in out.items()}


CASES = (
    (QuotaByModel, ("created_at", "model_name")),
    (QuotaByUserModel, ("user_id", "model_name", "created_at")),
    (QuotaByUser, ("user_id", "created_at")),
)


async def check_sums() -> None:
    for table, key in CASES:
        assert await summed(table, key) == await expected(key), table
    names = {r["user_id"]: r["username"] for r in await QuotaByUser.select(QuotaByUser.user_id, QuotaByUser.username)}
    assert all(name.startswith("dash") for name in names.values())


async def test_the_ledger_keeps_the_coarser_sums_equal_to_quota_data(db_config):
    async with running(db_config) as client:
        ledger = client.app.state.host.relay.ledger
        users = [await create_user(f"dash{i}", f"dash-pass-{i}", quota=10**9) for i in range(3)]
        rng = random.Random(2)
        now = int(time.time())
        for _round in range(3):
            for _charge in range(80):
                ledger.settle(
                    charge(rng.choice(users), rng.choice(("m1", "m2", "m3")), now - rng.randint(0, 5 * 3600),
                           rng.randint(1, 50), rng.randint(1, 9), rng.randint(0, 9), group=rng.choice(("a", "b")),
                           token_id=rng.randint(1, 4), channel_id=rng.randint(1, 5))
                )  # fmt: skip
            assert await ledger.flush() == 80
            await check_sums()


async def test_the_migration_fills_the_sums_from_existing_quota_data(sqlite_config):
    async with running(sqlite_config):
        users = [await create_user(f"dash{i}", f"dash-pass-{i}") for i in range(2)]
        now = int(time.time())
        logs = [
            charge(users[i % 2], f"m{i % 3}", now - i * 600, i, 2, 3, token_id=i % 4, channel_id=i % 5).log
            for i in range(60)
        ]
        async with write_transaction():
            await add_quota_data(sorted(quota_buckets(logs)))  # as an older version wrote them: no sums
        for table, _ in CASES:
            await table.delete(force=True)
        manager = await MIGRATION.forwards()
        for step in manager.raw:  # CREATE ... IF NOT EXISTS, then the fill
            await step()
        await check_sums()
