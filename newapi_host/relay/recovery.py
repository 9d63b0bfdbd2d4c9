"""Automatic channel re-enable: test what the gateway disabled and bring back what passes.

New API's scheduled channel test (``CHANNEL_TEST_FREQUENCY``, mode "passive recovery") tests
channels the gateway disabled itself (status 3) and enables each one that passes when
``AutomaticEnableChannelEnabled`` is on. This job does the same, once per cluster under a job
lease, through :func:`~newapi_host.relay.health.probe_channel`, which reaches any channel type
through the converters. For multi-key channels every key the gateway disabled is tested on its
own and comes back alone. Channels and keys an admin disabled (status 2) are never touched.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from newapi_host.db.tables import CHANNEL_AUTO_DISABLED, CHANNEL_ENABLED, Channel
from newapi_host.plugins.contracts import BackgroundJob, JobContext

from .health import probe_channel

if TYPE_CHECKING:
    from .pipeline import Relay

log = logging.getLogger(__name__)

CONCURRENCY = 4  # channels tested at once, as the admin's "test all"
OPTION = "AutomaticEnableChannelEnabled"


def _key_statuses(channel_info: str | None) -> tuple[list[int], bool]:
    """A multi-key channel's automatically disabled keys, and whether any key is still enabled."""
    try:
        info: Any = json.loads(channel_info or "{}") or {}
    except ValueError:
        return [], True
    if not isinstance(info, dict) or not info.get("is_multi_key"):
        return [], True
    statuses = info.get("multi_key_status_list")
    statuses = {str(k): v for k, v in statuses.items()} if isinstance(statuses, dict) else {}
    size = int(info.get("multi_key_size") or 0)
    auto = sorted(int(k) for k, v in statuses.items() if v == CHANNEL_AUTO_DISABLED and k.isdigit())
    some_enabled = size <= 0 or any(statuses.get(str(i), CHANNEL_ENABLED) == CHANNEL_ENABLED for i in range(size))
    return auto, some_enabled


async def targets() -> list[tuple[int, int | None]]:
    """(channel id, key index or None for the channel's own test) of everything to test."""
    rows = await Channel.select(Channel.id, Channel.status, Channel.channel_info).where(
        Channel.status.is_in([CHANNEL_ENABLED, CHANNEL_AUTO_DISABLED])
    )
    found: list[tuple[int, int | None]] = []
    for row in rows:
        keys, some_enabled = _key_statuses(row["channel_info"])
        found.extend((row["id"], k) for k in keys)
        if row["status"] == CHANNEL_AUTO_DISABLED and some_enabled:
            found.append((row["id"], None))  # the channel itself, with the keys it still has
    return found


async def recover_channels(relay: Relay) -> dict[str, int]:
    """Test every auto-disabled channel and key once; a pass enables it (the probe does that).

    Returns counts: ``tested``, ``enabled``. Nothing is tested while the option is off.
    """
    summary = {"tested": 0, "enabled": 0}
    if not relay.options.get_bool(OPTION):
        return summary
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(channel_id: int, key_index: int | None) -> None:
        async with gate:
            result = await probe_channel(relay, channel_id, key_index=key_index)
        summary["tested"] += 1
        if result.passed:
            summary["enabled"] += 1
        else:
            log.info("channel #%s%s still failing its test: %s", channel_id, _key(key_index), result.detail[:200])

    await asyncio.gather(*(one(cid, key) for cid, key in await targets()))
    if summary["tested"]:
        log.info("automatic channel re-enable: %(tested)s tested, %(enabled)s enabled again", summary)
    return summary


def _key(key_index: int | None) -> str:
    return "" if key_index is None else f" key {key_index}"


def recovery_job(relay: Callable[[], Relay | None], interval: float) -> BackgroundJob:
    """The once-per-cluster job; it takes no lease while the option is off."""

    async def run(ctx: JobContext) -> None:
        current = relay()
        if current is not None:
            await recover_channels(current)

    def active() -> bool:
        current = relay()
        return current is not None and current.options.get_bool(OPTION)

    return BackgroundJob(name="channel-recovery", interval=interval, run=run, active=active)
