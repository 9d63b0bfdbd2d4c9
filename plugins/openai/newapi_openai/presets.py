"""Declarative presets for the OpenAI-compatible channel types, as New API defines them.

Each :class:`VendorPreset` is plain data: the New API channel type id, the default base URL an admin
gets when creating a channel of that type, the default model list offered for it, and the few
behavioural switches the relay needs (whether to inject ``stream_options.include_usage``, whether
effort suffixes such as ``-high`` are turned into ``reasoning_effort``, which paths to call).
``notes`` record each vendor's quirks as New API handles them; the ones this plugin does not
reproduce yet are listed in docs/formats.md.

Also here: the reasoning-effort model-name suffixes and :func:`split_reasoning_suffix`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "PRESETS",
    "PRESETS_BY_ID",
    "REASONING_SUFFIXES",
    "REASONING_SUFFIX_BLACKLIST",
    "REASONING_SUFFIX_MODEL_PREFIXES",
    "VendorPreset",
    "split_reasoning_suffix",
]


@dataclass(frozen=True, slots=True)
class VendorPreset:
    id: int  # New API channel type id
    name: str
    default_base_url: str
    models: tuple[str, ...]  # default model list offered for a new channel
    stream_usage: bool = True  # upstream honours stream_options.include_usage (inject it)
    reasoning_suffixes: bool = True  # map -high/-low... model suffixes to reasoning_effort
    models_path: str = "/v1/models"  # where to fetch the upstream model list
    notes: str = ""


# --------------------------------------------------------------------------------------------
# Reasoning-effort suffixes
#
# A client may ask for "gpt-5-high" meaning model "gpt-5" with reasoning_effort "high". New API's
# OpenAI adaptor recognises -high, -minimal, -low, -medium, -none and -xhigh. Ordered here with the
# more specific suffix first ("-xhigh" before "-high") so a first-match scan never mis-splits.

REASONING_SUFFIXES: tuple[str, ...] = ("-xhigh", "-minimal", "-medium", "-high", "-none", "-low")

# New API only applies the suffix mapping on the OpenAI adaptor to reasoning models, i.e. upstream
# names starting with one of these prefixes (o-series and the GPT-5 family). Callers that want New
# API's exact behaviour check this before calling split_reasoning_suffix.
REASONING_SUFFIX_MODEL_PREFIXES: tuple[str, ...] = ("o1", "o3", "o4", "gpt-5")

# Model names that must be passed upstream verbatim even though they end like a suffixed alias.
# These are the defaults of New API's "thinking model blacklist" admin setting (global settings,
# ``thinking_model_blacklist``), the models whose suffix is part of the real name.
REASONING_SUFFIX_BLACKLIST: tuple[str, ...] = (
    "kimi-k2-thinking",
    "moonshotai/kimi-k2-thinking",
)


def split_reasoning_suffix(model: str) -> tuple[str, str | None]:
    """Split an effort suffix off a model name.

    Returns ``(base_model, effort)`` where ``effort`` is the suffix without its dash (``"high"``), or
    ``(model, None)`` when the name carries no recognised suffix, is black-listed, or would be empty
    once the suffix is removed. This is the bare name rule; it does not check
    :data:`REASONING_SUFFIX_MODEL_PREFIXES` or a preset's ``reasoning_suffixes`` flag.
    """
    if model in REASONING_SUFFIX_BLACKLIST:
        return model, None
    for suffix in REASONING_SUFFIXES:
        if model.endswith(suffix) and len(model) > len(suffix):
            return model[: -len(suffix)], suffix[1:]
    return model, None


# --------------------------------------------------------------------------------------------
# Default model lists (New API's per-adaptor lists)

_OPENAI_MODELS: tuple[str, ...] = (
    # GPT-3.5
    "gpt-3.5-turbo",
    "gpt-3.5-turbo-0613",
    "gpt-3.5-turbo-1106",
    "gpt-3.5-turbo-0125",
    "gpt-3.5-turbo-16k",
    "gpt-3.5-turbo-16k-0613",
    "gpt-3.5-turbo-instruct",
    "gpt-3.5-turbo-instruct-0914",
    # GPT-4 / GPT-4 Turbo
    "gpt-4",
    "gpt-4-0613",
    "gpt-4-1106-preview",
    "gpt-4-0125-preview",
    "gpt-4-32k",
    "gpt-4-32k-0613",
    "gpt-4-turbo-preview",
    "gpt-4-turbo",
    "gpt-4-turbo-2024-04-09",
    "gpt-4-vision-preview",
    # GPT-4o
    "chatgpt-4o-latest",
    "gpt-4o",
    "gpt-4o-2024-05-13",
    "gpt-4o-2024-08-06",
    "gpt-4o-2024-11-20",
    "gpt-4o-transcribe",
    "gpt-4o-transcribe-diarize",
    "gpt-4o-search-preview",
    "gpt-4o-search-preview-2025-03-11",
    "gpt-4o-mini",
    "gpt-4o-mini-2024-07-18",
    "gpt-4o-mini-transcribe",
    "gpt-4o-mini-transcribe-2025-03-20",
    "gpt-4o-mini-transcribe-2025-12-15",
    "gpt-4o-mini-tts",
    "gpt-4o-mini-tts-2025-03-20",
    "gpt-4o-mini-tts-2025-12-15",
    "gpt-4o-mini-search-preview",
    "gpt-4o-mini-search-preview-2025-03-11",
    # GPT-4.5 / GPT-4.1
    "gpt-4.5-preview",
    "gpt-4.5-preview-2025-02-27",
    "gpt-4.1",
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini",
    "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano",
    "gpt-4.1-nano-2025-04-14",
    # o-series
    "o1",
    "o1-2024-12-17",
    "o1-preview",
    "o1-preview-2024-09-12",
    "o1-mini",
    "o1-mini-2024-09-12",
    "o1-pro",
    "o1-pro-2025-03-19",
    "o3-mini",
    "o3-mini-2025-01-31",
    "o3-mini-high",
    "o3-mini-2025-01-31-high",
    "o3-mini-low",
    "o3-mini-2025-01-31-low",
    "o3-mini-medium",
    "o3-mini-2025-01-31-medium",
    "o3",
    "o3-2025-04-16",
    "o3-pro",
    "o3-pro-2025-06-10",
    "o3-deep-research",
    "o3-deep-research-2025-06-26",
    "o4-mini",
    "o4-mini-2025-04-16",
    "o4-mini-deep-research",
    "o4-mini-deep-research-2025-06-26",
    # GPT-5 family
    "gpt-5",
    "gpt-5-2025-08-07",
    "gpt-5-chat-latest",
    "gpt-5-mini",
    "gpt-5-mini-2025-08-07",
    "gpt-5-nano",
    "gpt-5-nano-2025-08-07",
    "gpt-5-codex",
    "gpt-5-pro",
    "gpt-5-pro-2025-10-06",
    "gpt-5-search-api",
    "gpt-5-search-api-2025-10-14",
    "gpt-5.1",
    "gpt-5.1-2025-11-13",
    "gpt-5.1-chat-latest",
    "gpt-5.1-codex",
    "gpt-5.1-codex-mini",
    "gpt-5.1-codex-max",
    "gpt-5.2",
    "gpt-5.2-2025-12-11",
    "gpt-5.2-chat-latest",
    "gpt-5.2-pro",
    "gpt-5.2-pro-2025-12-11",
    "gpt-5.2-codex",
    "gpt-5.3-chat-latest",
    "gpt-5.3-codex",
    "gpt-5.4",
    "gpt-5.4-2026-03-05",
    "gpt-5.4-pro",
    "gpt-5.4-pro-2026-03-05",
    # Audio / realtime
    "gpt-4o-audio-preview",
    "gpt-4o-audio-preview-2024-10-01",
    "gpt-4o-audio-preview-2024-12-17",
    "gpt-4o-audio-preview-2025-06-03",
    "gpt-4o-realtime-preview",
    "gpt-4o-realtime-preview-2024-10-01",
    "gpt-4o-realtime-preview-2024-12-17",
    "gpt-4o-realtime-preview-2025-06-03",
    "gpt-4o-mini-realtime-preview",
    "gpt-4o-mini-realtime-preview-2024-12-17",
    "gpt-4o-mini-audio-preview",
    "gpt-4o-mini-audio-preview-2024-12-17",
    "gpt-audio",
    "gpt-audio-2025-08-28",
    "gpt-audio-mini",
    "gpt-audio-mini-2025-10-06",
    "gpt-audio-mini-2025-12-15",
    "gpt-audio-1.5",
    "gpt-realtime",
    "gpt-realtime-2025-08-28",
    "gpt-realtime-mini",
    "gpt-realtime-mini-2025-10-06",
    "gpt-realtime-mini-2025-12-15",
    "gpt-realtime-1.5",
    "gpt-realtime-2",
    "gpt-realtime-2.1",
    "gpt-realtime-2.1-mini",
    "gpt-realtime-whisper",
    "gpt-realtime-translate",
    # Embeddings, legacy completions, moderation
    "text-embedding-ada-002",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-curie-001",
    "text-babbage-001",
    "text-ada-001",
    "text-moderation-latest",
    "text-moderation-stable",
    "omni-moderation-latest",
    "omni-moderation-2024-09-26",
    "text-davinci-edit-001",
    "davinci-002",
    "babbage-002",
    # Images
    "dall-e-2",
    "dall-e-3",
    "gpt-image-1",
    "gpt-image-1-mini",
    "gpt-image-1.5",
    "chatgpt-image-latest",
    # Speech
    "whisper-1",
    "tts-1",
    "tts-1-1106",
    "tts-1-hd",
    "tts-1-hd-1106",
    # Other
    "computer-use-preview",
    "computer-use-preview-2025-03-11",
    "sora-2",
    "sora-2-pro",
)

_DEEPSEEK_MODELS: tuple[str, ...] = (
    "deepseek-chat",
    "deepseek-reasoner",
    "deepseek-v4-flash",
    "deepseek-v4-flash-none",
    "deepseek-v4-flash-max",
    "deepseek-v4-pro",
    "deepseek-v4-pro-none",
    "deepseek-v4-pro-max",
)

_MOONSHOT_MODELS: tuple[str, ...] = (
    "kimi-k2.5",
    "kimi-k2-0905-preview",
    "kimi-k2-turbo-preview",
    "kimi-k2-thinking",
    "kimi-k2-thinking-turbo",
)

_SILICONFLOW_MODELS: tuple[str, ...] = (
    "THUDM/glm-4-9b-chat",
    "InstantX/InstantID",
    "ByteDance/SDXL-Lightning",
    "deepseek-ai/deepseek-llm-67b-chat",
    "Qwen/Qwen1.5-14B-Chat",
    "Qwen/Qwen1.5-7B-Chat",
    "Qwen/Qwen1.5-110B-Chat",
    "Qwen/Qwen1.5-32B-Chat",
    "01-ai/Yi-1.5-6B-Chat",
    "01-ai/Yi-1.5-9B-Chat-16K",
    "01-ai/Yi-1.5-34B-Chat-16K",
    "THUDM/chatglm3-6b",
    "deepseek-ai/DeepSeek-V2-Chat",
    "Qwen/Qwen2-72B-Instruct",
    "Qwen/Qwen2-7B-Instruct",
    "Qwen/Qwen2-57B-A14B-Instruct",
    "deepseek-ai/DeepSeek-Coder-V2-Instruct",
    "Qwen/Qwen2-1.5B-Instruct",
    "internlm/internlm2_5-7b-chat",
    "BAAI/bge-large-en-v1.5",
    "BAAI/bge-large-zh-v1.5",
    "Pro/Qwen/Qwen2-7B-Instruct",
    "Pro/Qwen/Qwen2-1.5B-Instruct",
    "Pro/Qwen/Qwen1.5-7B-Chat",
    "Pro/THUDM/glm-4-9b-chat",
    "Pro/THUDM/chatglm3-6b",
    "Pro/01-ai/Yi-1.5-9B-Chat-16K",
    "Pro/01-ai/Yi-1.5-6B-Chat",
    "Pro/google/gemma-2-9b-it",
    "Pro/internlm/internlm2_5-7b-chat",
    "Pro/meta-llama/Meta-Llama-3-8B-Instruct",
    "Pro/mistralai/Mistral-7B-Instruct-v0.2",
    "black-forest-labs/FLUX.1-schnell",
    "FunAudioLLM/SenseVoiceSmall",
    "netease-youdao/bce-embedding-base_v1",
    "BAAI/bge-m3",
    "internlm/internlm2_5-20b-chat",
    "Qwen/Qwen2-Math-72B-Instruct",
    "netease-youdao/bce-reranker-base_v1",
    "BAAI/bge-reranker-v2-m3",
)

_MISTRAL_MODELS: tuple[str, ...] = (
    "open-mistral-7b",
    "open-mixtral-8x7b",
    "mistral-small-latest",
    "mistral-medium-latest",
    "mistral-large-latest",
    "mistral-embed",
)

_XAI_MODELS: tuple[str, ...] = (
    # language models
    "grok-4-1-fast-reasoning",
    "grok-4-1-fast-non-reasoning",
    "grok-code-fast-1",
    "grok-4-fast-reasoning",
    "grok-4-fast-non-reasoning",
    "grok-4-0709",
    "grok-3-mini",
    "grok-3",
    "grok-2-vision-1212",
    # live-search aliases ("-search" is stripped and search_parameters added)
    "grok-4-1-fast-reasoning-search",
    "grok-4-1-fast-non-reasoning-search",
    "grok-4-fast-reasoning-search",
    "grok-4-fast-non-reasoning-search",
    "grok-4-0709-search",
    "grok-3-mini-search",
    "grok-3-search",
    # grok-3-mini effort aliases
    "grok-3-mini-high",
    "grok-3-mini-low",
    # images / video
    "grok-imagine-image-pro",
    "grok-imagine-image",
    "grok-2-image-1212",
    "grok-imagine-video",
)

_OLLAMA_MODELS: tuple[str, ...] = ("llama3-7b",)


# --------------------------------------------------------------------------------------------
# Presets
#
# stream_usage follows New API's list of channel types that support stream options; of the types
# here that is OpenAI, DeepSeek, Moonshot, SiliconFlow, xAI and Ollama (Custom, OpenRouter and
# Mistral are not on it, and stream_options is removed from their requests).

PRESETS: tuple[VendorPreset, ...] = (
    VendorPreset(
        id=1,
        name="OpenAI",
        default_base_url="https://api.openai.com",
        models=_OPENAI_MODELS,
        notes=(
            "Effort suffixes are mapped only for o1*/o3*/o4*/gpt-5* upstream names (see "
            "REASONING_SUFFIX_MODEL_PREFIXES); for chat the suffix becomes reasoning_effort, for /v1/responses "
            "it becomes reasoning.effort. For those reasoning models New API also moves max_tokens to "
            "max_completion_tokens, drops temperature (plus top_p and logprobs for gpt-5*), and renames a "
            "leading system message to developer (except o1-mini / o1-preview). An organization configured on "
            "the channel is sent as the OpenAI-Organization header. A base URL on "
            "https://gateway.ai.cloudflare.com has the leading /v1 removed from request paths."
        ),
    ),
    VendorPreset(
        id=8,
        name="Custom",
        default_base_url="",
        models=(),
        stream_usage=False,
        notes=(
            "Any OpenAI-compatible API: the base URL is its root (https://host or https://host/v1). As in "
            "New API, a base URL that is already a complete endpoint URL (it contains {model}, or ends with "
            "the endpoint path such as /chat/completions) is used as it is, with {model} replaced."
        ),
    ),
    VendorPreset(
        id=43,
        name="DeepSeek",
        default_base_url="https://api.deepseek.com",
        models=_DEEPSEEK_MODELS,
        reasoning_suffixes=False,
        notes=(
            "The generic effort suffixes are not mapped. Only deepseek-v4-* names take a suffix: '-none' means "
            "thinking {type: disabled}; '-max' means thinking {type: enabled} with reasoning_effort 'max'. "
            "Legacy completions (FIM) go to {base}/beta/completions ('/beta' is not doubled if the base URL "
            "already ends with it); Anthropic-format requests go to {base}/anthropic/v1/messages."
        ),
    ),
    VendorPreset(
        id=25,
        name="Moonshot",
        default_base_url="https://api.moonshot.cn",
        models=_MOONSHOT_MODELS,
        reasoning_suffixes=False,
        notes=(
            "kimi-k2.6 only accepts temperature 1, so any other temperature is forced to 1. "
            "Anthropic-format requests go to {base}/anthropic/v1/messages. The base URL may instead be the "
            "special value 'kimi-coding-plan', meaning chat at https://api.kimi.com/coding/v1/chat/completions "
            "(model list at .../coding/v1/models) and Claude messages at https://api.kimi.com/coding/v1/messages. "
            "kimi-k2-thinking is a real model name and keeps its '-thinking' suffix."
        ),
    ),
    VendorPreset(
        id=20,
        name="OpenRouter",
        default_base_url="https://openrouter.ai/api",
        models=(),
        stream_usage=False,
        reasoning_suffixes=False,
        notes=(
            "New API ships no default model list; fetch it from the upstream. Every request gets "
            "usage {include: true} (OpenRouter's own usage accounting) unless the client set one. "
            "The top-level reasoning_effort is always dropped; if the client sent no reasoning object it is "
            "rewritten to OpenRouter's reasoning {enabled: true, effort} ('none' is simply dropped). A "
            "'-thinking' model suffix is stripped and turns reasoning on ({enabled: true}, plus effort unless "
            "it is 'none'), unless the requested name is in the thinking blacklist. "
            "For anthropic/* models a Claude thinking block becomes reasoning {enabled, max_tokens: budget}. "
            "HTTP-Referer (https://www.newapi.ai) and X-OpenRouter-Title (New API) headers are added when "
            "absent."
        ),
    ),
    VendorPreset(
        id=40,
        name="SiliconFlow",
        default_base_url="https://api.siliconflow.cn",
        models=_SILICONFLOW_MODELS,
        reasoning_suffixes=False,
        notes=(
            "Rerank goes to {base}/v1/rerank. Image generation uses SiliconFlow fields (image_size, batch_size, "
            "falling back to size / n). A FIM request (prefix/suffix) without messages gets one empty user "
            "message because SiliconFlow requires the array."
        ),
    ),
    VendorPreset(
        id=42,
        name="Mistral",
        default_base_url="https://api.mistral.ai",
        models=_MISTRAL_MODELS,
        stream_usage=False,
        reasoning_suffixes=False,
        notes=(
            "The request is rebuilt with only model, stream, messages, temperature, top_p, tools, tool_choice "
            "and max_tokens (max_completion_tokens folded in). Tool-call ids must be 9 alphanumeric characters, "
            "so other ids are replaced consistently across tool_calls and tool_call_id. image_url parts are "
            "flattened to a plain URL string."
        ),
    ),
    VendorPreset(
        id=48,
        name="xAI",
        default_base_url="https://api.x.ai",
        models=_XAI_MODELS,
        notes=(
            "Effort suffixes apply only to grok-3-mini* and only '-high' / '-low' (that is what New API maps); "
            "for grok-3-mini max_tokens is moved to max_completion_tokens. A '-search' model suffix is "
            "stripped and turns on xAI live search (search_parameters). No embeddings, audio or "
            "Anthropic-format requests."
        ),
    ),
    VendorPreset(
        id=4,
        name="Ollama",
        default_base_url="http://localhost:11434",
        models=_OLLAMA_MODELS,
        reasoning_suffixes=False,
        models_path="/api/tags",
        notes=(
            "Served through Ollama's OpenAI-compatible API ({base}/v1/...), which reports usage in streams; "
            "New API converts to Ollama's native /api/chat instead. The model list comes from /api/tags. "
            "An API key is optional."
        ),
    ),
)

PRESETS_BY_ID: dict[int, VendorPreset] = {preset.id: preset for preset in PRESETS}
