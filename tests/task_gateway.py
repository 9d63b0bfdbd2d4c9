"""Helpers of the task tests: a real gateway (``newapi serve``) in front of the fake task upstreams,
and what a test reads back from its database (balances, log rows, task rows)."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from newapi_host.sdk.testing.gateway import KitGateway

from .fake_task_upstreams import FakeUpstreams

POLL = "0.2"  # NEWAPI_TASK_POLL_INTERVAL of the test gateways
TIMEOUT_MINUTES = "0.1"  # a task without a result for 6 s fails and is refunded


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstreams]:
    upstream = FakeUpstreams().start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KitGateway]:
    gw = KitGateway(
        tmp_path_factory.mktemp("tasks"),
        NEWAPI_TASK_POLL_INTERVAL=POLL,
        TASK_TIMEOUT_MINUTES=TIMEOUT_MINUTES,
    ).start()
    yield gw
    gw.stop()


def database(data_dir: Path) -> sqlite3.Connection:
    db = sqlite3.connect(data_dir / "newapi.db", timeout=30)
    db.row_factory = sqlite3.Row
    return db


def query(gw: KitGateway, sql: str, *args: Any) -> list[dict[str, Any]]:
    with contextlib.closing(database(gw.data_dir)) as db:
        return [dict(r) for r in db.execute(sql, args)]


def owner(gw: KitGateway, key: str) -> dict[str, Any]:
    """The user row and key row behind an API key: ``user_id``, ``quota``, ``remain_quota``, ``token_id``."""
    rows = query(
        gw,
        "SELECT u.id AS user_id, u.quota, u.used_quota, t.id AS token_id, t.remain_quota "
        "FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.key = ?",
        key.removeprefix("sk-"),
    )
    return rows[0]


def logs_of(gw: KitGateway, key: str, type_: int) -> list[dict[str, Any]]:
    who = owner(gw, key)
    return query(gw, 'SELECT * FROM logs WHERE user_id = ? AND "type" = ? ORDER BY id', who["user_id"], type_)


def wait_for(check: Any, timeout: float = 20.0, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def client(gw: KitGateway, key: str, header: str = "authorization") -> httpx.Client:
    value = f"Bearer {key}" if header == "authorization" else key
    return httpx.Client(base_url=gw.url, headers={header: value}, timeout=30)


def console(gw: KitGateway, key: str) -> httpx.Client:
    """The console (session cookie and ``New-Api-User``) of the user who owns ``key``."""
    from newapi_host.sdk.testing.gateway import USER_PASSWORD

    name = query(gw, "SELECT u.username FROM users u JOIN tokens t ON t.user_id = u.id WHERE t.key = ?",
                 key.removeprefix("sk-"))[0]["username"]  # fmt: skip
    c = httpx.Client(base_url=gw.url, timeout=30)
    r = c.post("/api/user/login", json={"username": name, "password": USER_PASSWORD})
    c.headers["New-Api-User"] = str(r.json()["data"]["id"])
    return c
