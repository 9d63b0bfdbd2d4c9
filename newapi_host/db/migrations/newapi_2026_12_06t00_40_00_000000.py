"""Daily flow sums keyed by a number (issue 15: ``/api/data/flow`` under 100 ms at 10M logs).

``quota_data_flow_days`` kept a day's sums per (user, key, group, model, channel, node). A week
of a busy gateway is a hundred thousand such rows, and summing them per key meant sorting them
on six columns, two of them text: 200 ms on SQLite at 10M logs. Each distinct key now gets a
number once (``quota_data_flow_keys``, never changed or reused) and the daily sums are kept per
(day, number) in ``quota_data_flow_sums``, so a range is summed by one integer; readers keep the
numbers' keys in memory. ``quota_data_flow_marks`` counts the writes to each day, so a reader
that kept past days' sums knows when to read them again. This migration numbers the keys already
summed and moves their sums.
"""

import importlib

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine

ID = "2026-12-06T00:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "numbered flow keys"

KEYS = "quota_data_flow_keys"
SUMS = "quota_data_flow_sums"
MARKS = "quota_data_flow_marks"
OLD = "quota_data_flow_days"
KEY = ("user_id", "token_id", "use_group", "model_name", "channel_id", "node_name")


def _names(columns) -> str:
    return ", ".join(f'"{c}"' for c in columns)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="newapi", description=DESCRIPTION)

    async def create():
        engine = engine_finder()
        postgres = isinstance(engine, PostgresEngine)
        serial = "SERIAL PRIMARY KEY" if postgres else "INTEGER PRIMARY KEY"
        await engine.run_ddl(
            f'CREATE TABLE IF NOT EXISTS "{KEYS}" ("id" {serial}, '
            '"user_id" INTEGER NOT NULL, "token_id" INTEGER NOT NULL, "use_group" VARCHAR(64) NOT NULL, '
            '"model_name" VARCHAR(255) NOT NULL, "channel_id" INTEGER NOT NULL, "node_name" VARCHAR(64) NOT NULL, '
            "\"username\" VARCHAR(64) NOT NULL DEFAULT '')"
        )
        await engine.run_ddl(f'CREATE UNIQUE INDEX IF NOT EXISTS {KEYS}_key ON "{KEYS}" ({_names(KEY)})')
        clustered = "" if postgres else " WITHOUT ROWID"
        await engine.run_ddl(
            f'CREATE TABLE IF NOT EXISTS "{SUMS}" ("created_at" BIGINT NOT NULL, "key_id" INTEGER NOT NULL, '
            '"user_id" INTEGER NOT NULL, "token_used" BIGINT NOT NULL DEFAULT 0, "count" BIGINT NOT NULL DEFAULT 0, '
            f'"quota" BIGINT NOT NULL DEFAULT 0, PRIMARY KEY ("created_at", "key_id")){clustered}'
        )
        await engine.run_ddl(f'CREATE INDEX IF NOT EXISTS {SUMS}_user ON "{SUMS}" ("user_id", "created_at")')
        await engine.run_ddl(
            f'CREATE TABLE IF NOT EXISTS "{MARKS}" ("created_at" BIGINT NOT NULL PRIMARY KEY, '
            '"writes" BIGINT NOT NULL DEFAULT 0)'
        )
        # the daily sums kept so far (a user's name: the newest the ledger wrote)
        await engine.run_ddl(
            f'INSERT INTO "{KEYS}" ({_names(KEY)}, "username") SELECT {_names(KEY)}, MAX("username") '
            f'FROM "{OLD}" WHERE 1 = 1 GROUP BY {_names(KEY)} ORDER BY {_names(KEY)} ON CONFLICT DO NOTHING'
        )
        joined = " AND ".join(f'k."{c}" = d."{c}"' for c in KEY)
        await engine.run_ddl(
            f'INSERT INTO "{SUMS}" ("created_at", "key_id", "user_id", "token_used", "count", "quota") '
            f'SELECT d."created_at", k."id", d."user_id", d."token_used", d."count", d."quota" '
            f'FROM "{OLD}" d JOIN "{KEYS}" k ON {joined} WHERE 1 = 1 ON CONFLICT DO NOTHING'
        )
        await engine.run_ddl(
            f'INSERT INTO "{MARKS}" ("created_at", "writes") SELECT DISTINCT "created_at", 1 FROM "{SUMS}" '
            "WHERE 1 = 1 ON CONFLICT DO NOTHING"
        )
        await engine.run_ddl(f'DROP TABLE IF EXISTS "{OLD}"')
        await engine.run_ddl(f'ANALYZE "{KEYS}"')
        await engine.run_ddl(f'ANALYZE "{SUMS}"')

    async def drop():
        engine = engine_finder()
        for table in (MARKS, SUMS, KEYS):
            await engine.run_ddl(f'DROP TABLE IF EXISTS "{table}"')
        # the previous migration's table again, filled from quota_data as that migration does
        previous = importlib.import_module(f"{__package__}.newapi_2026_12_05t22_00_00_000000")
        for step in (await previous.forwards()).raw:
            await step()

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
