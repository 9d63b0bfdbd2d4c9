"""Which rows each change of a cached topic touched (``revision_changes``).

A change to one user or one key bumped the whole ``users`` or ``tokens`` topic, and every worker
then emptied its key cache: with many keys in rotation, each top-up or key edit cost every worker
a reload of all of them. The writer now records the ids it changed beside the bump.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine

ID = "2026-12-06T04:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "revision changes"

TABLE = "revision_changes"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="newapi", description=DESCRIPTION)

    async def create():
        engine = engine_finder()
        key = '"id" SERIAL PRIMARY KEY' if isinstance(engine, PostgresEngine) else '"id" INTEGER PRIMARY KEY'
        await engine.run_ddl(
            f'CREATE TABLE IF NOT EXISTS "{TABLE}" ({key}, "topic" VARCHAR(64) NOT NULL, '
            "\"version\" BIGINT NOT NULL, \"subjects\" TEXT NOT NULL DEFAULT '')"
        )
        await engine.run_ddl(f'CREATE INDEX IF NOT EXISTS {TABLE}_topic_version ON "{TABLE}" ("topic", "version")')

    async def drop():
        await engine_finder().run_ddl(f'DROP TABLE IF EXISTS "{TABLE}"')

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
