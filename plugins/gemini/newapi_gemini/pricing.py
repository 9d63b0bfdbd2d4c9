"""Default prices of Gemini models, in New API's units (``1`` = USD 2 per 1M input tokens).

Values are New API's shipped defaults: ``defaultModelRatio`` and ``defaultCacheRatio`` in
``setting/ratio_setting/{model_ratio,cache_ratio}.go``, and the completion ratios its
``getHardcodedCompletionModelRatio`` returns for ``gemini-*`` names (reproduced by
:func:`completion_ratio`). New API ships no input ratio for Gemini 3 / 3.1, 2.5 Flash-Lite (GA) or
Gemma, so those stay unpriced here too (an administrator sets them); their completion and cache
ratios are still listed so that only the input ratio is missing. The ``*`` entries are New API's
keys for ``-thinking-<budget>`` model names, kept verbatim.
"""

from __future__ import annotations

from newapi_host.sdk import PricingDefaults

MODEL_RATIO: dict[str, float] = {
    "gemini-1.5-pro-latest": 1.25,
    "gemini-1.5-flash-latest": 0.075,
    "gemini-2.0-flash": 0.05,
    "gemini-2.5-pro-exp-03-25": 0.625,
    "gemini-2.5-pro-preview-03-25": 0.625,
    "gemini-2.5-pro": 0.625,
    "gemini-2.5-flash-preview-04-17": 0.075,
    "gemini-2.5-flash-preview-04-17-thinking": 0.075,
    "gemini-2.5-flash-preview-04-17-nothinking": 0.075,
    "gemini-2.5-flash-preview-05-20": 0.075,
    "gemini-2.5-flash-preview-05-20-thinking": 0.075,
    "gemini-2.5-flash-preview-05-20-nothinking": 0.075,
    "gemini-2.5-flash-thinking-*": 0.075,
    "gemini-2.5-pro-thinking-*": 0.625,
    "gemini-2.5-flash-lite-preview-thinking-*": 0.05,
    "gemini-2.5-flash-lite-preview-06-17": 0.05,
    "gemini-2.5-flash": 0.15,
    "gemini-robotics-er-1.5-preview": 0.15,
    "gemini-embedding-001": 0.075,
    "text-embedding-004": 0.001,
}

CACHE_RATIO: dict[str, float] = {
    "gemini-3-flash-preview": 0.1,
    "gemini-3-pro-preview": 0.1,
    "gemini-3.1-pro-preview": 0.1,
}


def completion_ratio(name: str) -> float | None:
    """New API's hard-coded completion ratio of a ``gemini-*`` model (None for other names)."""
    if not name.startswith("gemini-"):
        return None
    if name.startswith(("gemini-1.5", "gemini-2.0")):
        return 4
    if name.startswith("gemini-2.5-pro"):
        return 8
    if name.startswith("gemini-2.5-flash"):
        if name.startswith("gemini-2.5-flash-preview"):
            return 4 if name.endswith("-nothinking") else 3.5 / 0.15
        if name.startswith("gemini-2.5-flash-lite"):
            return 4
        return 2.5 / 0.3
    if name.startswith("gemini-robotics-er-1.5"):
        return 2.5 / 0.3
    if name.startswith("gemini-3-pro"):
        return 60 if name.startswith("gemini-3-pro-image") else 6
    return 4


_COMPLETION_NAMES = (
    *MODEL_RATIO,
    *CACHE_RATIO,
    "gemini-2.0-flash-001",
    "gemini-2.0-flash-lite",
    "gemini-2.0-flash-lite-001",
    "gemini-2.5-flash-lite",
    "gemini-2.5-flash-lite-preview-09-2025",
    "gemini-2.5-flash-image",
    "gemini-3-pro-image-preview",
    "gemini-3.1-flash-lite-preview",
    "gemini-3.1-flash-image-preview",
)

COMPLETION_RATIO: dict[str, float] = {
    name: ratio
    for name in _COMPLETION_NAMES
    if (ratio := completion_ratio(name)) is not None and "embedding" not in name
}

PRICING = PricingDefaults(model_ratio=MODEL_RATIO, completion_ratio=COMPLETION_RATIO, cache_ratio=CACHE_RATIO)

DEFAULT_MODELS = (
    "gemini-2.5-pro",
    "gemini-2.5-flash",
    "gemini-2.5-flash-lite",
    "gemini-2.0-flash",
    "gemini-2.0-flash-lite",
    "gemini-flash-latest",
    "gemini-flash-lite-latest",
    "gemini-pro-latest",
    "gemini-3-pro-preview",
    "gemini-3-flash-preview",
    "gemini-3.1-pro-preview",
    "gemini-3.1-flash-lite-preview",
    "gemini-2.5-flash-image",
    "gemini-3-pro-image-preview",
    "gemma-3-27b-it",
)
