"""The precomputed channel index: draws keep New API's weight rules with channels already tried,
and a refresh after edits gives exactly the index a full load would, without stalling the loop."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

from newapi_host.db.tables import Channel
from newapi_host.relay import channels as channel_module
from newapi_host.relay.channels import ChannelIndex, Tier, entry_from_row

from .conftest import running


def entry(id: int, weight: int = 0, priority: int = 0, **row):
    return entry_from_row({"id": id, "type": 1, "key": f"k{id}", "weight": weight, "priority": priority, **row})


def reference(channels, tried, rng):
    """The old draw, candidate list rebuilt per pick: the semantics the tiers must keep."""
    candidates = [c for c in channels if c.id not in tried]
    if not candidates:
        return None
    weights = [c.weight for c in candidates]
    if sum(weights) == 0:
        weights = [1] * len(candidates)
    r = rng.random() * sum(weights)
    for channel, weight in zip(candidates, weights, strict=True):
        if r < weight:
            return channel
        r -= weight
    raise AssertionError


def shares(draw, n=20_000):
    counts = Counter()
    for _ in range(n):
        chosen = draw()
        counts[chosen.id if chosen else None] += 1
    return {k: v / n for k, v in counts.items()}


def test_draws_with_tried_channels_follow_the_weights_of_the_rest():
    channels = [entry(1, 10), entry(2, 0), entry(3, 30), entry(4, 60), entry(5, 0), entry(6, 5)]
    tier = Tier(channels)
    rng = random.Random(5)
    for tried in (set(), {3}, {1, 4}, {4, 6, 99}, {1, 3, 4, 6}, {1, 2, 3, 4, 6}, {1, 2, 3, 4, 5, 6}):
        got = shares(lambda tried=tried: tier.draw(tried, rng))
        want = shares(lambda tried=tried: reference(channels, tried, rng))
        assert got.keys() == want.keys(), (tried, got, want)
        for key, share in want.items():
            assert abs(got[key] - share) < 0.015, (tried, got, want)
    # zero weights are stand-bys: never drawn while a positive weight is untried
    assert {tier.draw({1, 3, 4}, rng).id for _ in range(2_000)} == {6}


def test_all_zero_weights_are_equal_chances_with_and_without_tried():
    tier = Tier([entry(i) for i in range(1, 6)])
    rng = random.Random(9)
    got = shares(lambda: tier.draw({2, 4}, rng), 15_000)
    assert set(got) == {1, 3, 5} and all(abs(v - 1 / 3) < 0.02 for v in got.values())


def test_retries_move_through_the_tier_then_down_and_never_repeat():
    index = ChannelIndex(registry=_AllTypes())
    rows = [entry(i, weight=i % 3, priority=10, models="m") for i in range(1, 51)] + [entry(99, 5, 1, models="m")]
    index.build(rows)
    tried: list[int] = []
    for _ in range(51):
        chosen = index.pick("default", "m", tried)
        assert chosen is not None and chosen.id not in tried
        tried.append(chosen.id)
    assert tried[-1] == 99  # the lower tier only once the top one is used up
    assert index.pick("default", "m", tried) is None


class _Type:
    settings_model = None


class _AllTypes:
    def channel_type(self, type_id):
        return _Type() if type_id != 777 else None  # 777: a type whose plugin is off


def snapshot(index: ChannelIndex):
    return {
        group: {model: [[c.id for c in tier.channels] for tier in tiers] for model, tiers in models.items()}
        for group, models in index._index.items()
    }, {i: (e.weight, e.priority, e.status, e.models) for i, e in index.by_id.items()}


async def test_a_refresh_after_random_edits_equals_a_full_load(sqlite_config):
    async with running(sqlite_config):
        rng = random.Random(3)
        models = [f"m{i}" for i in range(6)]
        groups = ["default", "vip", "svip"]

        def row(i):
            return Channel(
                type=rng.choice((1, 1, 1, 777)), key=f"sk-{i}", name=f"c{i}", status=rng.choice((1, 1, 1, 2, 3)),
                models=",".join(rng.sample(models, rng.randint(1, 3))), group=",".join(rng.sample(groups, 2)),
                weight=rng.choice((0, 1, 10)), priority=rng.choice((0, 5)), settings="{}",
            )  # fmt: skip

        await Channel.insert(*[row(i) for i in range(300)])
        live = ChannelIndex(registry=_AllTypes())
        await live.load()
        for round_ in range(6):
            ids = [r["id"] for r in await Channel.select(Channel.id)]
            for channel_id in rng.sample(ids, 15):
                change = rng.choice(("weight", "priority", "status", "models", "group", "delete"))
                if change == "delete":
                    await Channel.delete().where(Channel.id == channel_id)
                    continue
                values = {
                    "weight": {Channel.weight: rng.choice((0, 3, 40))},
                    "priority": {Channel.priority: rng.choice((0, 5, 9))},
                    "status": {Channel.status: rng.choice((1, 2))},
                    "models": {Channel.models: ",".join(rng.sample(models, 2))},
                    "group": {Channel.group: rng.choice(groups)},
                }[change]
                await Channel.update(values).where(Channel.id == channel_id)
            await Channel.insert(row(1000 + round_))
            before = {i: e for i, e in live.by_id.items()}
            await live.refresh()
            fresh = ChannelIndex(registry=_AllTypes())
            await fresh.load()
            assert snapshot(live) == snapshot(fresh)
            assert live.models_for("vip") == fresh.models_for("vip")
            unchanged = [i for i, e in live.by_id.items() if before.get(i) is e]
            assert len(unchanged) >= len(live.by_id) - 20  # untouched channels keep their entries


async def test_a_refresh_at_many_channels_lets_the_loop_run(sqlite_config, monkeypatch):
    """Work is sliced: with small slices the loop runs between them while an edit is applied."""
    monkeypatch.setattr(channel_module, "READ_CHUNK", 200)
    monkeypatch.setattr(channel_module, "BUILD_SLICE", 200)
    async with running(sqlite_config):
        rows = [Channel(type=1, key=f"sk-{i}", name=f"c{i}", models="one", weight=i % 7) for i in range(2000)]
        await Channel.insert(*rows)
        index = ChannelIndex(registry=_AllTypes())
        await index.load()
        await Channel.update({Channel.models: "one,two"}).where(Channel.id > 0)  # every channel changes
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0)
                ticks += 1

        task = asyncio.create_task(ticker())
        old_tiers = index._index["default"]["one"]
        refreshing = asyncio.create_task(index.refresh())
        seen_half = False
        while not refreshing.done():
            await asyncio.sleep(0)
            tiers = index._index.get("default", {})
            seen_half |= "two" in tiers and tiers["one"] is old_tiers  # a half-applied change
        await refreshing
        task.cancel()
        assert ticks > 10  # the loop ran other tasks meanwhile (the benchmark measures the longest stall)
        assert not seen_half
        assert index.has("default", "two") and len(index._index["default"]["one"][0].channels) == 2000
        started = time.perf_counter()
        assert index.pick("default", "two", set()) is not None
        assert time.perf_counter() - started < 0.01
