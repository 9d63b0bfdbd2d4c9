"""Log indexes that match the console's filters (issue 15: reads at 10M logs).

Each filter of the log lists and stats gets a composite index ending in ``(created_at, id)`` or
``id``, so a filtered page is read newest first straight from the index and stops after one page,
instead of sorting every match: ``(model_name, created_at, id)``, ``(token_name, ...)``,
``(username, ...)``, ``(channel_id, ...)``, ``(user_id, ...)``, ``(type, ...)``, and
``(user_id, model_name, created_at, id)`` for a user's own list by model (both lists are sorted
by ``created_at, id``). The single-column indexes on those
columns are prefixes of the new ones and go (``logs`` is written at every request, so every index
costs each insert and each retention delete), as do ``(created_at, type)``,
``(model_name, username)`` and ``(user_id, id)``, which the new ones cover. ``(created_at, id)``
stays. Both tables are
analysed at the end so the planners know the new indexes.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Varchar
from piccolo.engine import engine_finder
from piccolo.engine.sqlite import SQLiteEngine

ID = "2026-12-05T04:01:03:000000"
VERSION = "1.38.0"
DESCRIPTION = "log indexes for filtered reads"

CREATE = (
    ("idx_logs_model_created", '"model_name", "created_at", "id"'),
    ("idx_logs_token_created", '"token_name", "created_at", "id"'),
    ("idx_logs_username_created", '"username", "created_at", "id"'),
    ("idx_logs_channel_created", '"channel_id", "created_at", "id"'),
    ("idx_logs_user_created", '"user_id", "created_at", "id"'),
    ("idx_logs_type_created", '"type", "created_at", "id"'),
    ("idx_logs_user_model_created", '"user_id", "model_name", "created_at", "id"'),
)
REPLACED = (
    ("idx_logs_created_at_type", '"created_at", "type"'),
    ("idx_logs_model_username", '"model_name", "username"'),
    ("idx_logs_user_id_id", '"user_id", "id"'),
)
# Column indexes now covered by a composite one: (column name, column class)
UNINDEXED = (("user_id", Integer), ("username", Varchar), ("token_name", Varchar), ("model_name", Varchar),
             ("channel_id", Integer))  # fmt: skip


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="newapi", description=DESCRIPTION)

    async def create():
        for name, columns in CREATE:
            await engine_finder().run_ddl(f"CREATE INDEX IF NOT EXISTS {name} ON logs ({columns})")
        for name, _ in REPLACED:
            await engine_finder().run_ddl(f"DROP INDEX IF EXISTS {name}")
        await analyze()

    async def analyze():
        """Statistics for the new indexes: without them SQLite's planner may pick an index that
        does not give the rows in page order, and sort every match."""
        engine = engine_finder()
        if isinstance(engine, SQLiteEngine):
            async with engine.transaction():  # one connection: the sampling limit applies to the ANALYZE
                await engine.run_ddl("PRAGMA analysis_limit=1000")
                await engine.run_ddl("ANALYZE logs")
                await engine.run_ddl("ANALYZE quota_data")
        else:
            await engine.run_ddl("ANALYZE logs")
            await engine.run_ddl("ANALYZE quota_data")

    async def drop():
        for name, columns in REPLACED:
            await engine_finder().run_ddl(f"CREATE INDEX IF NOT EXISTS {name} ON logs ({columns})")
        for name, _ in CREATE:
            await engine_finder().run_ddl(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    for column, kind in UNINDEXED:
        manager.alter_column(
            table_class_name="Log",
            tablename="logs",
            column_name=column,
            db_column_name=column,
            params={"index": False},
            old_params={"index": True},
            column_class=kind,
            old_column_class=kind,
            schema=None,
        )
    return manager
