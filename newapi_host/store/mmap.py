"""Shared counters for the workers of one machine: a hash table in a memory-mapped file.

``newapi serve`` creates the file before it starts its workers and removes it when it stops;
each worker maps it. Every operation takes an exclusive ``flock`` on the file for a few
microseconds (one lock for the whole table: operations are short and workers few), so a
reservation that reads and writes a wallet and a key is atomic across processes. A worker that
dies holding the lock releases it with its file descriptor.

The file lives in the data directory rather than ``/dev/shm``: containers often give
``/dev/shm`` only 64 MB, and a write beyond a full tmpfs kills the process. The file is sparse,
so only the slots in use take memory or disk.

Layout: a 64-byte header (magic, capacity), then ``capacity`` slots of 32 bytes: the key's
64-bit hash (0: never used), the value, the expiry (Unix seconds, 0: never) and a spare word.
Slots are found by linear probing and never emptied; an expired or forgotten slot is reused by
the next key that probes past it.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import mmap
import os
import struct
from pathlib import Path

from . import StoreUnavailable
from .memory import LocalStore

MAGIC = b"NEWAPIS1"
HEADER = struct.Struct("<8sQ")
HEADER_SIZE = 64
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


def create(path: Path, slots: int = DEFAULT_SLOTS) -> None:
    """Make a fresh, empty table at ``path`` (replacing any left from an earlier run)."""
    if slots <= 0 or slots & (slots - 1):
        raise ValueError("the slot count must be a power of two")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".new")
    with open(temporary, "wb") as fh:
        header = HEADER.pack(MAGIC, slots)
        fh.write(header + bytes(HEADER_SIZE - len(header)))
        fh.truncate(HEADER_SIZE + slots * SLOT_SIZE)
    os.replace(temporary, path)


class MmapStore(LocalStore):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR)
        size = os.fstat(self._fd).st_size
        self._map = mmap.mmap(self._fd, size)
        magic, slots = HEADER.unpack_from(self._map, 0)
        if magic != MAGIC or HEADER_SIZE + slots * SLOT_SIZE != size:
            self._map.close()
            os.close(self._fd)
            raise ValueError(f"{path} is not a shared counter table")
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
