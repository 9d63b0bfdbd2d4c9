"""Redis pub/sub for change notifications across workers and nodes (opt-in).

With ``REDIS_CONN_STRING`` set, a worker that changes something publishes the topic (on its
database's channel, :func:`channel_for`) and every worker's
:class:`~newapi_host.sync.RevisionWatcher` re-reads the revisions at once instead of at its next
poll. The poll stays on, so a dropped connection or message only delays a change by
one sync interval; this module reconnects on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import redis.asyncio as aioredis

log = logging.getLogger(__name__)


def channel_for(cluster: str) -> str:
    """The notification channel of one database's gateways (its id from ``host_meta``), so that
    gateways on different databases can share a Redis, as their balances' keys do."""
    return f"newapi:{cluster}:revisions"


def redis_client(url: str, max_connections: int = 50) -> aioredis.Redis:
    # A blocking pool waits for a free connection instead of failing under bursts.
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=5)
    return aioredis.Redis(connection_pool=pool)


class RedisNotifier:
    def __init__(self, url: str, on_message: Callable[[], None], channel: str, max_connections: int = 50) -> None:
        self.url = url
        self.channel = channel
        self.on_message = on_message
        self.client = redis_client(url, max_connections)
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    async def publish(self, topic: str) -> None:
        await self.client.publish(self.channel, topic)

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            pubsub = self.client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                self.subscribed.set()
                delay = 0.5
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self.on_message()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.subscribed.clear()
                log.warning("redis notifications interrupted (%s); retrying in %.1fs", exc, delay)
            finally:
                # Close the broken subscription: left alone it kept its pool slot (a pool of 50
                # ran dry after 50 drops, and every publish then waited 5 s) and could even
                # reconnect on its own beside the new one.
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10)

    async def start(self) -> None:
        await self.client.ping()  # fail fast at start-up on a wrong URL
        self._task = asyncio.get_running_loop().create_task(self._listen(), name="redis-notifier")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), 5)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.aclose()
