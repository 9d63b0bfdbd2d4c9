"""Default prices of Cohere models, in New API's units (``1`` = USD 2 per 1M input tokens).

The Command R entries are New API's shipped defaults (``model_ratio.go`` and its hard-coded
completion ratios for ``command*``), so a database moved from New API prices them the same. The
Command A, Command R7B and Embed entries follow Cohere's list prices: Command A USD 2.50 in and
10 out per million tokens, Command R7B USD 0.0375 and 0.15, Embed v4 USD 0.12 and Embed v3 USD
0.10 per million input tokens (embeddings write no output tokens).
"""

from __future__ import annotations

from newapi_host.sdk import PricingDefaults

# model -> (input ratio, completion ratio)
_PRICES: dict[str, tuple[float, float]] = {
    # New API's defaults
    "command": (0.5, 4),
    "command-nightly": (0.5, 4),
    "command-light": (0.5, 4),
    "command-light-nightly": (0.5, 4),
    "command-r": (0.25, 3),
    "command-r-plus": (1.5, 5),
    "command-r-08-2024": (0.075, 4),
    "command-r-plus-08-2024": (1.25, 4),
    # Cohere's current models
    "command-a-03-2025": (1.25, 4),
    "command-a-reasoning-08-2025": (1.25, 4),
    "command-a-vision-07-2025": (1.25, 4),
    "command-a-translate-08-2025": (1.25, 4),
    "command-r7b-12-2024": (0.01875, 4),
    "embed-v4.0": (0.06, 1),
    "embed-english-v3.0": (0.05, 1),
    "embed-multilingual-v3.0": (0.05, 1),
    "embed-english-light-v3.0": (0.05, 1),
    "embed-multilingual-light-v3.0": (0.05, 1),
}

MODEL_RATIO = {model: ratio for model, (ratio, _) in _PRICES.items()}
COMPLETION_RATIO = {model: completion for model, (_, completion) in _PRICES.items()}
PRICING = PricingDefaults(model_ratio=MODEL_RATIO, completion_ratio=COMPLETION_RATIO)

DEFAULT_MODELS: tuple[str, ...] = (
    "command-a-03-2025",
    "command-a-reasoning-08-2025",
    "command-a-vision-07-2025",
    "command-r-plus-08-2024",
    "command-r-08-2024",
    "command-r7b-12-2024",
    "embed-v4.0",
    "embed-english-v3.0",
    "embed-multilingual-v3.0",
)
