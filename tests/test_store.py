"""The shared counters' contract, held by every backend: memory, a mapped file, Redis.

The file backend is also driven from several processes at once, as ``newapi serve``'s workers
drive it, and must never let them overdraw a balance between them.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from newapi_host.store import NO_AMOUNT, NO_TRUST, Outcome, SharedStore, decide, mutex, window_decision
from newapi_host.store import mmap as shared
from newapi_host.store.memory import MemoryStore
from newapi_host.store.mmap import MmapStore, StoreFull
from newapi_host.store.redis import RedisStore

from .conftest import REDIS_URL, unavailable


@pytest.fixture(params=["memory", "mmap", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SharedStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "mmap":
        shared.create(tmp_path / "counters.bin", 1024)
        s: SharedStore = MmapStore(tmp_path / "counters.bin")
    else:
        s = RedisStore(REDIS_URL, f"test-{uuid.uuid4().hex[:8]}")
        try:
            await s.start()
        except Exception as exc:
            unavailable("Redis", f"{REDIS_URL}: {exc}")
    yield s
    await s.close()


async def test_seed_sets_only_once_and_add_moves_only_known_balances(store: SharedStore):
    assert await store.get("u1") is None
    assert await store.seed("u1", 1000) == 1000
    assert await store.seed("u1", 5) == 1000  # already there: the live value wins
    await store.add([("u1", -300), ("u2", 50)])
    assert await store.get("u1") == 700
    assert await store.get("u2") is None  # never seeded: stays absent, to be seeded from the database
    pending = store.add_soon([("u1", 30)])
    if pending is not None:
        await pending
    assert await store.get("u1") == 730
    await store.forget("u1")
    assert await store.get("u1") is None
    assert await store.seed("u1", 9) == 9


async def test_reserve_applies_new_apis_rule_atomically(store: SharedStore):
    r = await store.reserve("u7", "t7", 100, NO_TRUST)
    assert r.outcome is Outcome.UNKNOWN
    await store.seed("u7", 1000)
    assert (await store.reserve("u7", "t7", 100, NO_TRUST)).outcome is Outcome.UNKNOWN  # key not seeded
    await store.seed("t7", 250)
    r = await store.reserve("u7", "t7", 100, NO_TRUST)
    assert (r.outcome, r.wallet, r.key) == (Outcome.RESERVED, 900, 150)
    r = await store.reserve("u7", "t7", 200, NO_TRUST)
    assert (r.outcome, r.wallet, r.key) == (Outcome.KEY_SHORT, 900, 150)  # nothing taken
    r = await store.reserve("u7", None, 901, NO_TRUST)
    assert (r.outcome, r.wallet, r.key) == (Outcome.WALLET_SHORT, 900, None)
    r = await store.reserve("u7", None, 900, NO_TRUST)
    assert (r.outcome, r.wallet) == (Outcome.RESERVED, 0)
    assert (await store.reserve("u7", None, 1, NO_TRUST)).outcome is Outcome.WALLET_SHORT
    # the trust bypass: both above the line, nothing is taken and no amount is needed
    await store.seed("u8", 10_000)
    await store.seed("t8", 6_000)
    r = await store.reserve("u8", "t8", NO_AMOUNT, 5_000)
    assert (r.outcome, r.wallet, r.key) == (Outcome.TRUSTED, 10_000, 6_000)
    await store.add([("t8", -2_000)])
    assert (await store.reserve("u8", "t8", NO_AMOUNT, 5_000)).outcome is Outcome.NEED_AMOUNT
    await store.add([("t8", -4_000)])
    assert (await store.reserve("u8", "t8", 10, 5_000)).outcome is Outcome.KEY_EXHAUSTED


def test_decide_matches_new_apis_pre_consume():
    assert decide(0, None, 1, NO_TRUST) is Outcome.WALLET_SHORT  # an empty wallet is refused even at 0
    assert decide(10, None, 0, NO_TRUST) is Outcome.RESERVED
    assert decide(10, 0, 1, NO_TRUST) is Outcome.KEY_EXHAUSTED
    assert decide(10, -5, 1, 1) is Outcome.KEY_EXHAUSTED  # exhausted wins over trust
    assert decide(6, 6, NO_AMOUNT, 5) is Outcome.TRUSTED
    assert decide(5, 6, NO_AMOUNT, 5) is Outcome.NEED_AMOUNT  # strictly above the line


async def test_rate_windows_count_across_the_edge(store: SharedStore):
    key = f"rl-{uuid.uuid4().hex[:6]}"
    allowed = [(await store.hit(key, 60, limit=3))[0] for _ in range(5)]
    assert allowed == [True, True, True, False, False]
    ok, estimate, wait = await store.hit(key, 60, limit=3)
    assert not ok and estimate == pytest.approx(3, abs=0.01) and 1 <= wait <= 120
    counted = [(await store.hit(f"{key}-free", 60))[1] for _ in range(4)]
    assert counted == pytest.approx([1, 2, 3, 4], abs=0.01)


def test_window_estimate_weighs_the_previous_window():
    # 10 events in the previous minute, none yet in this one, 30 s in: half of them still count
    ok, estimate, _ = window_decision(10, 0, 90.0, 60.0, 6)
    assert ok and estimate == pytest.approx(6)
    ok, estimate, wait = window_decision(10, 0, 90.0, 60.0, 5)
    assert not ok and estimate == pytest.approx(5) and wait == pytest.approx(6.0)  # at 96 s: 4 count
    ok, _, wait = window_decision(0, 5, 30.0, 60.0, 5)
    assert not ok and wait == pytest.approx(30 + 12)  # the next window, once 4 of the 5 are left


async def test_mapped_file_is_shared_between_openers(tmp_path: Path):
    shared.create(tmp_path / "c.bin", 64)
    a, b = MmapStore(tmp_path / "c.bin"), MmapStore(tmp_path / "c.bin")
    await a.seed("u1", 100)
    assert (await b.reserve("u1", None, 60, NO_TRUST)).outcome is Outcome.RESERVED
    assert (await a.reserve("u1", None, 60, NO_TRUST)).outcome is Outcome.WALLET_SHORT
    await b.forget("u1")
    for i in range(40):  # the forgotten slot and the rest are reused; places cached by `a` are checked
        await b.seed(f"k{i}", i)
    assert await a.get("u1") is None and await a.get("k39") == 39
    await a.close()
    await b.close()


async def test_a_full_table_says_so(tmp_path: Path):
    shared.create(tmp_path / "c.bin", 8)
    store = MmapStore(tmp_path / "c.bin")
    for i in range(8):
        await store.seed(f"u{i}", i)
    with pytest.raises(StoreFull, match="NEWAPI_SHARED_SLOTS"):
        await store.seed("u99", 1)
    await store.close()


async def test_a_short_lived_entry_is_gone_after_its_ttl(store: SharedStore):
    key = f"code-{uuid.uuid4().hex}"  # Redis is shared between runs
    assert await store.seed(key, 123456, ttl=1) == 123456
    assert await store.get(key) == 123456
    await asyncio.sleep(1.2)
    assert await store.get(key) is None


async def test_short_lived_entries_never_fill_the_table(tmp_path: Path):
    """Mailed codes nobody enters, sign-in flows nobody finishes: their slots come back."""
    shared.create(tmp_path / "c.bin", 8)
    store = MmapStore(tmp_path / "c.bin")
    for i in range(6):
        await store.seed(f"first{i}", i, ttl=1)
    await asyncio.sleep(1.2)
    for i in range(6):  # the expired slots are taken again; without a ttl this raises StoreFull
        await store.seed(f"second{i}", i, ttl=1)
    assert await store.get("second5") == 5 and await store.get("first5") is None
    await store.close()


def _spend(path: str, rounds: int, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    async def go() -> int:
        store = MmapStore(Path(path))
        won = 0
        for _ in range(rounds):
            r = await store.reserve("u1", "t1", 7, NO_TRUST)
            if r.outcome is Outcome.RESERVED:
                won += 1
                await store.add([("u1", 7 - 5), ("t1", 7 - 5)])  # settle: the hold back, 5 charged
        await store.close()
        return won

    results.put(asyncio.run(go()))


LOCK_KINDS = [shared.LOCK_FLOCK] + ([shared.LOCK_MUTEX] if mutex.available() else [])


@pytest.mark.parametrize("kind", LOCK_KINDS, ids=lambda k: {0: "flock", 1: "mutex"}[k])
async def test_processes_never_overdraw_between_them(tmp_path: Path, kind: int):
    """Four processes spend one wallet concurrently; the sum taken is exact and never below zero."""
    path = tmp_path / "c.bin"
    shared.create(path, 1024, kind=kind)
    store = MmapStore(path)
    await store.seed("u1", 10_000)
    await store.seed("t1", 1_000)  # the key runs out first: 1000 // 5 = 200 charges at most
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_spend, args=(str(path), 150, results)) for _ in range(4)]
    for p in procs:
        p.start()
    won = sum(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(30)
    key = await store.get("t1")
    wallet = await store.get("u1")
    await store.close()
    assert won == 199  # the 200th charge would need a hold of 7 with 5 left (1000 - 199 * 5)
    assert key == 1_000 - won * 5 and wallet == 10_000 - won * 5


async def test_peek_says_whether_a_hit_would_fit_without_counting(store: SharedStore):
    key = f"peek-{time.time_ns()}"
    assert (await store.peek(key, 60, 2))[0]
    assert (await store.hit(key, 60))[0] and (await store.hit(key, 60))[0]
    allowed, estimate, wait = await store.peek(key, 60, 2)
    assert not allowed and estimate == 2 and wait >= 1
    assert (await store.peek(key, 60, 3))[0]
    assert (await store.peek(key, 60, 3))[0]  # peeking counted nothing
    assert (await store.hit(key, 60, 3))[0] and not (await store.hit(key, 60, 3))[0]


def _hold_the_lock_and_wait(path: str, locked: multiprocessing.Event) -> None:  # type: ignore[valid-type]
    store = MmapStore(Path(path))
    store.lock()
    locked.set()  # type: ignore[attr-defined]
    time.sleep(60)  # killed here, the lock still held


@pytest.mark.parametrize("kind", LOCK_KINDS, ids=lambda k: {0: "flock", 1: "mutex"}[k])
async def test_a_worker_killed_holding_the_lock_does_not_stop_the_others(tmp_path: Path, kind: int):
    path = tmp_path / "c.bin"
    shared.create(path, 64, kind=kind)
    store = MmapStore(path)
    await store.seed("u1", 100)
    ctx = multiprocessing.get_context("spawn")
    locked = ctx.Event()
    holder = ctx.Process(target=_hold_the_lock_and_wait, args=(str(path), locked))
    holder.start()
    try:
        assert locked.wait(30)
        waiting = asyncio.get_running_loop().run_in_executor(
            None, lambda: asyncio.run(store.reserve("u1", None, 10, NO_TRUST))
        )
        await asyncio.sleep(0.3)
        assert not waiting.done()  # the holder is alive: the reservation waits for it
        os.kill(holder.pid, signal.SIGKILL)  # type: ignore[arg-type]
        reservation = await asyncio.wait_for(waiting, 10)
        assert reservation.outcome is Outcome.RESERVED and await store.get("u1") == 90
    finally:
        holder.kill()
        holder.join(10)
        await store.close()


def test_a_table_says_which_lock_it_uses(tmp_path: Path):
    shared.create(tmp_path / "f.bin", 8, kind=shared.LOCK_FLOCK)
    assert shared.HEADER.unpack_from((tmp_path / "f.bin").read_bytes())[2] == shared.LOCK_FLOCK
    (tmp_path / "bad.bin").write_bytes(shared.HEADER.pack(shared.MAGIC, 8, 7).ljust(shared.HEADER_SIZE + 8 * 32, b"\0"))
    with pytest.raises(ValueError, match="not a shared counter table"):
        MmapStore(tmp_path / "bad.bin")


async def test_a_hit_can_count_many_events_at_once(store: SharedStore):
    """Tokens used by an answer: counted in one go, then the budget is checked as for events."""
    key = f"tpm-{uuid.uuid4().hex}"
    assert (await store.peek(key, 60, 50))[0]
    assert (await store.hit(key, 60, 0, 30))[0]
    assert (await store.peek(key, 60, 50))[0]  # 30 of 50 used
    await store.hit(key, 60, 0, 30)
    allowed, estimate, wait = await store.peek(key, 60, 50)
    assert not allowed and estimate >= 59 and wait >= 1
