"""Composite indexes that Piccolo cannot declare portably.

Piccolo's composite ``Unique`` constraint is emitted as ``ALTER TABLE ... ADD CONSTRAINT``,
which SQLite does not support; ``CREATE [UNIQUE] INDEX`` works on both engines.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-29T21:34:24:000000"
VERSION = "1.38.0"
DESCRIPTION = "composite indexes"

INDEXES = (
    (
        "abilities_group_model_channel",
        'CREATE UNIQUE INDEX IF NOT EXISTS abilities_group_model_channel ON abilities ("group", "model", "channel_id")',
    ),
    ("idx_logs_created_at_id", 'CREATE INDEX IF NOT EXISTS idx_logs_created_at_id ON logs ("created_at", "id")'),
    ("idx_logs_user_id_id", 'CREATE INDEX IF NOT EXISTS idx_logs_user_id_id ON logs ("user_id", "id")'),
    ("idx_logs_created_at_type", 'CREATE INDEX IF NOT EXISTS idx_logs_created_at_type ON logs ("created_at", "type")'),
    (
        "idx_logs_model_username",
        'CREATE INDEX IF NOT EXISTS idx_logs_model_username ON logs ("model_name", "username")',
    ),
    (
        "idx_quota_data_bucket",
        "CREATE UNIQUE INDEX IF NOT EXISTS idx_quota_data_bucket ON quota_data "
        '("user_id", "model_name", "created_at", "use_group", "token_id", "channel_id", "node_name")',
    ),
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="newapi", description=DESCRIPTION)

    async def create():
        for _, statement in INDEXES:
            await engine_finder().run_ddl(statement)

    async def drop():
        for name, _ in INDEXES:
            await engine_finder().run_ddl(f"DROP INDEX IF EXISTS {name}")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
