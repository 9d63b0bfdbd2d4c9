"""``newapi serve`` for real, as a subprocess: granian workers on a real port.

:func:`serve` starts one (its own process group, so cleanup reaches the workers, and a copy of
a migrated SQLite database unless told another), waits until every worker has started and
``/healthz`` answers, and returns a :class:`Served`, which reads the server's output as it comes;
:class:`Console` drives the management API the way an admin's script would (sign in as root,
add channels, users, keys, options).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import FIXTURE_DISTS, free_port, migrated_sqlite

NEWAPI = [sys.executable, "-m", "newapi_host.cli"]
ROOT_PASSWORD = "root-password-1"


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWAPI_", "SQL_DSN", "REDIS_CONN"))}
    env.update(NEWAPI_DATA_DIR=str(data_dir), PYTHONPATH=str(FIXTURE_DISTS), NEWAPI_SYNC_INTERVAL="0.5")
    # every test request comes from 127.0.0.1: New API's per-address API and web limits (on by
    # default) would soon refuse the set-up calls; tests of those limits switch them back on.
    # A test may override any of these (the sync interval, say).
    env.update({"GLOBAL_API_RATE_LIMIT_ENABLE": "false", "GLOBAL_WEB_RATE_LIMIT_ENABLE": "false", **extra})
    return env


@dataclass
class Served:
    base: str
    proc: subprocess.Popen[str]
    data_dir: Path
    lines: list[str] = field(default_factory=list)  # what the server printed so far

    def __post_init__(self) -> None:
        # Read the output as it comes: a full pipe would block the server's processes.
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def started_workers(self) -> int:
        """How many workers finished starting (granian logs each one, in either log format)."""
        return sum("Started worker-" in line for line in list(self.lines))

    def worker_pids(self, tries: int = 60) -> set[int]:
        """The pids that answer ``/healthz`` (each request on a new connection)."""
        return {fresh_get(f"{self.base}/healthz").json()["pid"] for _ in range(tries)}

    def stop(self) -> int | None:
        return stop_group(self.proc)

    def output(self) -> str:
        """Everything the server printed; all of it once the server has stopped."""
        if self.proc.poll() is not None:
            self._reader.join(10)
        return "".join(self.lines)


def serve(
    data_dir: Path, workers: int = 2, *, port: int | None = None, args: tuple[str, ...] = (), **env: str
) -> Served:
    port = port or free_port()
    if not any(key in env for key in ("SQL_DSN", "SQLITE_PATH")) and not (data_dir / "newapi.db").exists():
        migrated_sqlite(data_dir / "newapi.db")
    proc = subprocess.Popen(
        [*NEWAPI, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), *args],
        env=env_for(data_dir, NEWAPI_LOG_LEVEL=env.pop("NEWAPI_LOG_LEVEL", "WARNING"), **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    served = Served(f"http://127.0.0.1:{port}", proc, data_dir)
    # Up means every worker started, not only the first: tests count on any worker answering,
    # and a stop sent while one still starts waits for it (newapi serve's own test covers that).
    deadline = time.monotonic() + 45
    while True:
        with contextlib.suppress(httpx.TransportError):
            started = served.started_workers() >= workers
            if started and httpx.get(f"{served.base}/healthz", timeout=1).status_code == 200:
                return served
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_group(proc)
            pytest.fail(f"server did not start:\n{served.output()}")
        time.sleep(0.05)


def stop_group(proc: subprocess.Popen[str]) -> int | None:
    """Stop the server and its worker processes (killing only the parent would orphan them)."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return proc.poll()
        try:
            proc.wait(wait)
            os.killpg(proc.pid, 0)  # anyone left in the group?
        except ProcessLookupError:
            return proc.poll()
        except subprocess.TimeoutExpired:
            continue
    return proc.poll()


def fresh_get(url: str, **kwargs: Any) -> httpx.Response:
    """A request on a new connection, so successive calls spread over the workers."""
    return httpx.get(url, headers={"Connection": "close"}, timeout=10, **kwargs)


class Console(httpx.Client):
    """The management API as root (setting up root on first use)."""

    def __init__(self, base: str, *, setup: bool = True) -> None:
        super().__init__(base_url=base, timeout=30)
        if setup:
            self.post(
                "/api/setup", json={"username": "root", "password": ROOT_PASSWORD, "confirmPassword": ROOT_PASSWORD}
            )
        r = self.post("/api/user/login", json={"username": "root", "password": ROOT_PASSWORD})
        assert r.json()["success"], r.text
        self.headers["New-Api-User"] = str(r.json()["data"]["id"])

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.request(method, path, **kwargs)
        body = r.json()
        assert body.get("success"), (path, r.text)
        return body.get("data")

    def option(self, key: str, value: Any) -> None:
        """Set an option (JSON tables are sent as their JSON text, as New API's console does)."""
        text = json.dumps(value) if isinstance(value, (dict, list)) else value
        self.ok("PUT", "/api/option/", json={"key": key, "value": text})

    def channel(self, upstream: str, models: list[str], **fields: Any) -> None:
        self.ok(
            "POST",
            "/api/channel/",
            json={"type": 1, "key": "sk-upstream", "base_url": upstream, "models": ",".join(models), **fields},
        )

    def user(self, username: str, quota: int, password: str = "user-password-1") -> int:
        """A common user with ``quota`` (set through the admin edit, as an operator would)."""
        self.ok("POST", "/api/user/", json={"username": username, "password": password})
        found = self.ok("GET", "/api/user/search", params={"keyword": username})
        items = found["items"] if isinstance(found, dict) else found
        user_id = next(u["id"] for u in items if u["username"] == username)
        self.ok("PUT", "/api/user/", json={"id": user_id, "quota": quota})
        return user_id

    def key_for(self, username: str, password: str = "user-password-1", **token: Any) -> str:
        """An API key created by the user themself (unlimited unless ``remain_quota`` is given)."""
        with httpx.Client(base_url=str(self.base_url), timeout=30) as user:
            r = user.post("/api/user/login", json={"username": username, "password": password})
            user.headers["New-Api-User"] = str(r.json()["data"]["id"])
            fields = {"name": "k", "unlimited_quota": "remain_quota" not in token, **token}
            r = user.post("/api/token/", json=fields)
            assert r.json()["success"], r.text
            return r.json()["data"]["key"]

    def user_row(self, user_id: int) -> dict[str, Any]:
        return self.ok("GET", f"/api/user/{user_id}")


def socket_ports(pids: set[int]) -> set[int]:
    """Local TCP ports of the sockets the processes ``pids`` hold (from /proc)."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def redis_subscriptions(client: Any, pids: set[int]) -> list[dict[str, Any]]:
    """The Redis connections of ``pids`` that are subscribed to a channel."""
    ports = socket_ports(pids)
    return [c for c in client.client_list() if int(c["sub"]) > 0 and int(c["addr"].rsplit(":", 1)[1]) in ports]
