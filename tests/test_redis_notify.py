"""With Redis configured, a change reaches other workers at once instead of at the next poll."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from newapi_host.store import StoreUnavailable

from .conftest import as_root, running

pytestmark = pytest.mark.redis


async def test_pubsub_wakes_other_workers_before_their_poll(sqlite_config, redis_url):
    # Poll every 30 s: only the Redis message can make the second worker notice within 1 s.
    config = dataclasses.replace(sqlite_config, redis_url=redis_url, sync_interval=30)
    async with running(config, "acme") as first, running(config, "acme") as second:
        await as_root(first)
        assert (await second.get("/acme/hello")).status_code == 200
        started = time.monotonic()
        await first.put("/api/plugins/acme", json={"enabled": False})
        while (await second.get("/acme/hello")).status_code != 404:
            assert time.monotonic() - started < 1, "pub/sub did not wake the other worker"
            await asyncio.sleep(0.02)


async def test_a_wrong_redis_url_fails_start_up_clearly(sqlite_config):
    config = dataclasses.replace(sqlite_config, redis_url="redis://127.0.0.1:1/0")
    with pytest.raises(BaseException) as excinfo:
        async with running(config):
            pass
    # the balances' store is the first to need Redis: it names the address and the cause
    assert excinfo.group_contains(StoreUnavailable, match="Redis is not reachable.*127.0.0.1:1")


async def test_the_notification_channel_is_named_by_the_database(sqlite_config, redis_url):
    """Gateways on different databases may share one Redis (their balances' keys are named by the
    database's id): their change notifications are too, so they do not wake each other."""
    import redis.asyncio as aioredis

    from newapi_host.billing.wallets import cluster_id

    config = dataclasses.replace(sqlite_config, redis_url=redis_url, sync_interval=30)
    async with running(config, "acme") as client:
        await as_root(client)
        mine = f"newapi:{await cluster_id()}:revisions"
        listener = aioredis.Redis.from_url(redis_url)
        pubsub = listener.pubsub()
        await pubsub.subscribe(mine, "newapi:revisions")  # its own channel, and the one all once shared
        try:
            assert (await client.put("/api/plugins/acme", json={"enabled": False})).json()["success"]
            heard = []
            deadline = time.monotonic() + 1
            while time.monotonic() < deadline:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
                if message is not None:
                    heard.append((message["channel"], message["data"]))
            assert heard == [(mine.encode(), b"plugins")], heard
        finally:
            await pubsub.aclose()
            await listener.aclose()
