"""One local user per redirect-login account: a unique (method, subject) index.

Its own migration because Piccolo runs a migration's raw steps before the tables it adds.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-30T00:49:58:000000"
VERSION = "1.38.0"
DESCRIPTION = "login identities unique index"

STATEMENT = (
    'CREATE UNIQUE INDEX IF NOT EXISTS login_identities_method_subject ON login_identities ("method", "subject")'
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="newapi", description=DESCRIPTION)

    async def create():
        await engine_finder().run_ddl(STATEMENT)

    async def drop():
        await engine_finder().run_ddl("DROP INDEX IF EXISTS login_identities_method_subject")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
