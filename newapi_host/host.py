"""The per-process state of a running gateway, kept on ``app.state.host``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from litestar.datastructures import State
from piccolo.engine.base import Engine

from newapi_host.auth.sessions import SessionBook
from newapi_host.config import Config
from newapi_host.jobs import JobRunner
from newapi_host.options import Options
from newapi_host.plugins.manager import PluginHost
from newapi_host.plugins.registry import Registry
from newapi_host.plugins.state import PluginStates
from newapi_host.sync import RevisionWatcher


@dataclass
class Host:
    config: Config
    engine: Engine
    plugins: PluginHost
    options: Options
    states: PluginStates
    watcher: RevisionWatcher
    jobs: JobRunner | None = None
    relay: Any = None  # newapi_host.relay.pipeline.Relay, built in the lifespan
    wallets: Any = None  # newapi_host.billing.wallets.Wallets, built in the lifespan
    sessions: SessionBook = field(default_factory=SessionBook)
    setup_done: bool = False
    started_at: int = field(default_factory=lambda: int(time.time()))
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def registry(self) -> Registry:
        return self.plugins.registry


def host_of(state: State) -> Host:
    return state.host
