"""Coarser dashboard sums beside ``quota_data`` (issue 15: the dashboard at 10M logs).

``quota_data`` keeps a row per user, model, hour, group, key and channel: with many users, keys
and channels that is close to a row per request, and the dashboard's charts, which want sums per
model and hour, per user and hour, and per user, model and hour, read all of them. Three tables
keep exactly those sums; the ledger adds to them in the transaction that writes the consume logs
and ``quota_data``, and this migration fills them from the ``quota_data`` already there.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine

ID = "2026-12-05T04:22:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "dashboard sums per model, user and hour"

SUMS = '"token_used" BIGINT NOT NULL DEFAULT 0, "count" BIGINT NOT NULL DEFAULT 0, "quota" BIGINT NOT NULL DEFAULT 0'
TABLES = (
    (
        "quota_data_models",
        '"created_at" BIGINT NOT NULL DEFAULT 0, "model_name" VARCHAR(255) NOT NULL DEFAULT \'\'',
        ("created_at", "model_name"),
        (),
    ),
    (
        "quota_data_user_models",
        '"user_id" INTEGER NOT NULL DEFAULT 0, "username" VARCHAR(64) NOT NULL DEFAULT \'\', '
        '"model_name" VARCHAR(255) NOT NULL DEFAULT \'\', "created_at" BIGINT NOT NULL DEFAULT 0',
        ("user_id", "model_name", "created_at"),
        (("username", "created_at"),),
    ),
    (
        "quota_data_users",
        '"user_id" INTEGER NOT NULL DEFAULT 0, "username" VARCHAR(64) NOT NULL DEFAULT \'\', '
        '"created_at" BIGINT NOT NULL DEFAULT 0',
        ("user_id", "created_at"),
        (("created_at",),),
    ),
)


def _names(columns) -> str:
    return ", ".join(f'"{c}"' for c in columns)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="newapi", description=DESCRIPTION)

    async def create():
        engine = engine_finder()
        serial = "SERIAL PRIMARY KEY" if isinstance(engine, PostgresEngine) else "INTEGER PRIMARY KEY"
        for table, columns, key, indexes in TABLES:
            await engine.run_ddl(f'CREATE TABLE IF NOT EXISTS "{table}" ("id" {serial}, {columns}, {SUMS})')
            await engine.run_ddl(f'CREATE UNIQUE INDEX IF NOT EXISTS {table}_key ON "{table}" ({_names(key)})')
            for extra in indexes:
                name = f"{table}_{'_'.join(extra)}"
                await engine.run_ddl(f'CREATE INDEX IF NOT EXISTS {name} ON "{table}" ({_names(extra)})')
            # what quota_data holds already; a user's newest name per bucket does not matter here,
            # the ledger's next write sets the current one
            named = "username" in columns
            pick = ', MAX("username")' if named else ""
            target = _names(key) + (', "username"' if named else "")
            await engine.run_ddl(
                f'INSERT INTO "{table}" ({target}, "token_used", "count", "quota") '
                f'SELECT {_names(key)}{pick}, SUM("token_used"), SUM("count"), SUM("quota") FROM quota_data '
                f"GROUP BY {_names(key)}"
            )

    async def drop():
        for table, _, _, _ in TABLES:
            await engine_finder().run_ddl(f'DROP TABLE IF EXISTS "{table}"')

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
