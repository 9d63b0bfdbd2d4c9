"""A real gateway for a plugin's tests: the app with the chosen plugins, on a real port.

The app runs under uvicorn in a background thread with its own event loop and a SQLite database
in a temporary directory, so a test talks to it over real HTTP with any client (the official
SDKs included) from any fixture scope. :class:`KitGateway` sets up what a test needs through the
management API, as an admin would: the root account, channels, users and API keys, options and
plugin settings.
"""

from __future__ import annotations

import asyncio
import importlib.metadata as md
import json
import socket
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
import uvicorn

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
    """The gateway under test. ``url`` is its root, ``base_url`` the OpenAI-style ``/v1``."""

    def __init__(self, data_dir: Path, plugins: Iterable[str] | None = None, **config: Any) -> None:
        from newapi_host.app import create_app
        from newapi_host.config import Config

        self.config = Config(data_dir=data_dir, session_secret="kit-session-secret", sync_interval=0.1, **config)
        self.app = create_app(self.config, entry_points=plugin_entry_points(plugins))
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, name="kit-gateway", daemon=True)
        self.admin = httpx.Client(base_url=self.url, timeout=30)
        self._users = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def _serve(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def start(self) -> KitGateway:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start (see the log above)")
            time.sleep(0.02)
        setup = {"username": "root", "password": ROOT_PASSWORD, "confirmPassword": ROOT_PASSWORD}
        self._ok(self.admin.post("/api/setup", json=setup))
        login = self._ok(self.admin.post("/api/user/login", json={"username": "root", "password": ROOT_PASSWORD}))
        self.admin.headers["New-Api-User"] = str(login["id"])
        for key, value in LOCAL_FETCH.items():
            self.option(key, value)
        return self

    def stop(self) -> None:
        self.admin.close()
        self.server.should_exit = True
        self._thread.join(15)

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

    def run(self, awaitable: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the gateway's own event loop and return its result."""
        assert self.loop is not None

        async def wrapper() -> Any:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(timeout)

    def flush(self) -> None:
        """Write every settled charge now (the ledger otherwise writes within a second)."""
        self.run(self.app.state.host.relay.ledger.flush())

    def logs(self, **filters: Any) -> list[dict[str, Any]]:
        """Log rows (New API's fields) after a flush, oldest first; filter by column, e.g. ``type=2``."""
        from newapi_host.db.tables import Log

        async def read() -> list[dict[str, Any]]:
            await self.app.state.host.relay.ledger.flush()
            query = Log.select().order_by(Log.id)
            for column, value in filters.items():
                query = query.where(getattr(Log, column) == value)
            return await query

        return self.run(read())
