"""Daily flow sums beside ``quota_data`` (issue 15: ``/api/data/flow`` at 10M logs).

The flow views total a range per user, key, group, model, channel and node: ``quota_data``'s own
key without the hour. Summing its hourly rows made them read about as many rows as there are
requests; ``quota_data_flow_days`` keeps the same sums per day, written by the ledger in the
transaction that writes ``quota_data``, and this migration fills it from the rows already there.
Its primary key starts with the day, so a range is one ordered read (SQLite stores the rows in
that order: ``WITHOUT ROWID``); ``(user_id, created_at)`` serves one user's flow.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine

ID = "2026-12-05T22:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "daily flow sums"

TABLE = "quota_data_flow_days"
KEY = ("created_at", "user_id", "token_id", "use_group", "model_name", "channel_id", "node_name")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="newapi", description=DESCRIPTION)

    async def create():
        engine = engine_finder()
        key = ", ".join(f'"{c}"' for c in KEY)
        clustered = "" if isinstance(engine, PostgresEngine) else " WITHOUT ROWID"
        await engine.run_ddl(
            f'CREATE TABLE IF NOT EXISTS "{TABLE}" ('
            '"created_at" BIGINT NOT NULL, "user_id" INTEGER NOT NULL, "token_id" INTEGER NOT NULL, '
            '"use_group" VARCHAR(64) NOT NULL, "model_name" VARCHAR(255) NOT NULL, '
            '"channel_id" INTEGER NOT NULL, "node_name" VARCHAR(64) NOT NULL, '
            "\"username\" VARCHAR(64) NOT NULL DEFAULT '', "
            '"token_used" BIGINT NOT NULL DEFAULT 0, "count" BIGINT NOT NULL DEFAULT 0, '
            f'"quota" BIGINT NOT NULL DEFAULT 0, PRIMARY KEY ({key})){clustered}'
        )
        await engine.run_ddl(f'CREATE INDEX IF NOT EXISTS {TABLE}_user ON "{TABLE}" ("user_id", "created_at")')
        # what quota_data holds already (a user's newest name is set by the ledger's next write)
        columns = ", ".join(f'"{c}"' for c in KEY[1:])
        await engine.run_ddl(
            f'INSERT INTO "{TABLE}" ({key}, "username", "token_used", "count", "quota") '
            f'SELECT "created_at" - "created_at" % 86400, {columns}, MAX("username"), SUM("token_used"), '
            f'SUM("count"), SUM("quota") FROM quota_data WHERE 1 = 1 GROUP BY 1, {columns} '
            "ON CONFLICT DO NOTHING"
        )
        await engine.run_ddl(f'ANALYZE "{TABLE}"')

    async def drop():
        await engine_finder().run_ddl(f'DROP TABLE IF EXISTS "{TABLE}"')

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
