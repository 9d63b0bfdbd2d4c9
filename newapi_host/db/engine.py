"""Database engine selection, table binding and migrations.

SQLite under the data directory is the default; ``SQL_DSN=postgres://...`` selects PostgreSQL.
(Piccolo has no MySQL engine, so New API's MySQL option is not offered; see docs/operations.md.)
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from piccolo.conf.apps import AppRegistry
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine
from piccolo.table import Table

from newapi_host.config import Config

log = logging.getLogger(__name__)

os.environ.setdefault("PICCOLO_CONF", "newapi_host.db.piccolo_conf")

CORE_APP = "newapi_host.db.piccolo_app"


class MigrationError(RuntimeError):
    pass


def make_engine(config: Config) -> Engine:
    if config.database_type == "postgres":
        return PostgresEngine(config={"dsn": config.sql_dsn}, log_queries=False)
    path = config.database_path
    path.parent.mkdir(parents=True, exist_ok=True)
    # A generous busy timeout: several worker processes share one SQLite file.
    return SQLiteEngine(path=str(path), timeout=30)


def _app_tables(app_modules: Sequence[str]) -> list[type[Table]]:
    from importlib import import_module

    tables: list[type[Table]] = []
    for dotted in app_modules:
        tables.extend(import_module(dotted).APP_CONFIG.table_classes)
    return tables


def configure(engine: Engine, apps: Iterable[str] = ()) -> list[type[Table]]:
    """Point Piccolo and every core and plugin table at ``engine``; return the tables bound."""
    from piccolo.apps.migrations.tables import Migration

    from newapi_host.db import piccolo_conf

    app_modules = [CORE_APP, *[a for a in apps if a != CORE_APP]]
    piccolo_conf.DB = engine
    piccolo_conf.APP_REGISTRY = AppRegistry(apps=app_modules)
    tables = _app_tables(app_modules)
    for table in (*tables, Migration):
        table._meta.db = engine
    return tables


async def start(engine: Engine) -> None:
    """Open pools and set per-database pragmas."""
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=1, max_size=20)
    elif isinstance(engine, SQLiteEngine):
        # WAL lets readers work while a writer commits; it persists in the file.
        await engine.run_ddl("PRAGMA journal_mode=WAL")


async def stop(engine: Engine) -> None:
    if isinstance(engine, PostgresEngine):
        await engine.close_connection_pool()


# Any constant names the lock; this one spells "newapi" in ASCII.
MIGRATION_LOCK = 0x6E6577617069


@contextlib.asynccontextmanager
async def _one_migrator() -> AsyncIterator[None]:
    """On PostgreSQL, let one process at a time migrate, whichever node it runs on.

    Nodes started together on an empty database would otherwise create the same tables at once,
    and all but one would fail to start. A session-level advisory lock, on a connection of its
    own, is held for the whole run; the next process then finds nothing left to apply. (SQLite
    serves one machine, where ``newapi serve`` migrates once before its workers start.)
    """
    from newapi_host.db import piccolo_conf

    engine = piccolo_conf.DB
    if not isinstance(engine, PostgresEngine):
        yield
        return
    import asyncpg

    conn = await asyncpg.connect(**engine.config)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        yield
    finally:
        await conn.close()  # ending the session releases the lock


async def migrate() -> str:
    """Apply every pending migration of the configured apps; return Piccolo's report."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    out = io.StringIO()
    async with _one_migrator():
        with contextlib.redirect_stdout(out):
            result = await run_forwards(app_name="all")
    report = out.getvalue()
    if not result.success:
        raise MigrationError(f"{result.message}\n{report}")
    for line in report.splitlines():
        if line.strip():
            log.debug("migrate: %s", line.rstrip())
    return report


def write_transaction(engine: Engine | None = None):
    """A transaction for work that writes: ``BEGIN IMMEDIATE`` on SQLite.

    A deferred SQLite transaction that reads first and writes later fails at once with
    "database is locked" if another connection wrote in between (no busy wait is possible
    there); taking the write lock up front makes it wait its turn instead.
    """
    from piccolo.engine.sqlite import TransactionType

    from newapi_host.db import piccolo_conf

    engine = engine or piccolo_conf.DB
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


async def insert_many(table: type[Table], columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Bulk insert inside the current transaction with the driver's ``executemany``.

    Piccolo builds a query object per row, which costs about 0.1 ms of event-loop time each;
    the consume log writes hundreds of rows a second, so it goes straight to the driver.
    """
    engine = table._meta.db
    transaction = engine.current_transaction.get()
    if transaction is None:
        raise RuntimeError("insert_many must run inside a transaction")
    names = ", ".join(f'"{c}"' for c in columns)
    if isinstance(engine, PostgresEngine):
        marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    else:
        marks = ", ".join("?" for _ in columns)
    sql = f'INSERT INTO "{table._meta.tablename}" ({names}) VALUES ({marks})'
    await transaction.connection.executemany(sql, rows)


async def fetch_tuples(sql: str, *args: Any) -> list[Any]:
    """Rows of a read as tuples (asyncpg ``Record``s on PostgreSQL), straight from the driver.

    For reads of tens of thousands of rows (the dashboard's charts and flow views): Piccolo
    makes a dict per row, which costs more than the query. ``sql`` marks arguments with ``{}``
    as Piccolo's ``raw`` does; inside a transaction the read uses its connection. Values are the
    driver's own (on SQLite: no Piccolo converters, so booleans are 0/1 and times are text).
    """
    from newapi_host.db import piccolo_conf

    engine = piccolo_conf.DB
    transaction = engine.current_transaction.get()
    if isinstance(engine, PostgresEngine):
        query = sql.format(*(f"${i}" for i in range(1, len(args) + 1)))
        if transaction is not None:
            return await transaction.connection.fetch(query, *args)
        if engine.pool is not None:
            async with engine.pool.acquire() as connection:
                return await connection.fetch(query, *args)
        import asyncpg

        connection = await asyncpg.connect(**engine.config)
        try:
            return await connection.fetch(query, *args)
        finally:
            await connection.close()
    query = sql.format(*("?" for _ in args))
    if transaction is not None:
        cursor = await transaction.connection.execute(query, args)
        try:
            return [tuple(row.values()) for row in await cursor.fetchall()]  # Piccolo's dict rows
        finally:
            await cursor.close()
    import aiosqlite

    plain = {**engine.connection_kwargs, "detect_types": 0}  # no per-value converters
    async with aiosqlite.connect(**plain) as connection, connection.execute(query, args) as cursor:
        return list(await cursor.fetchall())


async def refresh_statistics(engine: Engine | None = None) -> None:
    """Sample the tables again for the query planner (SQLite; PostgreSQL's autovacuum does it).

    SQLite never gathers statistics by itself: a table that grew from nothing to millions of rows
    is planned as if indexes were equally good, and a user's log page ordered by id may sort
    every one of their rows. ``analysis_limit`` bounds the work to about 1,000 rows per index.
    """
    from newapi_host.db import piccolo_conf

    engine = engine or piccolo_conf.DB
    if isinstance(engine, SQLiteEngine):
        async with engine.transaction():  # one connection, so the limit applies to the ANALYZE
            await engine.run_ddl("PRAGMA analysis_limit=1000")
            await engine.run_ddl("ANALYZE")


def database_label(engine: Engine) -> str:
    return "postgres" if isinstance(engine, PostgresEngine) else "sqlite"


__all__ = [
    "MigrationError",
    "configure",
    "database_label",
    "make_engine",
    "migrate",
    "refresh_statistics",
    "start",
    "stop",
    "write_transaction",
]
