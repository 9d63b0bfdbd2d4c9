"""Shared fixtures: databases (SQLite always, PostgreSQL and Redis when reachable), apps, users.

Fixture plugins live in ``fixture_dists/`` as installed distributions; tests pick the ones they
want with :func:`fixture_eps`, so each test sees exactly the plugins it names plus the host's
built-ins.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import importlib.metadata as md
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from newapi_host.app import create_app
from newapi_host.auth import passwords
from newapi_host.config import Config
from newapi_host.plugins.manager import installed_entry_points

FIXTURE_DISTS = Path(__file__).parent / "fixture_dists"
HOST_EPS = installed_entry_points()  # read before the fixture folder joins sys.path
# Tests hash hundreds of passwords: bcrypt cost 4 instead of 10 (the hash format is unchanged and
# a cost-10 hash from New API still verifies; tests/test_serve.py's subprocesses keep cost 10).
passwords.ROUNDS = 4
sys.path.append(str(FIXTURE_DISTS))
# Each test builds whole apps (hundreds of route handlers), so full collections of a test
# process's large heap came often and cost up to a quarter of a second each; collect less often.
gc.set_threshold(10_000, 20, 20)

PG_DSN = os.environ.get("NEWAPI_TEST_PG_DSN", "postgres://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("NEWAPI_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT_PASSWORD = "root-password-1"
# The fake upstreams listen on 127.0.0.1 at random ports, which New API's SSRF defaults refuse to
# admin tools (channel test, model lists, balances) and forced channels. Tests of those tools allow
# them explicitly, as a self-hoster with a local upstream does; the defaults stay as they are.
LOCAL_UPSTREAMS = {"fetch_setting.allow_private_ip": "true", "fetch_setting.allowed_ports": "[]"}


async def eventually(check: Any, within: float = 5.0, what: str = "the condition") -> None:
    """Poll ``check()`` (sync or async) until it is true; fail after ``timeout`` seconds.

    Tests wait for background work this way rather than sleeping a fixed time, which is both
    slower when things are fast and flaky when the machine is loaded.
    """
    deadline = time.monotonic() + within
    while True:
        result = check()
        if hasattr(result, "__await__"):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {within} s")
        await asyncio.sleep(0.02)


def wait_until(check: Any, timeout: float = 5.0, what: str = "the condition") -> None:
    """:func:`eventually` for synchronous tests."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)


def free_port() -> int:
    """A TCP port nobody listens on right now, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fixture_eps(*names: str) -> list[md.EntryPoint]:
    """Entry points of the named fixture plugins, as if their distributions were installed."""
    eps = [ep for dist in md.distributions(path=[str(FIXTURE_DISTS)]) for ep in dist.entry_points]
    found = [ep for ep in eps if ep.name in names]
    assert {ep.name for ep in found} == set(names), f"unknown fixture plugin in {names}"
    return found


def unavailable(what: str, detail: str) -> None:
    """Skip with a clear message on a machine without the server; fail in CI, where it must exist."""
    message = f"{what} not reachable ({detail})"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must provide it")
    pytest.skip(f"{message}; set the test DSN/URL env var to run these tests")


@asynccontextmanager
async def fresh_pg_database() -> AsyncIterator[str]:
    """A new PostgreSQL database, dropped afterwards; its DSN is yielded."""
    import asyncpg

    try:
        conn = await asyncpg.connect(PG_DSN, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable("PostgreSQL", f"{PG_DSN}: {exc}")
    name = f"newapi_test_{uuid.uuid4().hex[:12]}"
    await conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = PG_DSN.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


@pytest.fixture
async def pg_dsn() -> AsyncIterator[str]:
    async with fresh_pg_database() as dsn:
        yield dsn


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_config(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Config]:
    """A Config on each supported database."""
    if request.param == "sqlite":
        yield Config(data_dir=tmp_path, session_secret="test-secret", sync_interval=0.1)
        return
    async with fresh_pg_database() as dsn:
        yield Config(data_dir=tmp_path, sql_dsn=dsn, session_secret="test-secret", sync_interval=0.1)


@pytest.fixture
def sqlite_config(tmp_path: Path) -> Config:
    return Config(data_dir=tmp_path, session_secret="test-secret", sync_interval=0.1)


class Client(httpx.AsyncClient):
    app: Litestar


_TEMPLATE: list[Path] = []  # this process's migrated SQLite database, made on first use


def migrated_sqlite(path: Path) -> None:
    """Put a SQLite database with every migration of the installed plugins applied at ``path``.

    Migrating a new database takes about 0.3 s, once per app a test starts; a copy of one
    migrated database per test process is nearly free. ``newapi migrate`` makes it, in a
    process of its own (nothing here is configured by it). The app still runs its migrations
    at start, so a fixture plugin's own are applied on top, and tests of migrating itself
    start from a database of their own.
    """
    if not _TEMPLATE:
        where = Path(tempfile.mkdtemp(prefix="newapi-template-"))
        atexit.register(shutil.rmtree, where, True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWAPI_", "SQL_DSN", "SQLITE_PATH"))}
        env.pop("PYTHONPATH", None)
        done = subprocess.run(
            [sys.executable, "-m", "newapi_host.cli", "migrate"],
            env={**env, "NEWAPI_DATA_DIR": str(where)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        _TEMPLATE.append(where / "newapi.db")
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_TEMPLATE[0], path)


@asynccontextmanager
async def running(config: Config, *fixture_plugins: str, extra: dict[str, Any] | None = None) -> AsyncIterator[Client]:
    """An app with the host's built-ins plus the named fixture plugins, lifespan running.

    The app runs on the test's own event loop (Litestar's test client would start a second
    one in a thread), so tests can also query the database directly. A SQLite database that
    does not exist yet starts as a copy of a migrated one (:func:`migrated_sqlite`).
    """
    if not config.sql_dsn and config.run_migrations and not config.database_path.exists():
        migrated_sqlite(config.database_path)
    app = create_app(config, entry_points=[*HOST_EPS, *fixture_eps(*fixture_plugins)], extra_plugins=extra)
    transport = httpx.ASGITransport(app=app)
    async with app.lifespan(), Client(transport=transport, base_url="http://testserver") as client:
        client.app = app
        yield client


async def setup_root(client: Client) -> None:
    r = await client.post(
        "/api/setup",
        json={"username": "root", "password": ROOT_PASSWORD, "confirmPassword": ROOT_PASSWORD},
    )
    assert r.json()["success"], r.text


async def login(client: Client, username: str, password: str) -> int:
    """Sign in on this client (session cookie) and send New-Api-User from now on."""
    r = await client.post("/api/user/login", json={"username": username, "password": password})
    body = r.json()
    assert body["success"], body
    client.headers["New-Api-User"] = str(body["data"]["id"])
    return body["data"]["id"]


async def as_root(client: Client) -> int:
    await setup_root(client)
    return await login(client, "root", ROOT_PASSWORD)


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """The test Redis (database 15), skipped with a clear message where no server runs."""
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
    except (OSError, aioredis.RedisError) as exc:
        await client.aclose()
        unavailable("Redis", f"{REDIS_URL}: {exc}")
    await client.aclose()
    yield REDIS_URL
