"""Shared counters for one process: the base of the local backends, and a dict-backed store.

:class:`LocalStore` implements the contract once on top of four synchronous slot operations;
:class:`MemoryStore` keeps the slots in a dict (a server that is a single process: an app built
in a test, say), :class:`~newapi_host.store.mmap.MmapStore` in a file shared by the workers of a
machine. Both answer without waiting on anything, so their ``add_soon`` is done on return.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from . import Outcome, Reservation, SharedStore, decide, epoch_of, window_decision


class LocalStore(SharedStore):
    immediate = True

    # -- the slot operations a backend provides; all run between ``lock()`` and ``unlock()`` --
    # (plain calls rather than a context manager: reserve and settle run once per request)

    def lock(self) -> None:
        """Exclude every other user of the slots (nothing to do within one process)."""

    def unlock(self) -> None:
        pass

    def read(self, key: str, moment: float) -> int | None:
        raise NotImplementedError

    def write(self, key: str, value: int, expires: float, moment: float) -> None:
        """Create or overwrite ``key`` (``expires`` 0: never)."""
        raise NotImplementedError

    def remove(self, key: str) -> None:
        raise NotImplementedError

    # -- the contract -----------------------------------------------------------------------

    async def get(self, key: str) -> int | None:
        self.lock()
        try:
            return self.read(key, time.time())
        finally:
            self.unlock()

    async def seed(self, key: str, value: int, ttl: int = 0) -> int:
        moment = time.time()
        self.lock()
        try:
            current = self.read(key, moment)
            if current is None:
                self.write(key, value, moment + ttl if ttl > 0 else 0, moment)
                return value
            return current
        finally:
            self.unlock()

    async def reserve(self, wallet: str, key: str | None, amount: int, trust: int) -> Reservation:
        moment = time.time()
        self.lock()
        try:
            balance = self.read(wallet, moment)
            remaining = self.read(key, moment) if key is not None else None
            if balance is None or (key is not None and remaining is None):
                return Reservation(Outcome.UNKNOWN, balance or 0, remaining)
            outcome = decide(balance, remaining, amount, trust)
            if outcome is Outcome.RESERVED:
                balance -= amount
                self.write(wallet, balance, 0, moment)
                if key is not None and remaining is not None:
                    remaining -= amount
                    self.write(key, remaining, 0, moment)
            return Reservation(outcome, balance, remaining)
        finally:
            self.unlock()

    def _add(self, deltas: Sequence[tuple[str, int]]) -> None:
        moment = time.time()
        self.lock()
        try:
            for key, delta in deltas:
                if delta:
                    current = self.read(key, moment)
                    if current is not None:
                        self.write(key, current + delta, 0, moment)
        finally:
            self.unlock()

    async def add(self, deltas: Sequence[tuple[str, int]]) -> None:
        self._add(deltas)

    def add_soon(self, deltas: Sequence[tuple[str, int]]) -> None:
        self._add(deltas)

    async def forget(self, key: str) -> None:
        self.lock()
        try:
            self.remove(key)
        finally:
            self.unlock()

    async def hit(self, key: str, window: float, limit: int = 0, amount: int = 1) -> tuple[bool, float, float]:
        moment = time.time()
        epoch = epoch_of(moment, window)
        current_key, previous_key = f"{key}@{epoch}", f"{key}@{epoch - 1}"
        self.lock()
        try:
            current = self.read(current_key, moment) or 0
            previous = self.read(previous_key, moment) or 0
            allowed, estimate, wait = window_decision(previous, current, moment, window, limit)
            if allowed:
                self.write(current_key, current + amount, (epoch + 2) * window, moment)
            return allowed, estimate, wait
        finally:
            self.unlock()

    async def peek(self, key: str, window: float, limit: int) -> tuple[bool, float, float]:
        moment = time.time()
        epoch = epoch_of(moment, window)
        self.lock()
        try:
            current = self.read(f"{key}@{epoch}", moment) or 0
            previous = self.read(f"{key}@{epoch - 1}", moment) or 0
        finally:
            self.unlock()
        return window_decision(previous, current, moment, window, limit)


class MemoryStore(LocalStore):
    """Slots in a dict: shared by everything in this process, and nothing outside it."""

    MAX_WINDOW_KEYS = 200_000

    def __init__(self) -> None:
        self._slots: dict[str, tuple[int, float]] = {}

    def read(self, key: str, moment: float) -> int | None:
        slot = self._slots.get(key)
        if slot is None:
            return None
        value, expires = slot
        if expires and expires <= moment:
            del self._slots[key]
            return None
        return value

    def write(self, key: str, value: int, expires: float, moment: float) -> None:
        if expires and key not in self._slots and len(self._slots) >= self.MAX_WINDOW_KEYS:
            self._drop_expired(moment)
        self._slots[key] = (value, expires)

    def remove(self, key: str) -> None:
        self._slots.pop(key, None)

    def _drop_expired(self, moment: float) -> None:
        for key in [k for k, (_, expires) in self._slots.items() if expires and expires <= moment]:
            del self._slots[key]
