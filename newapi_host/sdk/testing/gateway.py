"""A real gateway for a plugin's tests: ``newapi serve`` with the chosen plugins, on a real port.

The gateway runs in a process of its own (one worker, SQLite in a temporary directory), exactly
as an operator runs it, so a test talks to it over real HTTP with any client (the official SDKs
included), from any fixture scope, and as many gateways as a session wants can run side by side:
nothing of one leaks into another or into the test process. :class:`KitGateway` sets up what a test
needs through the management API, as an admin would (root account, channels, users and keys,
options, plugin settings), and reads the logs from the gateway's database once the ledger has
written them.
"""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import msgspec

ROOT_PASSWORD = "kit-root-password-1"
USER_PASSWORD = "kit-user-password-1"
# The mock upstreams listen on 127.0.0.1 at random ports: let the channel tools reach them.
LOCAL_FETCH = {"fetch_setting.allow_private_ip": True, "fetch_setting.allowed_ports": "[]"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def plugin_entry_points(names: Iterable[str] | None) -> list[md.EntryPoint]:
    """The installed plugins' entry points (all of them, or those named), plus the host's built-ins."""
    from newapi_host.plugins.manager import HOST_DISTRIBUTION, installed_entry_points

    eps = installed_entry_points()
    if names is None:
        return eps
    wanted = set(names)
    found = {ep.name for ep in eps}
    missing = wanted - found
    if missing:
        raise LookupError(f"plugin(s) {sorted(missing)} are not installed (installed: {sorted(found)})")
    return [ep for ep in eps if ep.name in wanted or getattr(ep.dist, "name", None) == HOST_DISTRIBUTION]


class KitGateway:
    """The gateway under test. ``url`` is its root, ``base_url`` the OpenAI-style ``/v1``.

    ``registry`` holds the same plugins' contributions, loaded in the test process (it does not
    need the gateway's database): what the kit's checks read about channel types and formats.
    ``switch()`` keeps its on/off state in step with the gateway's.
    """

    LEDGER_INTERVAL = 0.01  # the gateway writes settled charges this often, so logs appear at once

    def __init__(self, data_dir: Path, plugins: Iterable[str] | None = None, **env: str) -> None:
        from newapi_host.config import Config
        from newapi_host.plugins.loading import build_plugin_host

        self.data_dir = Path(data_dir)
        chosen = plugin_entry_points(plugins)
        self.plugins = build_plugin_host(Config(data_dir=self.data_dir), chosen)
        installed = {ep.name for ep in plugin_entry_points(None)}
        blocked = sorted(installed - {ep.name for ep in chosen})
        self.port = free_port()
        self._env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("NEWAPI_", "SQL_DSN", "REDIS_CONN"))},
            "NEWAPI_DATA_DIR": str(self.data_dir),
            "NEWAPI_DISABLED_PLUGINS": ",".join(blocked),
            "NEWAPI_SYNC_INTERVAL": "0.1",
            "NEWAPI_LEDGER_INTERVAL": str(self.LEDGER_INTERVAL),
            "NEWAPI_LOG_LEVEL": "WARNING",
            "SESSION_SECRET": "kit-session-secret",
            # every check talks from 127.0.0.1: per-address budgets would refuse the kit itself
            "GLOBAL_API_RATE_LIMIT_ENABLE": "false",
            "GLOBAL_WEB_RATE_LIMIT_ENABLE": "false",
            "CRITICAL_RATE_LIMIT_ENABLE": "false",
            # the test process's import path: plugins it can import, the gateway can too
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
            **env,
        }
        self._proc: subprocess.Popen[bytes] | None = None
        self.admin = httpx.Client(base_url=self.url, timeout=30)
        self._users = 0

    @property
    def registry(self) -> Any:
        return self.plugins.registry

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def start(self) -> KitGateway:
        command = [sys.executable, "-m", "newapi_host.cli", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--workers", "1", "--shutdown-timeout", "5"]
        self._proc = subprocess.Popen(command, env=self._env, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the gateway did not start (its log is above)")
            time.sleep(0.1)
        setup = {"username": "root", "password": ROOT_PASSWORD, "confirmPassword": ROOT_PASSWORD}
        self._ok(self.admin.post("/api/setup", json=setup))
        login = self._ok(self.admin.post("/api/user/login", json={"username": "root", "password": ROOT_PASSWORD}))
        self.admin.headers["New-Api-User"] = str(login["id"])
        for key, value in {**LOCAL_FETCH, "CriticalRateLimitCount": 0}.items():  # each key() signs in
            self.option(key, value)
        return self

    def stop(self) -> None:
        self.admin.close()
        if self._proc is None or self._proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 5)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, sig)
            try:
                self._proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    # -- set-up through the management API ------------------------------------------------------

    @staticmethod
    def _ok(response: httpx.Response) -> Any:
        body = response.json()
        if not body.get("success"):
            raise AssertionError(f"{response.request.method} {response.request.url.path}: {body.get('message')}")
        return body.get("data")

    def option(self, key: str, value: Any) -> None:
        """Set an option as root does (``PUT /api/option/``); dicts and lists are sent as JSON text."""
        text = json.dumps(value) if isinstance(value, (dict, list)) else value
        self._ok(self.admin.put("/api/option/", json={"key": key, "value": text}))

    def price(self, models: Iterable[str], ratio: float = 1.0, completion_ratio: float = 1.0) -> None:
        """Price ``models`` (``ModelRatio`` and ``CompletionRatio``), keeping the other models' prices."""
        current = {o["key"]: o["value"] for o in self._ok(self.admin.get("/api/option/"))}
        for table, value in (("ModelRatio", ratio), ("CompletionRatio", completion_ratio)):
            try:
                prices = json.loads(current.get(table) or "{}")
            except ValueError:
                prices = {}
            self.option(table, {**(prices if isinstance(prices, dict) else {}), **dict.fromkeys(models, value)})

    def plugin_settings(self, plugin: str, **values: Any) -> None:
        self._ok(self.admin.put(f"/api/plugins/{plugin}/settings", json=values))

    def switch(self, plugin: str, enabled: bool) -> None:
        """Switch a plugin on or off, as root does on the Plugins page."""
        self._ok(self.admin.put(f"/api/plugins/{plugin}", json={"enabled": enabled}))
        self.registry.set_enabled(plugin, enabled)

    def channel(self, type: int, *, base_url: str, models: Iterable[str], key: str = "sk-kit", **fields: Any) -> int:
        """Add a channel of ``type`` serving ``models`` (through ``POST /api/channel/``); its id."""
        models = list(models)
        for name in ("model_mapping", "setting", "settings", "param_override", "header_override"):
            if name in fields and not isinstance(fields[name], str):
                fields[name] = json.dumps(fields[name])
        body = {"type": type, "key": key, "base_url": base_url, "models": ",".join(models), **fields}
        self._ok(self.admin.post("/api/channel/", json=body))
        listed = self._ok(self.admin.get("/api/channel/", params={"page_size": 1}))
        return int(listed["items"][0]["id"])

    def key(self, quota: int = 10**9, *, group: str = "default", **token: Any) -> str:
        """An API key (``sk-...``) of a new user with ``quota``; ``remain_quota=...`` limits the key."""
        self._users += 1
        username = f"kit{self._users}x{self.port}"
        self._ok(self.admin.post("/api/user/", json={"username": username, "password": USER_PASSWORD}))
        found = self._ok(self.admin.get("/api/user/search", params={"keyword": username}))
        user_id = next(u["id"] for u in found["items"] if u["username"] == username)
        self._ok(self.admin.put("/api/user/", json={"id": user_id, "quota": quota, "group": group}))
        with httpx.Client(base_url=self.url, timeout=30) as user:
            login = self._ok(user.post("/api/user/login", json={"username": username, "password": USER_PASSWORD}))
            user.headers["New-Api-User"] = str(login["id"])
            fields = {"name": "kit", "unlimited_quota": "remain_quota" not in token, **token}
            return self._ok(user.post("/api/token/", json=fields))["key"]

    # -- looking at what happened ---------------------------------------------------------------

    def _database(self) -> sqlite3.Connection:
        return sqlite3.connect(self.data_dir / "newapi.db", timeout=30)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until the gateway has written every charge it settled so far (charges are in its
        journal before an answer ends; the database has them once the ledger wrote that far)."""
        deadline = time.monotonic() + timeout
        while True:
            journaled = _journaled(self.data_dir / "journal")
            with contextlib.closing(self._database()) as db:
                written = {name: seq for name, seq in db.execute("SELECT name, seq FROM ledger_journals")}
            if all(written.get(name, 0) >= seq for name, seq in journaled.items()):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the gateway's ledger did not write its charges within {timeout} s")
            time.sleep(self.LEDGER_INTERVAL)

    def logs(self, **filters: Any) -> list[dict[str, Any]]:
        """Log rows (New API's fields) once written, oldest first; filter by column, e.g. ``type=2``."""
        self.flush()
        where = " AND ".join(f'"{column}" = ?' for column in filters) or "1 = 1"
        with contextlib.closing(self._database()) as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(f"SELECT * FROM logs WHERE {where} ORDER BY id", list(filters.values()))
            return [dict(row) for row in rows]


def _journaled(directory: Path) -> dict[str, int]:
    """The last charge number in each journal of the gateway, by the name the ledger records."""
    node = (directory.parent / ".node_id").read_text().strip() if (directory.parent / ".node_id").exists() else ""
    last: dict[str, int] = {}
    for path in directory.glob("*.jnl"):
        for line in path.read_bytes().splitlines():
            with contextlib.suppress(msgspec.DecodeError, IndexError, KeyError, TypeError):
                record = msgspec.json.decode(line)
                if record[0] == "C":
                    name = f"{node}/{path.stem}"
                    last[name] = max(last.get(name, 0), int(record[1]["seq"]))
    return last
