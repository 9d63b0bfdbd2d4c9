"""The in-memory channel index and how a channel is picked for one attempt.

Built from the ``channels`` table (enabled channels only) as group -> model -> priority tiers,
and rebuilt when the ``channels`` topic changes. Picking follows New API's rules: the highest
priority tier first, weighted random inside a tier (all-zero weights count as equal; an average
weight below 10 is scaled up so small weights still differ). Unlike New API, a request never
gets a channel it already tried: retries move through the rest of the tier, then down the tiers.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from newapi_host.db.tables import CHANNEL_ENABLED, Channel
from newapi_host.plugins.registry import Registry

from .errors import RelayError

log = logging.getLogger(__name__)


def _json(text: str | None) -> Any:
    if not text or not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


@dataclass(slots=True)
class ChannelEntry:
    id: int
    type: int
    name: str
    base_url: str
    keys: list[str]
    key_status: dict[int, int]  # index -> status for multi-key channels (absent = enabled)
    multi_key_mode: str  # "random" | "polling"
    other: str
    openai_organization: str
    models: tuple[str, ...]
    groups: tuple[str, ...]
    priority: int
    weight: int
    auto_ban: bool
    model_mapping: dict[str, str]
    status_code_mapping: dict[str, str]
    param_override: dict[str, Any] | None
    header_override: dict[str, str] | None
    setting: dict[str, Any]
    settings: dict[str, Any]
    status: int = CHANNEL_ENABLED
    typed_settings: BaseModel | None = None
    _poll: int = 0

    @property
    def proxy(self) -> str | None:
        value = self.setting.get("proxy")
        return value if isinstance(value, str) and value.strip() else None

    @property
    def is_multi_key(self) -> bool:
        return len(self.keys) > 1

    def enabled_keys(self) -> list[int]:
        return [i for i in range(len(self.keys)) if self.key_status.get(i, CHANNEL_ENABLED) == CHANNEL_ENABLED]

    def pick_key(self) -> tuple[int, str]:
        usable = self.enabled_keys()
        if not usable:
            raise RelayError(503, f"channel #{self.id} has no enabled key", code="channel:no_available_key")
        if self.multi_key_mode == "polling":
            index = usable[self._poll % len(usable)]
            self._poll += 1
        else:
            index = random.choice(usable)
        return index, self.keys[index]

    def map_model(self, model: str) -> str:
        """Follow the channel's model mapping to its end; a cycle is a configuration error."""
        seen = {model}
        current = model
        while True:
            nxt = self.model_mapping.get(current)
            if not nxt or nxt == current:
                return current
            if nxt in seen:
                raise RelayError(
                    500, f"channel #{self.id} model mapping has a cycle at '{nxt}'", code="channel:model_mapped_error"
                )
            seen.add(nxt)
            current = nxt


def entry_from_row(row: dict[str, Any], registry: Registry | None = None) -> ChannelEntry:
    info = _json(row.get("channel_info")) or {}
    keys_text = row.get("key") or ""
    if isinstance(info, dict) and info.get("is_multi_key"):
        keys = [k.strip() for k in keys_text.split("\n") if k.strip()]
    else:
        keys = [keys_text.strip()]
    status_list = info.get("multi_key_status_list") if isinstance(info, dict) else None
    key_status = {int(k): int(v) for k, v in (status_list or {}).items()} if isinstance(status_list, dict) else {}
    mapping = _json(row.get("model_mapping"))
    code_mapping = _json(row.get("status_code_mapping"))
    override = _json(row.get("param_override"))
    headers = _json(row.get("header_override"))
    entry = ChannelEntry(
        id=row["id"],
        type=row["type"],
        name=row.get("name") or "",
        base_url=(row.get("base_url") or "").strip(),
        keys=keys,
        key_status=key_status,
        multi_key_mode=(info.get("multi_key_mode") if isinstance(info, dict) else None) or "random",
        other=row.get("other") or "",
        openai_organization=row.get("openai_organization") or "",
        models=tuple(m.strip() for m in (row.get("models") or "").split(",") if m.strip()),
        groups=tuple(g.strip() for g in (row.get("group") or "default").split(",") if g.strip()),
        priority=int(row.get("priority") or 0),
        weight=max(0, int(row.get("weight") or 0)),
        auto_ban=bool(row.get("auto_ban", 1)),
        model_mapping={str(k): str(v) for k, v in mapping.items()} if isinstance(mapping, dict) else {},
        status_code_mapping={str(k): str(v) for k, v in code_mapping.items()} if isinstance(code_mapping, dict) else {},
        param_override=override if isinstance(override, dict) else None,
        header_override={str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else None,
        setting=_json(row.get("setting")) if isinstance(_json(row.get("setting")), dict) else {},
        settings=_json(row.get("settings")) if isinstance(_json(row.get("settings")), dict) else {},
        status=row.get("status", CHANNEL_ENABLED),
    )
    if registry is not None:
        channel_type = registry.channel_type(entry.type)
        if channel_type is not None and channel_type.settings_model is not None:
            try:
                entry.typed_settings = channel_type.settings_model.model_validate(entry.settings)
            except ValidationError:
                log.warning("channel #%s has invalid type settings; using defaults", entry.id)
                entry.typed_settings = channel_type.settings_model()
    return entry


def weighted_choice(channels: list[ChannelEntry], rng: random.Random | None = None) -> ChannelEntry:
    """New API's draw: equal chances when all weights are 0; an average below 10 is scaled by 100."""
    rng = rng or random
    weights = [c.weight for c in channels]
    total = sum(weights)
    if total == 0:
        weights = [100] * len(channels)
    elif total / len(channels) < 10:
        weights = [w * 100 for w in weights]
    # A zero weight next to positive ones is never drawn: it serves as the tier's stand-by,
    # reached once the others have been tried in this request.
    r = rng.random() * sum(weights)
    for channel, weight in zip(channels, weights, strict=True):
        if r < weight:
            return channel
        r -= weight
    return next(c for c, w in zip(channels, weights, strict=True) if w > 0)


class ChannelIndex:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.by_id: dict[int, ChannelEntry] = {}
        # group -> model -> tiers, highest priority first
        self._index: dict[str, dict[str, list[list[ChannelEntry]]]] = {}

    async def load(self) -> None:
        rows = await Channel.select()
        by_id: dict[int, ChannelEntry] = {}
        index: dict[str, dict[str, dict[int, list[ChannelEntry]]]] = {}
        for row in rows:
            entry = entry_from_row(row, self.registry)
            by_id[entry.id] = entry
            if entry.status != CHANNEL_ENABLED or self.registry.channel_type(entry.type) is None:
                continue  # a channel whose type's plugin is off serves nothing until it is back on
            for group in entry.groups:
                for model in entry.models:
                    index.setdefault(group, {}).setdefault(model, {}).setdefault(entry.priority, []).append(entry)
        self.by_id = by_id
        self._index = {
            g: {m: [tiers[p] for p in sorted(tiers, reverse=True)] for m, tiers in models.items()}
            for g, models in index.items()
        }

    def has(self, group: str, model: str) -> bool:
        return bool(self._index.get(group, {}).get(model))

    def models_for(self, group: str) -> list[str]:
        return sorted(m for m, tiers in self._index.get(group, {}).items() if tiers)

    def pick(self, group: str, model: str, tried: set[int]) -> ChannelEntry | None:
        """The next channel to try: the best tier with untried channels."""
        for tier in self._index.get(group, {}).get(model, ()):
            candidates = [c for c in tier if c.id not in tried]
            if candidates:
                return weighted_choice(candidates)
        return None
