"""A throw-away migrated database for the scale benchmarks: SQLite in a temp dir or a fresh
PostgreSQL database (``--pg-dsn``, default the test server), dropped afterwards."""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from newapi_host.config import Config
from newapi_host.db import engine as engines

PG_DSN = "postgres://postgres@127.0.0.1:5432/test"


@asynccontextmanager
async def database(kind: str, pg_dsn: str = PG_DSN, keep: str = "") -> AsyncIterator[Config]:
    """A migrated database of ``kind`` ("sqlite" or "postgres"), its tables bound; yields the Config.

    ``keep`` names a SQLite directory or PostgreSQL database to reuse (and not drop), so a large
    generated data set can be measured several times.
    """
    import asyncpg

    admin = None
    name = ""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(keep) if keep and kind == "sqlite" else Path(tmp)
        dsn = ""
        if kind == "postgres":
            admin = await asyncpg.connect(pg_dsn)
            name = keep or f"newapi_bench_{uuid.uuid4().hex[:10]}"
            exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                await admin.execute(f'CREATE DATABASE "{name}"')
            dsn = f"{pg_dsn.rpartition('/')[0]}/{name}"
        config = Config(data_dir=data_dir, sql_dsn=dsn, session_secret="bench")
        engine = engines.make_engine(config)
        engines.configure(engine)
        await engines.start(engine)
        try:
            await engines.migrate()
            yield config
        finally:
            await engines.stop(engine)
            if admin is not None:
                if not keep:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await admin.close()


def timed(samples: list[float]) -> dict[str, float]:
    """Median and best of ``samples`` (seconds) in milliseconds."""
    ordered = sorted(samples)
    return {"median_ms": round(ordered[len(ordered) // 2] * 1000, 3), "best_ms": round(ordered[0] * 1000, 3)}


class Clock:
    def __init__(self) -> None:
        self.samples: list[float] = []

    def __enter__(self) -> Clock:
        self._t = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.samples.append(time.perf_counter() - self._t)
