"""Channel choice and channel-index rebuilds at many channels.

    python -m benchmarks.scale.channels --channels 10000 --models 1
    python -m benchmarks.scale.channels --channels 10000 --models 1000 --db postgres

Builds the gateway (its real plugin registry) on a throw-away database holding ``--channels``
channels spread over ``--models`` models, then times: one ``pick`` (first attempt, and a retry
with two channels already tried), a full index load, one channel edit picked up by the index
(the watcher's path), and the longest time the event loop went without running a 1 ms ticker
while that edit was applied (what a relay request would have waited).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time

from litestar import Litestar

from newapi_host.app import create_app
from newapi_host.db.tables import Channel

from .db import Clock, database, timed


async def make_channels(n: int, models: int) -> None:
    rng = random.Random(n)
    rows = [
        Channel(
            type=1,
            key=f"sk-{i}",
            name=f"c{i}",
            models=f"model-{i % models}",
            group="default",
            weight=rng.choice((0, 1, 5, 10, 50)),
            priority=0,
            status=1,
            settings="{}",
            setting="{}",
        )  # fmt: skip
        for i in range(n)
    ]
    for start in range(0, n, 500):
        await Channel.insert(*rows[start : start + 500])


async def stall_during(work) -> float:
    """Run ``work`` while a ticker measures the longest gap between its 1 ms wake-ups (ms)."""
    worst = 0.0
    done = False

    async def ticker() -> None:
        nonlocal worst
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            worst = max(worst, now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    await work()
    done = True
    await task
    return round(worst * 1000, 1)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--channels", type=int, default=10_000)
    parser.add_argument("--models", type=int, default=1)
    parser.add_argument("--picks", type=int, default=2000)
    parser.add_argument("--edits", type=int, default=5)
    args = parser.parse_args()
    async with database(args.db) as config:
        await make_channels(args.channels, args.models)
        app: Litestar = create_app(config)
        async with app.lifespan():
            host = app.state.host
            index = host.relay.index
            clock = Clock()
            for _ in range(5):
                with clock:
                    await index.load()
            load = timed(clock.samples)
            first, retry = Clock(), Clock()
            ids = [r["id"] for r in await Channel.select(Channel.id).limit(2)]
            for i in range(args.picks):
                model = f"model-{i % args.models}"
                with first:
                    index.pick("default", model, set())
                with retry:
                    index.pick("default", model, set(ids))
            edit, stalls = Clock(), []
            for i in range(args.edits):
                await Channel.update({Channel.weight: 7 + i}).where(Channel.id == ids[0])

                async def apply() -> None:
                    with edit:
                        for listener in host.watcher._listeners["channels"]:  # what a change notice runs
                            await listener()

                stalls.append(await stall_during(apply))
            result = {
                "db": args.db, "channels": args.channels, "models": args.models,
                "pick_us": round(timed(first.samples)["median_ms"] * 1000, 1),
                "pick_retry_us": round(timed(retry.samples)["median_ms"] * 1000, 1),
                "full_load_ms": load["median_ms"], "edit_applied_ms": timed(edit.samples)["median_ms"],
                "worst_loop_stall_during_edit_ms": max(stalls),
            }  # fmt: skip
            print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
