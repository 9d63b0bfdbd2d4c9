"""With Redis configured, a change reaches other workers at once instead of at the next poll."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
import uuid

import pytest

from newapi_host.store import StoreUnavailable

from .conftest import as_root, eventually, running
from .servers import redis_subscriptions

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


async def test_the_notifier_keeps_one_subscription_however_often_redis_drops_it(redis_url):
    """Each drop (a Redis restart, a failover, a killed client) leaves one subscription and no
    connection held: a pool of three would run dry after a few leaks."""
    import redis

    from newapi_host.notify import RedisNotifier, channel_for

    heard: list[int] = []
    notifier = RedisNotifier(redis_url, lambda: heard.append(1), channel_for(uuid.uuid4().hex), max_connections=3)
    await notifier.start()
    admin = redis.Redis.from_url(redis_url)
    me = {os.getpid()}
    try:
        for _ in range(5):
            (subscription,) = redis_subscriptions(admin, me)
            admin.client_kill_filter(_id=subscription["id"])
            await eventually(
                lambda old=subscription["id"]: any(s["id"] != old for s in redis_subscriptions(admin, me)),
                what="a new subscription",
            )
            await asyncio.sleep(0.3)  # room for a second, duplicate subscription to show up
        assert len(redis_subscriptions(admin, me)) == 1
        await notifier.publish("options")
        await eventually(lambda: heard, within=2, what="a notification after the drops")
    finally:
        admin.close()
        await notifier.stop()
