"""Change notification across workers and nodes.

A writer bumps a topic's counter in the ``revisions`` table inside the same transaction as its
change. Every worker polls that table (one small query per ``NEWAPI_SYNC_INTERVAL``, 0.5 s by
default, never per request) and calls the listeners of topics whose counter moved, which reload
their cache. When Redis is configured, a bump is also published so other workers react at once;
the poll remains the safety net, so a lost message only costs one interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from newapi_host.db.tables import Revision

log = logging.getLogger(__name__)

Listener = Callable[[], Awaitable[None]]

TOPICS = ("options", "plugins", "setup", "users", "tokens", "channels", "sessions")


async def ensure_topics(topics: tuple[str, ...] = TOPICS) -> None:
    await Revision.insert(*[Revision(topic=t, version=0) for t in topics]).on_conflict(action="DO NOTHING")


async def bump(topic: str) -> int:
    """Announce a change to ``topic``; call inside the transaction that makes the change.

    Returns the topic's new version.
    """
    updated = (
        await Revision.update({Revision.version: Revision.version + 1})
        .where(Revision.topic == topic)
        .returning(Revision.version)
    )
    if updated:
        return int(updated[0]["version"])
    await Revision.insert(Revision(topic=topic, version=1)).on_conflict(action="DO NOTHING")
    return await version_of(topic)


async def version_of(topic: str) -> int:
    row = await Revision.select(Revision.version).where(Revision.topic == topic).first()
    return int(row["version"]) if row else 0


class RevisionWatcher:
    """Polls ``revisions`` and calls each topic's listeners when its counter changes."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._listeners: dict[str, list[Listener]] = {}
        self._seen: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._checking = asyncio.Lock()  # a caller of check() returns only after reloads finished
        self.publish: Callable[[str], Awaitable[None]] | None = None  # set by the Redis notifier

    def on(self, topic: str, listener: Listener) -> None:
        self._listeners.setdefault(topic, []).append(listener)

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
            if self._seen.get(topic) == version:
                continue
            self._seen[topic] = version
            for listener in self._listeners.get(topic, ()):
                try:
                    await listener()
                except Exception:
                    log.exception("reloading %s after a change failed", topic)

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
