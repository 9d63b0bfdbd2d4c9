"""Default prices for the models the OpenAI plugin's channel types serve, in New API's units.

Units (the same ones New API stores in its ``ModelRatio`` / ``CompletionRatio`` / ``CacheRatio`` /
``ModelPrice`` options, so values can be copied between the two systems unchanged):

* **model ratio** -- price of *input* tokens. ``1`` means USD 0.002 per 1K tokens, i.e. **USD 2 per 1M
  input tokens** (so gpt-4o at USD 2.50 / 1M is ``1.25``).
* **completion ratio** -- multiplier applied to the model ratio for *output* tokens
  (gpt-4o: 1.25 x 4 = USD 10 / 1M output tokens). A model missing here is billed with ``1``.
* **cache ratio** -- multiplier applied to the model ratio for *cached* input tokens
  (gpt-4o: 1.25 x 0.5 = USD 1.25 / 1M cached tokens). A model missing here is billed with ``1``.
* **model price** -- a flat **USD amount per call**. A model listed here is billed per call and its
  ratios are ignored (image generation, per-request TTS, video).

The numbers are New API's shipped defaults (``setting/ratio_setting/model_ratio.go`` and
``cache_ratio.go``); administrators' option values always take precedence over them. Only the
OpenAI-compatible vendors this plugin presets are covered; New API ships no default ratios for
Moonshot/Kimi, Mistral or the grok-3/grok-4 GA models, so those are absent here as well and fall back
to whatever the host does for unpriced models.
"""

from __future__ import annotations

from newapi_host.sdk import PricingDefaults

__all__ = ["CACHE_RATIO", "COMPLETION_RATIO", "MODEL_PRICE", "MODEL_RATIO", "PRICING"]


# --------------------------------------------------------------------------------------------
# Input price (1 = USD 2 / 1M tokens)

MODEL_RATIO: dict[str, float] = {
    # --- OpenAI: GPT-3.5 ------------------------------------------------------------------------
    "gpt-3.5-turbo": 0.25,
    "gpt-3.5-turbo-0125": 0.25,
    "gpt-3.5-turbo-0613": 0.75,
    "gpt-3.5-turbo-1106": 0.5,
    "gpt-3.5-turbo-16k": 1.5,
    "gpt-3.5-turbo-16k-0613": 1.5,
    "gpt-3.5-turbo-instruct": 0.75,
    # --- OpenAI: GPT-4 / GPT-4 Turbo ------------------------------------------------------------
    "gpt-4": 15,
    "gpt-4-0613": 15,
    "gpt-4-32k": 30,
    "gpt-4-32k-0613": 30,
    "gpt-4-1106-preview": 5,
    "gpt-4-0125-preview": 5,
    "gpt-4-turbo-preview": 5,
    "gpt-4-vision-preview": 5,
    "gpt-4-1106-vision-preview": 5,
    "gpt-4-turbo": 5,
    "gpt-4-turbo-2024-04-09": 5,
    # --- OpenAI: GPT-4o -------------------------------------------------------------------------
    "chatgpt-4o-latest": 2.5,
    "gpt-4o": 1.25,
    "gpt-4o-2024-05-13": 2.5,
    "gpt-4o-2024-08-06": 1.25,
    "gpt-4o-2024-11-20": 1.25,
    "gpt-4o-audio-preview": 1.25,
    "gpt-4o-audio-preview-2024-10-01": 1.25,
    "gpt-4o-realtime-preview": 2.5,
    "gpt-4o-realtime-preview-2024-10-01": 2.5,
    "gpt-4o-realtime-preview-2024-12-17": 2.5,
    "gpt-4o-mini": 0.075,
    "gpt-4o-mini-2024-07-18": 0.075,
    "gpt-4o-mini-realtime-preview": 0.3,
    "gpt-4o-mini-realtime-preview-2024-12-17": 0.3,
    # --- OpenAI: GPT-4.1 / GPT-4.5 --------------------------------------------------------------
    "gpt-4.1": 1.0,
    "gpt-4.1-2025-04-14": 1.0,
    "gpt-4.1-mini": 0.2,
    "gpt-4.1-mini-2025-04-14": 0.2,
    "gpt-4.1-nano": 0.05,
    "gpt-4.1-nano-2025-04-14": 0.05,
    "gpt-4.5-preview": 37.5,
    "gpt-4.5-preview-2025-02-27": 37.5,
    # --- OpenAI: GPT-5 family -------------------------------------------------------------------
    "gpt-5": 0.625,
    "gpt-5-2025-08-07": 0.625,
    "gpt-5-chat-latest": 0.625,
    "gpt-5-mini": 0.125,
    "gpt-5-mini-2025-08-07": 0.125,
    "gpt-5-nano": 0.025,
    "gpt-5-nano-2025-08-07": 0.025,
    "gpt-5.5": 2.5,
    "gpt-5.6-sol": 2.5,
    "gpt-5.6-terra": 1.25,
    "gpt-5.6-luna": 0.5,
    # --- OpenAI: o-series reasoning models ------------------------------------------------------
    "o1": 7.5,
    "o1-2024-12-17": 7.5,
    "o1-preview": 7.5,
    "o1-preview-2024-09-12": 7.5,
    "o1-mini": 0.55,
    "o1-mini-2024-09-12": 0.55,
    "o1-pro": 75.0,
    "o1-pro-2025-03-19": 75.0,
    "o3": 1.0,
    "o3-2025-04-16": 1.0,
    "o3-mini": 0.55,
    "o3-mini-2025-01-31": 0.55,
    # New API prices its effort-suffixed aliases of o3-mini explicitly (the suffix is turned into
    # reasoning_effort before the request goes upstream).
    "o3-mini-high": 0.55,
    "o3-mini-2025-01-31-high": 0.55,
    "o3-mini-medium": 0.55,
    "o3-mini-2025-01-31-medium": 0.55,
    "o3-mini-low": 0.55,
    "o3-mini-2025-01-31-low": 0.55,
    "o3-pro": 10.0,
    "o3-pro-2025-06-10": 10.0,
    "o3-deep-research": 5.0,
    "o3-deep-research-2025-06-26": 5.0,
    "o4-mini": 0.55,
    "o4-mini-2025-04-16": 0.55,
    "o4-mini-deep-research": 1.0,
    "o4-mini-deep-research-2025-06-26": 1.0,
    # --- OpenAI: images (token-billed) ----------------------------------------------------------
    "gpt-image-1": 2.5,
    # --- OpenAI: embeddings / moderation --------------------------------------------------------
    "text-embedding-3-small": 0.01,
    "text-embedding-3-large": 0.065,
    "text-embedding-ada-002": 0.05,
    "text-moderation-latest": 0.1,
    "text-moderation-stable": 0.1,
    # --- OpenAI: audio ----------------------------------------------------------------------------
    # whisper-1 is billed on a token estimate of the transcript (USD 0.006/min ~ USD 0.03/1K tokens);
    # tts-1 / tts-1-hd on input characters (USD 0.015 / 0.03 per 1K characters).
    "whisper-1": 15,
    "tts-1": 7.5,
    "tts-1-1106": 7.5,
    "tts-1-hd": 15,
    "tts-1-hd-1106": 15,
    # --- DeepSeek ---------------------------------------------------------------------------------
    "deepseek-chat": 0.135,
    "deepseek-coder": 0.135,
    "deepseek-reasoner": 0.275,
    # --- xAI (only the legacy beta / grok-2 names have shipped defaults) --------------------------
    "grok-beta": 2.5,
    "grok-vision-beta": 2.5,
    "grok-2": 1,
    "grok-2-vision": 1,
    "grok-3-beta": 1.5,
    "grok-3-fast-beta": 2.5,
    "grok-3-mini-beta": 0.15,
    "grok-3-mini-fast-beta": 0.3,
}


# --------------------------------------------------------------------------------------------
# Output multiplier
#
# New API keeps almost no completion ratios in a table (only "gpt-image-1": 8 here); it derives them
# in code from the model name with prefix rules. The numbers below are those rules evaluated for
# every chat / reasoning model in MODEL_RATIO, written out explicitly:
#
# * gpt-4o*                      -> 4 (gpt-4o-2024-05-13 -> 3)
# * gpt-5* without a dot         -> 8;  gpt-5.5 and later -> 6
# * gpt-4.5-preview*             -> 2
# * gpt-4-turbo*                 -> 3
# * any other "gpt-" model       -> 2. This includes gpt-4.1* and the whole gpt-3.5 family: New API's
#                                   dedicated gpt-3.5 rule (3 / 2 / 4/3) sits after the generic "gpt-"
#                                   branch and is never reached, so 2 is what it actually bills.
# * o1*, o3*                     -> 4
# * chatgpt-4o-latest            -> 3
# * everything else (o4-mini*, deepseek-*, grok-*) -> 1, the fallback. Listed explicitly so the
#   table documents the real behaviour rather than looking like an omission.
#
# Embeddings, moderation, whisper and tts produce no billable output tokens and are left out (1).

COMPLETION_RATIO: dict[str, float] = {
    # GPT-3.5 (generic "gpt-" rule)
    "gpt-3.5-turbo": 2,
    "gpt-3.5-turbo-0125": 2,
    "gpt-3.5-turbo-0613": 2,
    "gpt-3.5-turbo-1106": 2,
    "gpt-3.5-turbo-16k": 2,
    "gpt-3.5-turbo-16k-0613": 2,
    "gpt-3.5-turbo-instruct": 2,
    # GPT-4
    "gpt-4": 2,
    "gpt-4-0613": 2,
    "gpt-4-32k": 2,
    "gpt-4-32k-0613": 2,
    "gpt-4-1106-preview": 2,
    "gpt-4-0125-preview": 2,
    "gpt-4-vision-preview": 2,
    "gpt-4-1106-vision-preview": 2,
    "gpt-4-turbo-preview": 3,
    "gpt-4-turbo": 3,
    "gpt-4-turbo-2024-04-09": 3,
    # GPT-4o
    "chatgpt-4o-latest": 3,
    "gpt-4o": 4,
    "gpt-4o-2024-05-13": 3,
    "gpt-4o-2024-08-06": 4,
    "gpt-4o-2024-11-20": 4,
    "gpt-4o-audio-preview": 4,
    "gpt-4o-audio-preview-2024-10-01": 4,
    "gpt-4o-realtime-preview": 4,
    "gpt-4o-realtime-preview-2024-10-01": 4,
    "gpt-4o-realtime-preview-2024-12-17": 4,
    "gpt-4o-mini": 4,
    "gpt-4o-mini-2024-07-18": 4,
    "gpt-4o-mini-realtime-preview": 4,
    "gpt-4o-mini-realtime-preview-2024-12-17": 4,
    # GPT-4.1 / GPT-4.5
    "gpt-4.1": 2,
    "gpt-4.1-2025-04-14": 2,
    "gpt-4.1-mini": 2,
    "gpt-4.1-mini-2025-04-14": 2,
    "gpt-4.1-nano": 2,
    "gpt-4.1-nano-2025-04-14": 2,
    "gpt-4.5-preview": 2,
    "gpt-4.5-preview-2025-02-27": 2,
    # GPT-5
    "gpt-5": 8,
    "gpt-5-2025-08-07": 8,
    "gpt-5-chat-latest": 8,
    "gpt-5-mini": 8,
    "gpt-5-mini-2025-08-07": 8,
    "gpt-5-nano": 8,
    "gpt-5-nano-2025-08-07": 8,
    "gpt-5.5": 6,
    "gpt-5.6-sol": 6,
    "gpt-5.6-terra": 6,
    "gpt-5.6-luna": 6,
    # o-series
    "o1": 4,
    "o1-2024-12-17": 4,
    "o1-preview": 4,
    "o1-preview-2024-09-12": 4,
    "o1-mini": 4,
    "o1-mini-2024-09-12": 4,
    "o1-pro": 4,
    "o1-pro-2025-03-19": 4,
    "o3": 4,
    "o3-2025-04-16": 4,
    "o3-mini": 4,
    "o3-mini-2025-01-31": 4,
    "o3-mini-high": 4,
    "o3-mini-2025-01-31-high": 4,
    "o3-mini-medium": 4,
    "o3-mini-2025-01-31-medium": 4,
    "o3-mini-low": 4,
    "o3-mini-2025-01-31-low": 4,
    "o3-pro": 4,
    "o3-pro-2025-06-10": 4,
    "o3-deep-research": 4,
    "o3-deep-research-2025-06-26": 4,
    # o4-mini is not covered by New API's o1/o3 rule and falls back to 1.
    "o4-mini": 1,
    "o4-mini-2025-04-16": 1,
    "o4-mini-deep-research": 1,
    "o4-mini-deep-research-2025-06-26": 1,
    # Images (the one table entry New API ships for these models)
    "gpt-image-1": 8,
    # DeepSeek (fallback)
    "deepseek-chat": 1,
    "deepseek-coder": 1,
    "deepseek-reasoner": 1,
    # xAI (fallback)
    "grok-beta": 1,
    "grok-vision-beta": 1,
    "grok-2": 1,
    "grok-2-vision": 1,
    "grok-3-beta": 1,
    "grok-3-fast-beta": 1,
    "grok-3-mini-beta": 1,
    "grok-3-mini-fast-beta": 1,
}


# --------------------------------------------------------------------------------------------
# Cached-input multiplier

CACHE_RATIO: dict[str, float] = {
    # OpenAI
    "gpt-4": 0.5,
    "gpt-4o": 0.5,
    "gpt-4o-2024-08-06": 0.5,
    "gpt-4o-2024-11-20": 0.5,
    "gpt-4o-mini": 0.5,
    "gpt-4o-mini-2024-07-18": 0.5,
    "gpt-4o-realtime-preview": 0.5,
    "gpt-4o-mini-realtime-preview": 0.5,
    "gpt-4.1": 0.25,
    "gpt-4.1-mini": 0.25,
    "gpt-4.1-nano": 0.25,
    "gpt-4.5-preview": 0.5,
    "gpt-4.5-preview-2025-02-27": 0.5,
    "gpt-5": 0.1,
    "gpt-5-2025-08-07": 0.1,
    "gpt-5-chat-latest": 0.1,
    "gpt-5-mini": 0.1,
    "gpt-5-mini-2025-08-07": 0.1,
    "gpt-5-nano": 0.1,
    "gpt-5-nano-2025-08-07": 0.1,
    "o1": 0.5,
    "o1-2024-12-17": 0.5,
    "o1-preview": 0.5,
    "o1-preview-2024-09-12": 0.5,
    "o1-mini": 0.5,
    "o1-mini-2024-09-12": 0.5,
    "o3-mini": 0.5,
    "o3-mini-2025-01-31": 0.5,
    # DeepSeek
    "deepseek-chat": 0.25,
    "deepseek-coder": 0.25,
    "deepseek-reasoner": 0.25,
}


# --------------------------------------------------------------------------------------------
# Flat USD per call

MODEL_PRICE: dict[str, float] = {
    "dall-e-3": 0.04,
    "gpt-4o-mini-tts": 0.3,
    "sora-2": 0.3,
    "sora-2-pro": 0.5,
}


PRICING = PricingDefaults(
    model_ratio=MODEL_RATIO,
    completion_ratio=COMPLETION_RATIO,
    cache_ratio=CACHE_RATIO,
    model_price=MODEL_PRICE,
)
