"""Counters every worker and node shares: wallet balances and rate windows.

A balance here is the live spendable amount of a wallet (``u<user id>``) or a limited key
(``t<token id>``): seeded once from the database, then moved by holds, settlements and admin
credits as they happen, on every worker at once. The database stays the record; the ledger writes
settled charges to it a second later. See docs/billing.md for how the two are kept in step.

Rate windows count events per key over a sliding window (an estimate over two fixed windows, as
most shared rate limiters do), for sign-in and per-address limits, relay rate limits and channel
error counts.

Three backends share one contract, tested together in ``tests/test_store.py``:

- :class:`~newapi_host.store.memory.MemoryStore`: one process (an app built in a test, or a
  single in-process server);
- :class:`~newapi_host.store.mmap.MmapStore`: the workers of one machine, through a file they
  map into memory (``newapi serve`` creates it for its workers);
- :class:`~newapi_host.store.redis.RedisStore`: every node, when ``REDIS_CONN_STRING`` is set.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

NO_AMOUNT = -1  # reserve(): the caller has not worked the amount out yet
NO_TRUST = -1  # reserve(): no trust bypass


class Outcome(enum.IntEnum):
    """What :meth:`SharedStore.reserve` did."""

    RESERVED = 0  # the amount was taken from the wallet (and the key)
    TRUSTED = 1  # both balances are above the trust line: nothing taken, nothing needed
    NEED_AMOUNT = 2  # not trusted, and no amount given: work it out and call again
    WALLET_SHORT = 3  # the wallet has less than the amount (or nothing)
    KEY_SHORT = 4  # the limited key has less than the amount
    KEY_EXHAUSTED = 5  # the limited key has nothing left at all
    UNKNOWN = 6  # a balance is not in the store: seed it and call again


@dataclass(frozen=True, slots=True)
class Reservation:
    outcome: Outcome
    wallet: int
    key: int | None  # None for an unlimited key


class StoreUnavailable(RuntimeError):
    """The shared store cannot be reached (Redis down): money must not move on a guess."""


def user_key(user_id: int) -> str:
    return f"u{user_id}"


def token_key(token_id: int) -> str:
    return f"t{token_id}"


def decide(wallet: int, key: int | None, amount: int, trust: int) -> Outcome:
    """The reservation rule every backend applies atomically to the balances it holds."""
    if key is not None and key <= 0:
        return Outcome.KEY_EXHAUSTED
    if trust != NO_TRUST and wallet > trust and (key is None or key > trust):
        return Outcome.TRUSTED
    if amount == NO_AMOUNT:
        return Outcome.NEED_AMOUNT
    if wallet <= 0 or wallet < amount:
        return Outcome.WALLET_SHORT
    if key is not None and key < amount:
        return Outcome.KEY_SHORT
    return Outcome.RESERVED


def window_decision(previous: int, current: int, moment: float, window: float, limit: int) -> tuple[bool, float, float]:
    """Whether one more event fits: (allowed, events in the window counting it, seconds to wait).

    The sliding window is estimated from two fixed ones: the previous window counts in
    proportion to how much of it the sliding window still covers, so a burst at a window's edge
    cannot pass twice the limit.
    """
    elapsed = (moment % window) / window
    estimate = previous * (1.0 - elapsed) + current
    if limit <= 0 or estimate + 1 <= limit + 1e-9:
        return True, estimate + 1, 0.0
    if current < limit and previous > 0:  # room comes back as the previous window slides out
        needed = 1.0 - (limit - 1 - current) / previous
        wait = (needed - elapsed) * window
    else:  # the current window alone is full: wait for the next one, then its share of this one
        wait = (1.0 - elapsed) * window + (1.0 - (limit - 1) / current) * window if current else window
    return False, estimate, max(1.0, wait)


class SharedStore:
    """The contract. Balances are integers; every operation on them is atomic across workers."""

    #: True when :meth:`add_soon` has taken effect by the time it returns (no task left behind).
    immediate: bool = True

    async def start(self) -> None:
        """Connect (and fail fast on a wrong address)."""

    async def close(self) -> None:
        """Let go of connections and files; pending :meth:`add_soon` work is finished first."""

    async def get(self, key: str) -> int | None:
        raise NotImplementedError

    async def seed(self, key: str, value: int, ttl: int = 0) -> int:
        """Set ``key`` to ``value`` unless it exists; return what it holds now.

        With ``ttl`` (seconds) a new entry is gone after that long: for short-lived values (mailed
        codes, sign-in flows), which must not pile up in a fixed-size table when never used.
        """
        raise NotImplementedError

    async def reserve(self, wallet: str, key: str | None, amount: int, trust: int) -> Reservation:
        """Take ``amount`` from the wallet and the limited key together, if :func:`decide` allows."""
        raise NotImplementedError

    async def add(self, deltas: Sequence[tuple[str, int]]) -> None:
        """Add each delta to its balance; balances not in the store are left absent."""
        raise NotImplementedError

    def add_soon(self, deltas: Sequence[tuple[str, int]]) -> Awaitable[None] | None:
        """:meth:`add` from synchronous code: done now, or an awaitable that finishes it."""
        raise NotImplementedError

    async def forget(self, key: str) -> None:
        """Drop a balance, so it is seeded again from the database on next use."""
        raise NotImplementedError

    async def hit(self, key: str, window: float, limit: int = 0, amount: int = 1) -> tuple[bool, float, float]:
        """Count one event of ``key`` in a sliding ``window`` (seconds).

        With ``limit`` > 0 the event is counted only when it fits: (allowed, estimate after,
        seconds to wait when refused). Without a limit it is always counted, as ``amount``
        events (tokens used, for a token-per-minute limit).
        """
        raise NotImplementedError

    async def peek(self, key: str, window: float, limit: int) -> tuple[bool, float, float]:
        """Whether one more event of ``key`` would fit :meth:`hit`'s ``limit``, counting nothing."""
        raise NotImplementedError


def epoch_of(moment: float, window: float) -> int:
    return math.floor(moment / window)


__all__ = [
    "NO_AMOUNT",
    "NO_TRUST",
    "Outcome",
    "Reservation",
    "SharedStore",
    "StoreUnavailable",
    "decide",
    "epoch_of",
    "token_key",
    "user_key",
    "window_decision",
]
