"""Entry point of the Claude plugin: the Messages dialect, channel type 14, converters, prices."""

from __future__ import annotations

from typing import Any

from newapi_host.sdk import ChannelType, Registrar, hookimpl

from .adapter import DEFAULT_BASE_URL, ClaudeAdapter
from .chat_via_claude import CONVERTER as CHAT_VIA_CLAUDE
from .claude_via_chat import CONVERTER as CLAUDE_VIA_CHAT
from .dialect import DIALECT
from .pricing import DEFAULT_MODELS, PRICING

NEWAPI_SDK = ">=1.0,<2"  # the plugin SDK versions this plugin is written for

ANTHROPIC = ChannelType(
    id=14,
    name="Anthropic",
    dialects=(DIALECT.name,),
    adapter=ClaudeAdapter(),
    settings_model=None,
    default_base_url=DEFAULT_BASE_URL,
    default_models=DEFAULT_MODELS,
    description=(
        "Anthropic's Messages API (x-api-key). A '-thinking' model suffix turns on extended thinking "
        "(budget 80% of max_tokens); OpenAI Chat clients are converted."
    ),
)


@hookimpl
def newapi_register_providers(registry: Registrar) -> None:
    registry.dialect(DIALECT)
    registry.channel_type(ANTHROPIC)
    registry.converter(CLAUDE_VIA_CHAT)
    registry.converter(CHAT_VIA_CLAUDE)
    registry.pricing(PRICING)


@hookimpl
def newapi_routes() -> list[Any]:
    from .count_tokens import count_tokens

    return [count_tokens]
