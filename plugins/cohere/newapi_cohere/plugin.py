"""Entry point of the Cohere plugin: channel type 34, the ``cohere.chat`` and ``cohere.embed``
dialects, converters from OpenAI chat and embeddings, default prices.

Everything here is built from :mod:`newapi_host.sdk` alone; ``NEWAPI_SDK`` tells the host which
SDK versions the plugin was written for.
"""

from __future__ import annotations

from newapi_host.sdk import ChannelType, Registrar, hookimpl

from . import chat_via_cohere, embeddings_via_cohere
from .adapter import DEFAULT_BASE_URL, CohereAdapter, CohereChannelSettings
from .dialect import DIALECT as CHAT
from .embed import DIALECT as EMBED
from .pricing import DEFAULT_MODELS, PRICING

NEWAPI_SDK = ">=1.0,<2"
NEWAPI_CONFORMANCE = "newapi_cohere.conformance:setup"  # Cohere traffic for `newapi plugin check`

COHERE = ChannelType(
    id=34,
    name="Cohere",
    dialects=(CHAT.name, EMBED.name),
    adapter=CohereAdapter(),
    settings_model=CohereChannelSettings,
    default_base_url=DEFAULT_BASE_URL,
    default_models=DEFAULT_MODELS,
    description=(
        "Cohere's v2 chat and embed APIs (Bearer key). OpenAI, Anthropic and Gemini clients are converted; "
        "Cohere has no balance endpoint."
    ),
)


@hookimpl
def newapi_register_providers(registry: Registrar) -> None:
    registry.dialect(CHAT)
    registry.dialect(EMBED)
    registry.channel_type(COHERE)
    registry.converter(chat_via_cohere.CONVERTER)
    registry.converter(embeddings_via_cohere.CONVERTER)
    registry.pricing(PRICING)
