"""Channel health: counting errors, disabling a failing channel, and probing it back to life.

The relay counts qualifying upstream errors per channel (and key) in the shared store and
disables the channel once they pass the threshold (:class:`ChannelHealth`,
:func:`disable_channel`); a test request (:func:`probe_channel`) records the response time and
enables an automatically disabled channel (or key) again when it passes and
``AutomaticEnableChannelEnabled`` is on, as New API does (:func:`enable_channel`). The test speaks
OpenAI chat and reaches channels of any type through the converters, so a Claude or Gemini
channel is tested the same way an OpenAI one is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import CHANNEL_AUTO_DISABLED, CHANNEL_ENABLED, CHANNEL_MANUALLY_DISABLED, Ability, Channel
from newapi_host.plugins.contracts import ConvertContext, InvalidRequest
from newapi_host.store import SharedStore
from newapi_host.sync import bump

from . import fetch_guard
from .channels import ChannelEntry, entry_from_row
from .client import UpstreamError
from .convert import convert_request, step_contexts
from .errors import RelayError, upstream_error
from .redaction import UNREACHABLE, status_error

if TYPE_CHECKING:
    from .pipeline import Relay

log = logging.getLogger(__name__)

ERROR_BODY_LIMIT = 1 << 20
TEST_MESSAGES = [{"role": "user", "content": "hi"}]


class ChannelHealth:
    """Counts qualifying errors per channel (and key) over a sliding window, on every worker at once.

    The counts live in the shared store, so a channel failing on four workers reaches the
    threshold as fast as one failing on one.
    """

    def __init__(self, store: SharedStore) -> None:
        self.store = store

    async def record(self, channel_id: int, key_index: int, threshold: int, window: float) -> bool:
        """Record one error; True when ``threshold`` errors fall within the last ``window`` seconds."""
        _, count, _ = await self.store.hit(f"errors:{channel_id}:{key_index}", window)
        return count >= threshold - 1e-9


async def disable_channel(channel: ChannelEntry, key_index: int, reason: str) -> None:
    """Auto-disable a failing key (multi-key channels) or the whole channel."""
    now = int(time.time())
    async with write_transaction():
        row = await Channel.select(Channel.channel_info, Channel.status).where(Channel.id == channel.id).first()
        if row is None:
            return
        info = {}
        with contextlib.suppress(ValueError):
            info = json.loads(row["channel_info"] or "{}") or {}
        if channel.is_multi_key and isinstance(info, dict):
            statuses = info.setdefault("multi_key_status_list", {})
            statuses[str(key_index)] = CHANNEL_AUTO_DISABLED
            info.setdefault("multi_key_disabled_reason", {})[str(key_index)] = reason
            info.setdefault("multi_key_disabled_time", {})[str(key_index)] = now
            all_off = all(statuses.get(str(i)) == CHANNEL_AUTO_DISABLED for i in range(len(channel.keys)))
            values: dict[Any, Any] = {Channel.channel_info: json.dumps(info)}
            if all_off:
                values[Channel.status] = CHANNEL_AUTO_DISABLED
                values[Channel.other_info] = json.dumps({"status_reason": "all keys are disabled", "status_time": now})
            await Channel.update(values).where(Channel.id == channel.id)
            if all_off:
                await Ability.update({Ability.enabled: False}).where(Ability.channel_id == channel.id)
        else:
            await Channel.update(
                {
                    Channel.status: CHANNEL_AUTO_DISABLED,
                    Channel.other_info: json.dumps({"status_reason": reason, "status_time": now}),
                }
            ).where((Channel.id == channel.id) & (Channel.status == CHANNEL_ENABLED))
            await Ability.update({Ability.enabled: False}).where(Ability.channel_id == channel.id)
        await bump("channels")
    log.warning("channel #%s (key %s) disabled automatically: %s", channel.id, key_index, reason)


class ProbeResult(NamedTuple):
    """A channel test: ``message`` may be shown to any admin, ``detail`` to root only.

    ``message`` has the channel's keys masked, keeps only a JSON error's message of an error answer
    and says "upstream unreachable" for any connection that failed or was refused; ``detail`` has
    the upstream's own words and the exact reason.
    """

    passed: bool
    message: str
    seconds: float
    detail: str


async def enable_channel(channel_id: int, key_index: int | None = None) -> bool:
    """Enable an automatically disabled channel again, or one automatically disabled key of it.

    Only status 3 (disabled by the gateway) is undone: a channel or key an admin disabled stays
    off. Enabling a key of a channel that was off because all its keys were gives it a usable key
    again, so the channel comes back too. True when something changed (and was announced).
    """
    async with write_transaction():
        row = await Channel.select(Channel.channel_info, Channel.status).where(Channel.id == channel_id).first()
        if row is None or row["status"] == CHANNEL_MANUALLY_DISABLED:
            return False
        values: dict[Any, Any] = {}
        if key_index is not None:
            info: Any = {}
            with contextlib.suppress(ValueError):
                info = json.loads(row["channel_info"] or "{}") or {}
            statuses = info.get("multi_key_status_list") if isinstance(info, dict) else None
            if not isinstance(statuses, dict) or statuses.get(str(key_index)) != CHANNEL_AUTO_DISABLED:
                return False
            del statuses[str(key_index)]
            for field in ("multi_key_disabled_reason", "multi_key_disabled_time"):
                if isinstance(info.get(field), dict):
                    info[field].pop(str(key_index), None)
            values[Channel.channel_info] = json.dumps(info)
        if row["status"] == CHANNEL_AUTO_DISABLED:
            values[Channel.status] = CHANNEL_ENABLED
        if not values:
            return False
        await Channel.update(values).where(Channel.id == channel_id)
        if Channel.status in values:
            await Ability.update({Ability.enabled: True}).where(Ability.channel_id == channel_id)
        await bump("channels")
    log.warning(
        "channel #%s%s enabled again: its test passed", channel_id, "" if key_index is None else f" key {key_index}"
    )
    return True


async def probe_channel(
    relay: Relay, channel_id: int, model: str | None = None, key_index: int | None = None
) -> ProbeResult:
    """Send a tiny chat request to one channel, bypassing billing and within the SSRF settings.

    The request is written in OpenAI chat and converted to the channel's own format when it speaks
    another. ``key_index`` tests that key of a multi-key channel, even a disabled one. A channel
    (or key) that was disabled automatically and passes is enabled again when the option
    ``AutomaticEnableChannelEnabled`` is on, as New API's ``ShouldEnableChannel`` decides.
    """

    def failed(message: str, seconds: float = 0.0, detail: str | None = None) -> ProbeResult:
        return ProbeResult(False, message, seconds, message if detail is None else detail)

    row = await Channel.select().where(Channel.id == channel_id).first()
    if row is None:
        return failed(f"channel #{channel_id} does not exist")
    channel = entry_from_row(row, relay.registry)
    if key_index is not None:
        if not 0 <= key_index < len(channel.keys):
            return failed(f"channel #{channel_id} has no key #{key_index}")
        others = {i: CHANNEL_MANUALLY_DISABLED for i in range(len(channel.keys)) if i != key_index}
        channel = dataclasses.replace(channel, key_status=others)  # the probe's pick_key takes this key
    channel_type = relay.registry.channel_type(channel.type)
    if channel_type is None:
        return failed(f"channel type {channel.type} is not available (plugin missing or disabled)")
    chat = relay.registry.dialect("openai.chat")
    route = relay._find_route(channel, chat) if chat is not None else None
    if route is None:
        return failed(f"no converter reaches the formats of channel type {channel.type} from OpenAI chat")
    if not any(channel.keys[i] for i in channel.enabled_keys()):
        return failed("the channel has no key: set one first")
    test_model = model or (row.get("test_model") or "") or (channel.models[0] if channel.models else "gpt-4o-mini")
    body = {"model": test_model, "messages": TEST_MESSAGES, "max_tokens": 16}
    started = time.monotonic()
    try:
        if route.path:
            ctx = ConvertContext(model=test_model)
            settings = [relay.settings_of(owner) if owner else None for owner in route.converter_owners]
            body = convert_request(route.path, body, step_contexts(route.path, ctx, settings))
        request, _, _ = relay._request_for(
            route.upstream,
            test_model,
            msgspec.json.encode(body),
            False,
            True,
            channel,
            channel_type,
            body_model=str(body.get("model") or ""),
            type_owner=route.type_owner,
        )
        response = await relay.client.send(request, proxy=channel.proxy, guard=fetch_guard.policy(relay.options))
        try:
            payload = await response.read(ERROR_BODY_LIMIT)
        finally:
            await response.close()
    except UpstreamError as exc:
        return failed(UNREACHABLE, time.monotonic() - started, exc.message)
    except (RelayError, InvalidRequest) as exc:
        return failed(exc.message, time.monotonic() - started)
    elapsed = time.monotonic() - started
    if response.status >= 400:
        message, _, _ = upstream_error(payload, response.status)
        public = status_error(response.status, payload, channel.keys)
        return failed(public, elapsed, f"status {response.status}: {message}")
    await Channel.update({Channel.test_time: int(time.time()), Channel.response_time: int(elapsed * 1000)}).where(
        Channel.id == channel_id
    )
    revivable = row["status"] == CHANNEL_AUTO_DISABLED or key_index is not None
    enabled = revivable and relay.options.get_bool("AutomaticEnableChannelEnabled")
    if enabled and await enable_channel(channel_id, key_index) and relay.on_channels_changed is not None:
        await relay.on_channels_changed()
    return ProbeResult(True, "", elapsed, "")
