"""A change committed while a worker loads its caches at start is not missed."""

from __future__ import annotations

import time

from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import Channel
from newapi_host.relay.channels import ChannelIndex
from newapi_host.sync import bump

from .conftest import eventually, running


async def test_a_channel_created_during_start_up_reaches_the_index(sqlite_config, monkeypatch):
    real_load = ChannelIndex.load
    loads = []

    async def load_then_another_worker_adds_a_channel(self: ChannelIndex) -> None:
        await real_load(self)
        if not loads:  # the first load, at start: another worker's change lands right after it
            async with write_transaction():
                await Channel.insert(
                    Channel(type=1, key="sk-x", name="late", models="late-model", group="default",
                            created_time=int(time.time()))
                )  # fmt: skip
                await bump("channels")
        loads.append(1)

    monkeypatch.setattr(ChannelIndex, "load", load_then_another_worker_adds_a_channel)
    async with running(sqlite_config) as client:
        index = client.app.state.host.relay.index
        await eventually(lambda: index.has("default", "late-model"), within=3, what="the late channel in the index")
