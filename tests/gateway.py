"""A real gateway for end-to-end relay tests: the app under uvicorn on 127.0.0.1, in a thread.

Tests talk to it over real HTTP with the official SDKs. Set-up helpers (users, tokens,
channels, options) run as coroutines on the server's own event loop, so they work with any
database engine, and announce their change the way the management API will, so the server's
caches pick it up at once.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from newapi_host.app import create_app
from newapi_host.auth.users import create_user, random_key
from newapi_host.config import Config
from newapi_host.db.tables import Channel, Log, Token, User

from .conftest import HOST_EPS, fixture_eps, free_port
from .upstreams import FakeUpstream, shared_fake_openai


class Gateway:
    def __init__(self, config: Config, fixture_plugins: tuple[str, ...] = ()) -> None:
        self.config = config
        self.app = create_app(config, entry_points=[*HOST_EPS, *fixture_eps(*fixture_plugins)])
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def host(self) -> Any:
        return self.app.state.host

    def _serve(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())

    def start(self) -> Gateway:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("gateway did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)

    def run(self, awaitable: Any, timeout: float = 30) -> Any:
        """Run a coroutine (or a Piccolo query) on the server's loop and wait for its result."""
        assert self.loop is not None

        async def wrapper() -> Any:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(timeout)

    # -- set-up helpers ---------------------------------------------------------------------

    def option(self, **values: Any) -> None:
        text = {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}

        async def go() -> None:
            await self.host.options.set_many(text)
            self.host.relay.prices.reload()

        self.run(go())

    def user(self, username: str | None = None, quota: int = 100_000_000, role: int = 1, group: str = "default") -> int:
        name = username or f"u{random_key(8)}"
        return self.run(create_user(name, "password-123", role=role, quota=quota, group=group))["id"]

    def token(
        self,
        user_id: int,
        *,
        remain_quota: int = 0,
        unlimited: bool = True,
        model_limits: list[str] | None = None,
        allow_ips: str = "",
        group: str = "",
        expired_time: int = -1,
        status: int = 1,
    ) -> str:
        key = random_key(48)
        token = Token(
            user_id=user_id,
            key=key,
            name=f"t-{key[:6]}",
            status=status,
            created_time=int(time.time()),
            expired_time=expired_time,
            remain_quota=remain_quota,
            unlimited_quota=unlimited,
            model_limits_enabled=model_limits is not None,
            model_limits=",".join(model_limits or []),
            allow_ips=allow_ips,
            group=group,
        )
        self.run(token.save())
        return f"sk-{key}"

    def channel(
        self, *, base_url: str, models: list[str], key: str = "sk-upstream", type: int = 1, **fields: Any
    ) -> int:
        for name in (
            "model_mapping",
            "status_code_mapping",
            "param_override",
            "header_override",
            "setting",
            "channel_info",
        ):
            if name in fields and not isinstance(fields[name], str):
                fields[name] = json.dumps(fields[name])
        channel = Channel(
            type=type,
            key=key,
            name=fields.pop("name", f"ch-{random_key(4)}"),
            base_url=base_url,
            models=",".join(models),
            group=fields.pop("group", "default"),
            created_time=int(time.time()),
            **fields,
        )

        async def go() -> int:
            await channel.save()
            await self.host.relay.index.load()
            return channel.id

        return self.run(go())

    def session(self, username: str, role: int | None = None) -> httpx.Client:
        """A signed-in management API client for ``username`` (created first when ``role`` is given)."""
        if role is not None:
            self.user(username, role=role)
        client = httpx.Client(base_url=self.url, timeout=30)
        r = client.post("/api/user/login", json={"username": username, "password": "password-123"})
        assert r.json()["success"], r.text
        client.headers["New-Api-User"] = str(r.json()["data"]["id"])
        return client

    def reload_channels(self) -> None:
        self.run(self.host.relay.index.load())

    def flush(self) -> None:
        self.run(self.host.relay.ledger.flush())

    def logs(self, **where: Any) -> list[dict[str, Any]]:
        async def go() -> list[dict[str, Any]]:
            self.host.relay.ledger and await self.host.relay.ledger.flush()
            query = Log.select().order_by(Log.id)
            for column, value in where.items():
                query = query.where(getattr(Log, column) == value)
            return await query

        return self.run(go())

    def balance(self, key: str) -> int | None:
        """A live balance in the shared store: ``u<user id>`` or ``t<token id>``."""
        return self.run(self.host.wallets.store.get(key))

    def user_row(self, user_id: int) -> dict[str, Any]:
        return self.run(User.select().where(User.id == user_id).first())

    def token_row(self, key: str) -> dict[str, Any]:
        return self.run(Token.select().where(Token.key == key.removeprefix("sk-")).first())

    def channel_row(self, channel_id: int) -> dict[str, Any]:
        return self.run(Channel.select().where(Channel.id == channel_id).first())


@contextmanager
def gateway(config: Config) -> Iterator[Gateway]:
    gw = Gateway(config).start()
    try:
        yield gw
    finally:
        gw.stop()


def start_gateway(data_dir: Any, *, fixture_plugins: tuple[str, ...] = (), **overrides: Any) -> Gateway:
    config = Config(data_dir=data_dir, session_secret="test-secret", sync_interval=0.2, **overrides)
    gw = Gateway(config, fixture_plugins).start()
    gw.option(SelfUseModeEnabled="true")  # unknown test models are priced at New API's self-use ratio
    return gw


def unique(prefix: str = "m") -> str:
    return f"{prefix}-{random_key(6).lower()}"


@pytest.fixture(scope="module")
def up() -> FakeUpstream:
    """The session's fake OpenAI upstream (filter its journal by model: it is shared)."""
    return shared_fake_openai()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway on SQLite for the tests of one module."""
    gateway = start_gateway(tmp_path_factory.mktemp("gw"))
    yield gateway
    gateway.stop()
