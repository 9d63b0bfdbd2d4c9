"""Entry point of the Gemini plugin: the ``gemini.generate`` and ``gemini.embed`` dialects, channel type 24,
converters."""

from __future__ import annotations

from newapi_host.sdk import ChannelType, Registrar, hookimpl

from . import chat_via_gemini, embed, embed_via_embeddings, embeddings_via_embed, gemini_via_chat
from .adapter import DEFAULT_BASE_URL, GeminiAdapter, GeminiChannelSettings
from .dialect import GENERATE
from .pricing import DEFAULT_MODELS, PRICING

NEWAPI_SDK = ">=1.0,<2"  # the plugin SDK versions this plugin is written for

GEMINI = ChannelType(
    id=24,
    name="Gemini",
    dialects=(GENERATE.name, embed.NAME),
    adapter=GeminiAdapter(),
    settings_model=GeminiChannelSettings,
    default_base_url=DEFAULT_BASE_URL,
    default_models=DEFAULT_MODELS,
    description="Google AI Studio (Gemini API); API version from the channel's 'other' field or settings.",
)

CONVERTERS = (
    gemini_via_chat.CONVERTER,
    chat_via_gemini.CONVERTER,
    embed_via_embeddings.CONVERTER,
    embeddings_via_embed.CONVERTER,
)


@hookimpl
def newapi_register_providers(registry: Registrar) -> None:
    registry.dialect(GENERATE)
    registry.dialect(embed.EMBED)
    registry.channel_type(GEMINI)
    for converter in CONVERTERS:
        registry.converter(converter)
    registry.pricing(PRICING)


@hookimpl
def newapi_routes():
    from .routes import ROUTES

    return ROUTES
