"""Top-up orders: a per-order quota (products with a fixed quota, such as Creem's) and a status index."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-05T03:45:39:000000"
VERSION = "1.38.0"
DESCRIPTION = "top-up order quota"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="newapi", description=DESCRIPTION)

    manager.add_column(
        table_class_name="TopUp",
        tablename="top_ups",
        column_name="quota",
        db_column_name="quota",
        column_class_name="BigInt",
        column_class=BigInt,
        params={
            "default": 0,
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    manager.alter_column(
        table_class_name="TopUp",
        tablename="top_ups",
        column_name="status",
        db_column_name="status",
        params={"index": True},
        old_params={"index": False},
        column_class=None,
        old_column_class=None,
        schema=None,
    )

    return manager
