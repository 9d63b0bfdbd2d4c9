"""Prices in New API's units, and the quota formulas.

500000 quota = 1 USD (``QuotaPerUnit``). Model ratio 1 = USD 2 per million input tokens;
completion ratio multiplies output tokens; cache ratio multiplies cached input tokens;
``ModelPrice`` (USD per call) wins over ratios. Admin option tables (JSON in ``options``) win
over plugin defaults, key by key. See docs/billing.md for the rules these functions implement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from newapi_host.options import Options
from newapi_host.plugins.contracts import Usage
from newapi_host.plugins.registry import Registry
from newapi_host.relay.errors import RelayError

SELF_USE_RATIO = 37.5  # New API's ratio for unpriced models in self-use mode
DEFAULT_GROUP_RATIO = {"default": 1.0, "vip": 1.0, "svip": 1.0}
CREATE_CACHE_RATIO_DEFAULT = 1.25
TRUST_UNITS = 10  # trust bypass: wallet and token above 10 USD skip the hold


def round_half_away(value: float) -> int:
    return int(math.floor(value + 0.5)) if value >= 0 else -int(math.floor(-value + 0.5))


@dataclass(frozen=True, slots=True)
class Price:
    model: str
    model_ratio: float
    completion_ratio: float
    cache_ratio: float
    create_cache_ratio: float
    model_price: float | None  # USD per call, when the model is priced per call
    group_ratio: float

    @property
    def free(self) -> bool:
        return self.group_ratio == 0 or (
            self.model_price == 0 if self.model_price is not None else self.model_ratio == 0
        )

    def details(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "model_ratio": self.model_ratio,
            "completion_ratio": self.completion_ratio,
            "cache_ratio": self.cache_ratio,
            "group_ratio": self.group_ratio,
        }
        d["model_price"] = self.model_price if self.model_price is not None else -1
        return d


MAX_KEPT_QUOTES = 10_000  # distinct (model, groups) quotes kept between reloads


class PriceBook:
    """Effective price tables: plugin defaults overlaid by the admin's option tables."""

    TABLES = ("ModelRatio", "CompletionRatio", "ModelPrice", "CacheRatio", "CreateCacheRatio")

    def __init__(self, options: Options, registry: Registry) -> None:
        self.options = options
        self.registry = registry
        self.tables: dict[str, dict[str, float]] = {}
        self.group_ratio: dict[str, float] = dict(DEFAULT_GROUP_RATIO)
        self.group_group_ratio: dict[str, dict[str, float]] = {}
        # (model, user group, using group, self-use switch) -> price; emptied by reload()
        self._quotes: dict[tuple[str, str, str, bool], Price] = {}

    def reload(self) -> None:
        defaults = self.registry.pricing_defaults()
        tables: dict[str, dict[str, float]] = {}
        for name in self.TABLES:
            merged = dict(defaults.get(name, {}))
            override = self.options.get_json(name, None)
            if isinstance(override, dict):
                merged.update({str(k): float(v) for k, v in override.items() if isinstance(v, (int, float))})
            tables[name] = merged
        self.tables = tables
        groups = self.options.get_json("GroupRatio", None)
        self.group_ratio = (
            {str(k): float(v) for k, v in groups.items() if isinstance(v, (int, float))}
            if isinstance(groups, dict)
            else dict(DEFAULT_GROUP_RATIO)
        )
        gg = self.options.get_json("GroupGroupRatio", None)
        self.group_group_ratio = (
            {
                str(u): {str(g): float(r) for g, r in row.items() if isinstance(r, (int, float))}
                for u, row in gg.items()
                if isinstance(row, dict)
            }
            if isinstance(gg, dict)
            else {}
        )
        self._quotes = {}

    async def areload(self) -> None:
        self.reload()

    def group_ratio_for(self, user_group: str, using_group: str) -> float:
        special = self.group_group_ratio.get(user_group, {})
        if using_group in special:
            return special[using_group]
        return self.group_ratio.get(using_group, 1.0)

    def group_exists(self, group: str) -> bool:
        return group in self.group_ratio

    def quote(self, model: str, user_group: str, using_group: str) -> Price:
        """The price of ``model`` for this pair of groups (once per request: kept until reload,
        apart for each state of the self-use switch, which prices unlisted models)."""
        key = (model, user_group, using_group, self.options.get_bool("SelfUseModeEnabled"))
        price = self._quotes.get(key)
        if price is None:
            price = self._quote(model, user_group, using_group)
            if len(self._quotes) >= MAX_KEPT_QUOTES:
                self._quotes.clear()
            self._quotes[key] = price
        return price

    def _quote(self, model: str, user_group: str, using_group: str) -> Price:
        t = self.tables
        group_ratio = self.group_ratio_for(user_group, using_group)
        price = t.get("ModelPrice", {}).get(model)
        ratio = t.get("ModelRatio", {}).get(model)
        if price is None and ratio is None:
            if not self.options.get_bool("SelfUseModeEnabled"):
                raise RelayError(
                    403,
                    f"model {model} has no price configured; an administrator must set its ratio or price",
                    code="model_price_error",
                )
            ratio = SELF_USE_RATIO
        return Price(
            model=model,
            model_ratio=ratio if ratio is not None else 0.0,
            completion_ratio=t.get("CompletionRatio", {}).get(model, 1.0),
            cache_ratio=t.get("CacheRatio", {}).get(model, 1.0),
            create_cache_ratio=t.get("CreateCacheRatio", {}).get(model, CREATE_CACHE_RATIO_DEFAULT),
            model_price=price,
            group_ratio=group_ratio,
        )

    @property
    def quota_per_unit(self) -> float:
        return self.options.get_float("QuotaPerUnit", 500000.0)

    def hold_amount(self, price: Price, prompt_tokens: int, max_tokens: int | None, n: int = 1) -> int:
        """New API's pre-consume, (max(prompt, PreConsumedQuota) + max_tokens) x ratio x group, with
        room for each of the ``n`` answers asked for (a per-call price is charged once per call)."""
        if price.model_price is not None:
            return int(price.model_price * self.quota_per_unit * price.group_ratio)
        base = max(prompt_tokens, self.options.get_int("PreConsumedQuota", 500)) + (max_tokens or 0) * max(1, n)
        return int(base * price.model_ratio * price.group_ratio)

    def charge(self, price: Price, usage: Usage | None) -> int:
        """Quota for a finished call (see docs/billing.md)."""
        if price.model_price is not None:
            return round_half_away(price.model_price * self.quota_per_unit * price.group_ratio)
        if usage is None or usage.total_tokens == 0:
            return 0
        cached, write = usage.cached_tokens, usage.cache_creation_tokens
        if usage.prompt_excludes_cache:  # Anthropic semantics: cache tokens come on top
            base = usage.prompt_tokens
        else:
            base = max(0, usage.prompt_tokens - cached - write)
        write_1h = usage.cache_creation_1h_tokens
        write_other = write - write_1h
        prompt_part = (
            base
            + cached * price.cache_ratio
            + write_other * price.create_cache_ratio
            + write_1h * price.create_cache_ratio * 1.6
        )
        quota = (prompt_part + usage.completion_tokens * price.completion_ratio) * price.model_ratio * price.group_ratio
        result = round_half_away(quota)
        if result <= 0 and price.model_ratio * price.group_ratio != 0:
            return 1
        return result

    def trust_line(self) -> int:
        """New API's trust bypass: wallet and key above this (10 USD of quota) take no hold."""
        return int(TRUST_UNITS * self.quota_per_unit)
