"""Default prices of Claude models, in New API's units (``1`` = USD 2 per 1M input tokens).

Values are New API's shipped defaults (``setting/ratio_setting/model_ratio.go`` and
``cache_ratio.go``): the model ratios of its table, a completion ratio of 5 for every Claude 3 and
4 model, cache reads at 0.1 and cache writes at 1.25 of the input price. Prices are looked up by
exact name, so Anthropic's undated aliases (``claude-sonnet-4-5``) and the ``-thinking`` variants
the channel adapter understands get the price of the model they stand for.
"""

from __future__ import annotations

from newapi_host.sdk import PricingDefaults

__all__ = ["CACHE_RATIO", "COMPLETION_RATIO", "CREATE_CACHE_RATIO", "MODEL_RATIO", "PRICING"]

# Dated model -> input ratio, as New API ships them.
_DATED: dict[str, float] = {
    "claude-3-haiku-20240307": 0.125,  # $0.25 / 1M
    "claude-3-5-haiku-20241022": 0.5,  # $1 / 1M
    "claude-haiku-4-5-20251001": 0.5,
    "claude-3-sonnet-20240229": 1.5,  # $3 / 1M
    "claude-3-5-sonnet-20240620": 1.5,
    "claude-3-5-sonnet-20241022": 1.5,
    "claude-3-7-sonnet-20250219": 1.5,
    "claude-sonnet-4-20250514": 1.5,
    "claude-sonnet-4-5-20250929": 1.5,
    "claude-opus-4-5-20251101": 2.5,  # $5 / 1M
    "claude-opus-4-6": 2.5,
    "claude-opus-4-7": 2.5,
    "claude-opus-4-8": 2.5,
    "claude-3-opus-20240229": 7.5,  # $15 / 1M
    "claude-opus-4-20250514": 7.5,
    "claude-opus-4-1-20250805": 7.5,
}

# Anthropic's aliases for the dated snapshots.
_ALIASES: dict[str, str] = {
    "claude-3-haiku-latest": "claude-3-haiku-20240307",
    "claude-3-5-haiku-latest": "claude-3-5-haiku-20241022",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
    "claude-3-5-sonnet-latest": "claude-3-5-sonnet-20241022",
    "claude-3-7-sonnet-latest": "claude-3-7-sonnet-20250219",
    "claude-sonnet-4-0": "claude-sonnet-4-20250514",
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
    "claude-3-opus-latest": "claude-3-opus-20240229",
    "claude-opus-4-0": "claude-opus-4-20250514",
    "claude-opus-4-1": "claude-opus-4-1-20250805",
    "claude-opus-4-5": "claude-opus-4-5-20251101",
}

# Models that take extended thinking, so ``<model>-thinking`` is a model name clients send.
_THINKING = (
    "claude-3-7-sonnet-20250219",
    "claude-3-7-sonnet-latest",
    "claude-sonnet-4-20250514",
    "claude-sonnet-4-0",
    "claude-sonnet-4-5-20250929",
    "claude-sonnet-4-5",
    "claude-haiku-4-5-20251001",
    "claude-haiku-4-5",
    "claude-opus-4-20250514",
    "claude-opus-4-0",
    "claude-opus-4-1-20250805",
    "claude-opus-4-1",
    "claude-opus-4-5-20251101",
    "claude-opus-4-5",
    "claude-opus-4-6",
    "claude-opus-4-7",
    "claude-opus-4-8",
)

# Adaptive-thinking effort suffixes New API prices (``claude-opus-4-7-high``).
_EFFORTS = {
    "claude-opus-4-6": ("max", "high", "medium", "low"),
    "claude-opus-4-7": ("max", "xhigh", "high", "medium", "low"),
    "claude-opus-4-8": ("max", "xhigh", "high", "medium", "low"),
}


def _build() -> dict[str, float]:
    ratios = dict(_DATED)
    ratios.update({alias: _DATED[target] for alias, target in _ALIASES.items()})
    ratios.update({f"{model}-thinking": ratios[model] for model in _THINKING})
    for model, efforts in _EFFORTS.items():
        ratios.update({f"{model}-{effort}": ratios[model] for effort in efforts})
    return ratios


MODEL_RATIO: dict[str, float] = _build()
COMPLETION_RATIO: dict[str, float] = dict.fromkeys(MODEL_RATIO, 5.0)
CACHE_RATIO: dict[str, float] = dict.fromkeys(MODEL_RATIO, 0.1)
CREATE_CACHE_RATIO: dict[str, float] = dict.fromkeys(MODEL_RATIO, 1.25)

PRICING = PricingDefaults(
    model_ratio=MODEL_RATIO,
    completion_ratio=COMPLETION_RATIO,
    cache_ratio=CACHE_RATIO,
    create_cache_ratio=CREATE_CACHE_RATIO,
)

DEFAULT_MODELS: tuple[str, ...] = (
    "claude-opus-4-5-20251101",
    "claude-opus-4-1-20250805",
    "claude-opus-4-20250514",
    "claude-sonnet-4-5-20250929",
    "claude-sonnet-4-20250514",
    "claude-haiku-4-5-20251001",
    "claude-3-7-sonnet-20250219",
    "claude-3-5-haiku-20241022",
    "claude-3-haiku-20240307",
)
