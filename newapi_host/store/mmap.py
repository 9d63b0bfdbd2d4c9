"""Shared counters for the workers of one machine: a hash table in a memory-mapped file.

``newapi serve`` creates the file before it starts its workers and removes it when it stops;
each worker maps it. Every operation holds one lock for the whole table for a few microseconds
(operations are short and workers few), so a reservation that reads and writes a wallet and a
key is atomic across processes. The lock is a robust process-shared mutex inside the file
(:mod:`newapi_host.store.mutex`: no system call when it is free) where libc has one, else an
exclusive ``flock`` on the file. Either way a worker that dies holding it does not block the rest.

The file lives in the data directory rather than ``/dev/shm``: containers often give
``/dev/shm`` only 64 MB, and a write beyond a full tmpfs kills the process. The file is sparse,
so only the slots in use take memory or disk.

Layout: a 128-byte header (magic, capacity, lock kind; the mutex in its second half), then
``capacity`` slots of 32 bytes: the key's
64-bit hash (0: never used), the value, the expiry (Unix seconds, 0: never) and a spare word.
Slots are found by linear probing and never emptied; an expired or forgotten slot is reused by
the next key that probes past it.
"""

from __future__ import annotations

import ctypes
import fcntl
import functools
import hashlib
import mmap
import os
import struct
from pathlib import Path

from . import StoreUnavailable, mutex
from .memory import LocalStore

MAGIC = b"NEWAPIS2"
HEADER = struct.Struct("<8sQQ")  # magic, slot count, lock kind
HEADER_SIZE = 128
MUTEX_OFFSET = 64
LOCK_FLOCK, LOCK_MUTEX = 0, 1
SLOT = struct.Struct("<Qqd")
SLOT_SIZE = 32
MAX_PROBE = 4096
DEFAULT_SLOTS = 1 << 21  # 64 MB of address space, sparse on disk


class StoreFull(StoreUnavailable):
    """No free slot near the key's place: the table needs more capacity (``NEWAPI_SHARED_SLOTS``)."""


@functools.lru_cache(maxsize=1 << 16)
def key_hash(key: str) -> int:
    """A stable 64-bit hash (Python's own ``hash`` differs between processes); never 0."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little") or 1


def create(path: Path, slots: int = DEFAULT_SLOTS, *, kind: int | None = None) -> None:
    """Make a fresh, empty table at ``path`` (replacing any left from an earlier run).

    ``kind`` chooses the lock (``LOCK_MUTEX`` where this platform has it, else ``LOCK_FLOCK``);
    every process opening the table uses the one it was made with.
    """
    if slots <= 0 or slots & (slots - 1):
        raise ValueError("the slot count must be a power of two")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".new")
    if kind is None:
        kind = LOCK_MUTEX if mutex.available() else LOCK_FLOCK
    elif kind == LOCK_MUTEX and not mutex.available():
        raise ValueError("this platform has no robust process-shared mutex")
    with open(temporary, "w+b") as fh:
        header = HEADER.pack(MAGIC, slots, kind)
        fh.write(header + bytes(HEADER_SIZE - len(header)))
        fh.truncate(HEADER_SIZE + slots * SLOT_SIZE)
        fh.flush()
        if kind == LOCK_MUTEX:
            with mmap.mmap(fh.fileno(), HEADER_SIZE) as header_map:
                mutex.initialize(_address(header_map, MUTEX_OFFSET))
    os.replace(temporary, path)


def _address(mapping: mmap.mmap, offset: int) -> int:
    """Where byte ``offset`` of ``mapping`` is in memory (valid while the mapping is open)."""
    view = ctypes.c_char.from_buffer(mapping, offset)
    try:
        return ctypes.addressof(view)
    finally:
        del view  # no export left behind: the mapping can still be closed


class MmapStore(LocalStore):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR)
        size = os.fstat(self._fd).st_size
        self._map = mmap.mmap(self._fd, size)
        magic, slots, kind = HEADER.unpack_from(self._map, 0) if size >= HEADER_SIZE else (b"", 0, 0)
        if magic != MAGIC or HEADER_SIZE + slots * SLOT_SIZE != size or kind not in (LOCK_FLOCK, LOCK_MUTEX):
            self._map.close()
            os.close(self._fd)
            raise ValueError(f"{path} is not a shared counter table")
        if kind == LOCK_MUTEX:
            if not mutex.available():
                self._map.close()
                os.close(self._fd)
                raise ValueError(f"{path} is locked by a mutex this process cannot use")
            shared_mutex = mutex.SharedMutex(_address(self._map, MUTEX_OFFSET))
            self.lock = shared_mutex.acquire  # type: ignore[method-assign]
            self.unlock = shared_mutex.release  # type: ignore[method-assign]
        self.slots = slots
        self._mask = slots - 1
        self._places: dict[int, int] = {}  # key hash -> slot index, checked on every use

    async def close(self) -> None:
        if not self._map.closed:
            self._map.close()
            os.close(self._fd)

    def lock(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def unlock(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _find(self, wanted: int, moment: float, create: bool) -> int:
        """The slot holding ``wanted``; with ``create``, else the one it should take; -1: absent."""
        place = self._places.get(wanted)
        if place is not None and SLOT.unpack_from(self._map, HEADER_SIZE + place * SLOT_SIZE)[0] == wanted:
            return place
        index = wanted & self._mask
        reusable = -1
        for _ in range(min(MAX_PROBE, self.slots)):
            found, _, expires = SLOT.unpack_from(self._map, HEADER_SIZE + index * SLOT_SIZE)
            if found == wanted:
                if len(self._places) > 1 << 16:
                    self._places.clear()
                self._places[wanted] = index
                return index
            if found == 0:
                if not create:
                    return -1
                return reusable if reusable >= 0 else index
            if reusable < 0 and expires and expires <= moment:
                reusable = index
            index = (index + 1) & self._mask
        if create and reusable >= 0:
            return reusable
        if create:
            raise StoreFull(f"the shared counter table {self.path} is full; set NEWAPI_SHARED_SLOTS higher")
        return -1

    def read(self, key: str, moment: float) -> int | None:
        wanted = key_hash(key)
        place = self._places.get(wanted)  # the usual case: one unpack, no probing
        if place is not None:
            found, value, expires = SLOT.unpack_from(self._map, HEADER_SIZE + place * SLOT_SIZE)
            if found == wanted:
                return None if expires and expires <= moment else value
        index = self._find(wanted, moment, create=False)
        if index < 0:
            return None
        _, value, expires = SLOT.unpack_from(self._map, HEADER_SIZE + index * SLOT_SIZE)
        if expires and expires <= moment:
            return None
        return value

    def write(self, key: str, value: int, expires: float, moment: float) -> None:
        wanted = key_hash(key)
        place = self._places.get(wanted)
        if place is None or SLOT.unpack_from(self._map, HEADER_SIZE + place * SLOT_SIZE)[0] != wanted:
            place = self._find(wanted, moment, create=True)
        SLOT.pack_into(self._map, HEADER_SIZE + place * SLOT_SIZE, wanted, value, expires)

    def remove(self, key: str) -> None:
        wanted = key_hash(key)
        index = self._find(wanted, 0.0, create=False)
        if index >= 0:  # expired long ago: absent to readers, reusable by writers
            SLOT.pack_into(self._map, HEADER_SIZE + index * SLOT_SIZE, wanted, 0, 1.0)
