"""The in-memory channel index and how a channel is picked for one attempt.

Built from the ``channels`` table (enabled channels only) as group -> model -> priority tiers,
each tier precomputed for an O(log n) weighted draw (:class:`Tier`), and refreshed when the
``channels`` topic changes: only changed rows are rebuilt and only the (group, model) pairs they
touch are re-tiered, in slices between which the event loop runs, then swapped in at once.
Picking follows New API's rules: the highest priority tier first, weighted random inside a tier
(all-zero weights count as equal). Unlike New API, a request never gets a channel it already
tried: retries move through the rest of the tier, then down the tiers.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import json
import logging
import random
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from newapi_host.db.tables import CHANNEL_ENABLED, Channel
from newapi_host.plugins.registry import Registry

from .errors import RelayError

log = logging.getLogger(__name__)
_random = random.Random()


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


class Tier:
    """One priority tier of one (group, model), ready to draw from in O(log n).

    New API's weights: all-zero weights mean equal chances; otherwise each channel's chance is
    its weight over the tier's sum (New API scales an average below 10 by 100 because it draws
    integers; with a float draw that changes no proportion). A zero weight next to positive ones
    is never drawn: it is the tier's stand-by, reached once the others were tried in a request.
    """

    __slots__ = ("channels", "ends", "position", "total", "weights")

    def __init__(self, channels: list[ChannelEntry]) -> None:
        self.channels = tuple(channels)
        weights = [c.weight for c in channels]
        if not any(weights):
            weights = [1] * len(weights)
        self.weights = tuple(weights)
        self.ends = tuple(itertools.accumulate(weights))  # cumulative: channel i owns [ends[i-1], ends[i])
        self.total = self.ends[-1] if self.ends else 0
        self.position = {c.id: i for i, c in enumerate(channels)}

    def draw(self, tried: Collection[int] = (), rng: random.Random | None = None) -> ChannelEntry | None:
        """A weighted draw among the channels not in ``tried``; None when all were tried."""
        if not tried and len(self.channels) == 1:  # the usual tier of one
            return self.channels[0]
        rng = rng or _random
        skipped = sorted(p for i in tried if (p := self.position.get(i)) is not None) if tried else []
        left = len(self.channels) - len(skipped)
        if not left:
            return None
        remaining = self.total - sum(self.weights[p] for p in skipped)
        if remaining <= 0:  # only zero-weight stand-bys left: equal chances among them
            k = rng.randrange(left)
            for p in skipped:  # ascending: step over each tried position at or before k
                if k >= p:
                    k += 1
            return self.channels[k]
        r = rng.random() * remaining
        for p in skipped:  # map r from the untried weights onto the whole tier, skipping tried spans
            if r >= self.ends[p] - self.weights[p]:
                r += self.weights[p]
        i = bisect.bisect_right(self.ends, r)
        if i >= len(self.channels):  # float rounding at the top end: the last untried positive weight
            i = next(p for p in reversed(range(len(self.channels))) if self.weights[p] and p not in skipped)
        return self.channels[i]


def weighted_choice(channels: list[ChannelEntry], rng: random.Random | None = None) -> ChannelEntry:
    """One draw from ``channels`` as a tier (see :class:`Tier`)."""
    chosen = Tier(channels).draw((), rng)
    assert chosen is not None
    return chosen


# The columns a ChannelEntry is built from; the others (used_quota, balance, test times) change
# without the routing changing and are not read.
ENTRY_COLUMNS = (
    "id", "type", "key", "openai_organization", "status", "name", "weight", "base_url", "other", "models",
    "group", "model_mapping", "status_code_mapping", "priority", "auto_ban", "setting", "param_override",
    "header_override", "channel_info", "settings",
)  # fmt: skip
READ_CHUNK = 1000  # rows per read while refreshing; the event loop runs between chunks
BUILD_SLICE = 2000  # channels handled between two yields to the event loop


class ChannelIndex:
    """Group -> model -> priority tiers of the enabled channels whose type is available.

    :meth:`refresh` reads the table in chunks, rebuilds the entries of rows that changed and the
    tiers of the (group, model) pairs those rows serve or served, yielding to the event loop
    between slices of work, then swaps the new tiers in at once: requests keep being served from
    the previous index meanwhile and never see half of a change.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.by_id: dict[int, ChannelEntry] = {}
        self._rows: dict[int, dict[str, Any]] = {}  # the row each entry was built from
        self._members: dict[tuple[str, str], dict[int, ChannelEntry]] = {}  # serving channels per pair
        self._index: dict[str, dict[str, tuple[Tier, ...]]] = {}  # highest priority first
        self._models: dict[str, list[str]] = {}
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        """Rebuild every entry and tier (at start, and when plugins change what types exist)."""
        await self.refresh(everything=True)

    async def refresh(self, everything: bool = False) -> None:
        """Pick up changed channel rows (the ``channels`` topic's listener)."""
        async with self._lock:
            rows = await self._read()
            changed = [r for i, r in rows.items() if everything or self._rows.get(i) != r]
            gone = [i for i in self._rows if i not in rows]
            if not changed and not gone and not everything:
                return
            entries: dict[int, ChannelEntry] = {}
            for n, row in enumerate(changed, 1):
                entries[row["id"]] = entry_from_row(row, self.registry)
                if n % BUILD_SLICE == 0:
                    await asyncio.sleep(0)
            by_id, touched = self._apply(entries, gone, everything)
            tiers: dict[tuple[str, str], tuple[Tier, ...]] = {}
            work = 0
            for pair in touched:
                tiers[pair] = self._tiers(pair)
                work += len(self._members.get(pair, ()))
                if work >= BUILD_SLICE:
                    work = 0
                    await asyncio.sleep(0)
            if everything:
                self._rows = {}
            for channel_id in gone:
                self._rows.pop(channel_id, None)
            self._rows.update({i: rows[i] for i in entries})
            self._swap(by_id, tiers, everything)

    def build(self, entries: list[ChannelEntry]) -> None:
        """Index ``entries`` at once, without the database (tests and tools)."""
        by_id, touched = self._apply({e.id: e for e in entries}, [], True)
        self._swap(by_id, {pair: self._tiers(pair) for pair in touched}, True)

    async def _read(self) -> dict[int, dict[str, Any]]:
        rows: dict[int, dict[str, Any]] = {}
        columns = [Channel._meta.get_column_by_name(c) for c in ENTRY_COLUMNS]
        last = 0
        while True:
            chunk = await Channel.select(*columns).where(Channel.id > last).order_by(Channel.id).limit(READ_CHUNK)
            for row in chunk:
                rows[row["id"]] = row
            if len(chunk) < READ_CHUNK:
                return rows
            last = chunk[-1]["id"]

    def _apply(
        self, entries: dict[int, ChannelEntry], gone: list[int], everything: bool
    ) -> tuple[dict[int, ChannelEntry], set[tuple[str, str]]]:
        """Move new, changed and removed channels in or out of their pairs' members.

        Returns the next ``by_id`` and the (group, model) pairs whose tiers must be rebuilt.
        """
        types: dict[int, Any] = {}

        def serves(entry: ChannelEntry) -> bool:
            if entry.type not in types:
                types[entry.type] = self.registry.channel_type(entry.type)
            # a channel whose type's plugin is off serves nothing until it is back on
            return entry.status == CHANNEL_ENABLED and types[entry.type] is not None

        touched: set[tuple[str, str]] = set()
        if everything:
            touched.update(self._members)  # pairs nobody serves any more are emptied too
            self._members = {}
        for channel_id in [*entries, *gone]:
            old = self.by_id.get(channel_id)
            if old is not None and not everything:
                for pair in itertools.product(old.groups, old.models):
                    members = self._members.get(pair)
                    if members is not None and members.pop(channel_id, None) is not None:
                        touched.add(pair)
            new = entries.get(channel_id)
            if new is not None and serves(new):
                for pair in itertools.product(new.groups, new.models):
                    self._members.setdefault(pair, {})[channel_id] = new
                    touched.add(pair)
        by_id = {} if everything else dict(self.by_id)
        for channel_id in gone:
            by_id.pop(channel_id, None)
        by_id.update(entries)
        return by_id, touched

    def _tiers(self, pair: tuple[str, str]) -> tuple[Tier, ...]:
        members = self._members.get(pair)
        if not members:
            self._members.pop(pair, None)
            return ()
        by_priority: dict[int, list[ChannelEntry]] = {}
        for channel_id in sorted(members):
            entry = members[channel_id]
            by_priority.setdefault(entry.priority, []).append(entry)
        return tuple(Tier(by_priority[p]) for p in sorted(by_priority, reverse=True))

    def _swap(
        self, by_id: dict[int, ChannelEntry], tiers: dict[tuple[str, str], tuple[Tier, ...]], everything: bool
    ) -> None:
        """Put the rebuilt tiers and entries in place in one step (no await in here)."""
        index = {} if everything else dict(self._index)
        groups = {group for group, _ in tiers}
        for group in groups:
            index[group] = dict(index.get(group, {}))
        for (group, model), built in tiers.items():
            if built:
                index[group][model] = built
            else:
                index[group].pop(model, None)
        for group in groups:
            if not index[group]:
                del index[group]
        models = {} if everything else dict(self._models)
        for group in groups:
            models.pop(group, None)
            if group in index:
                models[group] = sorted(index[group])
        self._index, self._models, self.by_id = index, models, by_id

    def has(self, group: str, model: str) -> bool:
        return bool(self._index.get(group, {}).get(model))

    def models_for(self, group: str) -> list[str]:
        return list(self._models.get(group, ()))

    def pick(
        self, group: str, model: str, tried: Collection[int], rng: random.Random | None = None
    ) -> ChannelEntry | None:
        """The next channel to try: a weighted draw in the best tier with untried channels."""
        for tier in self._index.get(group, {}).get(model, ()):
            chosen = tier.draw(tried, rng)
            if chosen is not None:
                return chosen
        return None
