"""Change notification across workers and nodes.

A writer bumps a topic's counter in the ``revisions`` table inside the same transaction as its
change. Every worker polls that table (one small query per ``NEWAPI_SYNC_INTERVAL``, 0.5 s by
default, never per request) and calls the listeners of topics whose counter moved, which reload
their cache. When Redis is configured, a bump is also published so other workers react at once;
the poll remains the safety net, so a lost message only costs one interval.

A writer that knows which rows it changed (the user whose balance moved, the key that was
edited) names them in the bump; listeners registered with ``subjects=True`` then get those ids
and reload only them, as long as every version they missed named its rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

from newapi_host.db.tables import Revision, RevisionChange

log = logging.getLogger(__name__)

Listener = Callable[[], Awaitable[None]]
SubjectListener = Callable[[frozenset[int] | None], Awaitable[None]]  # None: anything may have changed
KEEP_CHANGES = 1000  # versions of a topic whose rows are kept; a worker further behind reloads everything

TOPICS = ("options", "plugins", "setup", "users", "tokens", "channels", "sessions")


async def ensure_topics(topics: tuple[str, ...] = TOPICS) -> None:
    await Revision.insert(*[Revision(topic=t, version=0) for t in topics]).on_conflict(action="DO NOTHING")


async def bump(topic: str, subjects: Iterable[int] | None = None) -> int:
    """Announce a change to ``topic``; call inside the transaction that makes the change.

    ``subjects``: the ids of the rows changed, when the caller knows them all. Returns the
    topic's new version.
    """
    updated = (
        await Revision.update({Revision.version: Revision.version + 1})
        .where(Revision.topic == topic)
        .returning(Revision.version)
    )
    if updated:
        version = int(updated[0]["version"])
    else:
        await Revision.insert(Revision(topic=topic, version=1)).on_conflict(action="DO NOTHING")
        version = await version_of(topic)
    if subjects is not None:
        named = ",".join(str(i) for i in sorted({int(i) for i in subjects}))
        await RevisionChange.insert(RevisionChange(topic=topic, version=version, subjects=named))
        if version % 100 == 0:  # now and then, forget what no worker can still need
            await RevisionChange.delete().where(
                (RevisionChange.topic == topic) & (RevisionChange.version <= version - KEEP_CHANGES)
            )
    return version


async def changed_subjects(topic: str, after: int, upto: int) -> frozenset[int] | None:
    """The ids named by versions ``after + 1 .. upto`` of ``topic``; None if any version named none."""
    if not 0 < upto - after <= KEEP_CHANGES:
        return None
    rows = await RevisionChange.select(RevisionChange.version, RevisionChange.subjects).where(
        (RevisionChange.topic == topic) & (RevisionChange.version > after) & (RevisionChange.version <= upto)
    )
    if len({row["version"] for row in rows}) != upto - after:
        return None
    return frozenset(int(i) for row in rows for i in row["subjects"].split(",") if i)


async def version_of(topic: str) -> int:
    row = await Revision.select(Revision.version).where(Revision.topic == topic).first()
    return int(row["version"]) if row else 0


class RevisionWatcher:
    """Polls ``revisions`` and calls each topic's listeners when its counter changes."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._listeners: dict[str, list[tuple[Callable[..., Awaitable[None]], bool]]] = {}
        self._seen: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._checking = asyncio.Lock()  # a caller of check() returns only after reloads finished
        self.publish: Callable[[str], Awaitable[None]] | None = None  # set by the Redis notifier

    def on(self, topic: str, listener: Listener | SubjectListener, *, subjects: bool = False) -> None:
        """Call ``listener`` when ``topic`` changes; with ``subjects``, with the ids of the rows
        that changed (None when not every change named them)."""
        self._listeners.setdefault(topic, []).append((listener, subjects))

    async def prime(self) -> None:
        """Record current counters without calling listeners; call it before the caches load."""
        self._seen = {r["topic"]: r["version"] for r in await Revision.select(Revision.topic, Revision.version)}

    async def changed(self, topic: str) -> None:
        """Tell this worker's listeners and the others now, after the change committed."""
        if self.publish is not None:
            with contextlib.suppress(Exception):
                await self.publish(topic)
        await self.check()

    def wake(self) -> None:
        self._wake.set()

    async def check(self) -> None:
        async with self._checking:
            await self._check()

    async def _check(self) -> None:
        rows = await Revision.select(Revision.topic, Revision.version)
        for row in rows:
            topic, version = row["topic"], row["version"]
            seen = self._seen.get(topic)
            if seen == version:
                continue
            listeners = self._listeners.get(topic, ())
            ids: frozenset[int] | None = None
            if seen is not None and any(targeted for _, targeted in listeners):
                try:
                    ids = await changed_subjects(topic, seen, version)
                except Exception:
                    log.warning("reading what changed in %s failed; reloading all of it", topic, exc_info=True)
            for listener, targeted in listeners:
                try:
                    await (listener(ids) if targeted else listener())
                except Exception:
                    log.exception("reloading %s after a change failed", topic)
            # Only now: a check cancelled half-way (the request that ran it went away) leaves the
            # change to the next one instead of losing it.
            self._seen[topic] = version

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("revision poll failed; retrying", exc_info=True)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="revision-watcher")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
