"""Each worker's journal: holds and settled charges, on disk before the ledger writes them.

A charge is settled in memory and written to the database by the ledger about a second later.
So that a worker killed in between (``kill -9``, an out-of-memory kill, a failed graceful stop)
loses nothing, every hold and every settled charge is first appended to the worker's journal,
one line each, before the response goes out. The journal file is memory-mapped (shared), so an
appended line is a copy into the page cache with no system call, and is the operating system's
the moment it is copied: a process that dies next loses none of it. An operating-system crash
may lose the last second or so of lines, since the journal is not ``fsync``-ed per line (older
charges are in the database by then). The file is kept longer than what is written (the rest
reads as zero bytes, which the reader stops at) and cut to its contents on a clean close.

Each flush records, in the same transaction as the charges, the sequence number of the last
charge it wrote (``ledger_journals``). Replaying a journal (:func:`recover`) therefore writes
exactly the charges the database does not have yet, and gives back to the shared balances the
holds whose requests never ended.

Journals live in ``<data dir>/journal/``. A worker owns one by holding an exclusive ``flock`` on
its lock file; the lock dies with the process, so a replacement worker (or the next
``newapi serve``) can take the journal over and replay it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import mmap
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from newapi_host.db.tables import LedgerJournal, Option
from newapi_host.store import SharedStore

from .ledger import Charge, Hold, settle_deltas, write_charges

log = logging.getLogger(__name__)

COMPACT_BYTES = 4 << 20  # rewrite the journal once it has grown past this
MAP_BYTES = 16 << 20  # mapped ahead of the writes (sparse: only written pages take space)


def node_id(data_dir: Path) -> str:
    """This machine's name in journal records: random, made once, kept in the data directory."""
    path = data_dir / ".node_id"
    with contextlib.suppress(FileNotFoundError):
        value = path.read_text().strip()
        if value:
            return value
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(6)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        for _ in range(100):  # another worker made it a moment ago and is writing it
            written = path.read_text().strip()
            if written:
                return written
            time.sleep(0.01)
        raise RuntimeError(f"{path} is empty; delete it") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


@dataclass
class Contents:
    """What a journal says: holds still open, charges settled, charges whose balance move landed."""

    holds: dict[int, Hold] = field(default_factory=dict)
    charges: list[Charge] = field(default_factory=list)
    applied: set[int] = field(default_factory=set)


def read_written(path: Path) -> int:
    """How many bytes of the journal at ``path`` hold records (the rest is mapped ahead, zero)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    end = data.find(b"\0")
    return len(data) if end < 0 else end


def read(path: Path) -> Contents:
    contents = Contents()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return contents
    data = data.split(b"\0", 1)[0]  # the mapped space not written yet (no record holds a zero byte)
    for line in data.splitlines():
        try:
            record = msgspec.json.decode(line)
            kind = record[0]
            if kind == "H":
                _, hold_id, user_id, token_id, amount = record
                contents.holds[hold_id] = Hold(hold_id, user_id, token_id, amount)
            elif kind == "R":
                contents.holds.pop(record[1], None)
            elif kind == "C":
                charge = msgspec.convert(record[1], Charge)
                contents.holds.pop(charge.hold_id, None)
                contents.charges.append(charge)
            elif kind == "A":
                contents.applied.add(record[1])
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError, TypeError, IndexError):
            log.warning("skipping an unreadable line in %s (a write cut short by a crash?)", path)
    return contents


class Journal:
    """The journal this worker owns (see :meth:`open`)."""

    def __init__(self, directory: Path, node: str, slot: int, lock_fd: int, next_seq: int) -> None:
        self.name = f"{node}/{slot}"
        self.path = directory / f"{slot}.jnl"
        self._lock_fd = lock_fd
        self.next_seq = next_seq
        self._map_file(read_written(self.path))

    def _map_file(self, written: int) -> None:
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            size = max(MAP_BYTES, 2 * written)
            os.ftruncate(self._fd, size)
            self._map = mmap.mmap(self._fd, size)
        except BaseException:
            os.close(self._fd)
            raise
        self._end = written

    @classmethod
    async def open(cls, data_dir: Path, store: SharedStore | None) -> Journal:
        """Take the first journal no living process holds, replaying what a dead owner left in it."""
        directory = data_dir / "journal"
        directory.mkdir(parents=True, exist_ok=True)
        node = node_id(data_dir)
        slot = 0
        while True:
            fd = os.open(directory / f"{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                slot += 1
                continue
            break
        name = f"{node}/{slot}"
        try:
            await recover(directory / f"{slot}.jnl", name, store)
            row = await LedgerJournal.select(LedgerJournal.seq).where(LedgerJournal.name == name).first()
        except BaseException:
            os.close(fd)
            raise
        return cls(directory, node, slot, fd, (row["seq"] if row else 0) + 1)

    def _append(self, record: Any) -> None:
        line = msgspec.json.encode(record) + b"\n"
        start = self._end
        end = start + len(line)
        if end > len(self._map):  # a burst outran compaction: map (and keep) twice as much
            self._map.resize(2 * end)
        self._map[start:end] = line
        self._end = end

    def hold(self, hold: Hold) -> None:
        self._append(("H", hold.id, hold.user_id, hold.token_id, hold.amount))

    def release(self, hold_id: int) -> None:
        self._append(("R", hold_id))

    def charge(self, charge: Charge) -> None:
        """Number the charge and write it down."""
        charge.seq = self.next_seq
        self.next_seq += 1
        self._append(("C", charge))

    def applied(self, seq: int) -> None:
        self._append(("A", seq))

    def too_long(self) -> bool:
        return self._end > COMPACT_BYTES

    def rewrite(self, holds: list[Hold], charges: list[Charge]) -> None:
        """Replace the journal with only what is still open: holds, and charges not yet written."""
        temporary = self.path.with_suffix(".tmp")
        lines = [msgspec.json.encode(("H", h.id, h.user_id, h.token_id, h.amount)) for h in holds]
        for charge in charges:
            lines.append(msgspec.json.encode(("C", charge)))
            if charge.applied:
                lines.append(msgspec.json.encode(("A", charge.seq)))
        content = b"".join(line + b"\n" for line in lines)
        temporary.write_bytes(content)
        os.replace(temporary, self.path)
        self._unmap()
        self._map_file(len(content))

    def _unmap(self) -> None:
        self._map.close()
        os.close(self._fd)

    def close(self) -> None:
        """Cut the file to what was written and give up the claim (a clean stop)."""
        os.ftruncate(self._fd, self._end)
        self._unmap()
        os.close(self._lock_fd)  # releases the claim


def _discard(path: Path) -> None:
    """Empty and remove a replayed journal (a small file, at start-up: no need to leave the loop)."""
    with contextlib.suppress(FileNotFoundError):
        os.truncate(path, 0)
        os.unlink(path)


async def _data_export() -> bool:
    row = await Option.select(Option.value).where(Option.key == "DataExportEnabled").first()
    return row is None or row["value"] == "true"


async def recover(path: Path, name: str, store: SharedStore | None) -> tuple[int, int]:
    """Replay a dead worker's journal: (charges written, holds given back). Then empty it.

    Charges the database lacks are written with their log rows (exactly once, by sequence
    number). Holds whose request never ended go back to the shared balances, as do balance
    moves of settled charges that had not reached an asynchronous store (Redis) yet.
    """
    contents = read(path)
    if not contents.charges and not contents.holds:
        _discard(path)
        return 0, 0
    row = await LedgerJournal.select(LedgerJournal.seq).where(LedgerJournal.name == name).first()
    committed = row["seq"] if row else 0
    missing = [c for c in contents.charges if c.seq > committed]
    export = await _data_export()
    for start in range(0, len(missing), 1000):
        await write_charges(missing[start : start + 1000], name, export)
    deltas: list[tuple[str, int]] = []
    for hold in contents.holds.values():
        deltas.extend((key, hold.amount) for key in hold.balances())
    if store is not None and not store.immediate:
        for charge in contents.charges:
            if charge.seq not in contents.applied:
                deltas.extend(settle_deltas(charge))
    if store is not None and deltas:
        # Emptied before the balances move: a crash in between keeps a hold rather than giving it twice.
        _discard(path)
        await store.add(deltas)
    _discard(path)
    if missing or contents.holds:
        log.warning(
            "journal %s replayed: %d charge(s) written, %d open hold(s) given back",
            name,
            len(missing),
            len(contents.holds),
        )
    return len(missing), len(contents.holds)


async def recover_all(data_dir: Path, store: SharedStore | None) -> tuple[int, int]:
    """Replay every journal in the data directory that no living process holds (at start-up)."""
    directory = data_dir / "journal"
    if not directory.is_dir():
        return 0, 0
    node = node_id(data_dir)
    written = released = 0
    for lock in sorted(directory.glob("*.lock")):
        slot = lock.stem
        fd = os.open(lock, os.O_RDWR)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a living worker's
            w, r = await recover(directory / f"{slot}.jnl", f"{node}/{slot}", store)
            written, released = written + w, released + r
        finally:
            os.close(fd)
    return written, released
