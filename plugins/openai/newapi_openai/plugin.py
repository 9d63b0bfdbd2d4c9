"""Entry point of the OpenAI plugin: dialects, channel types and default prices."""

from __future__ import annotations

from newapi_host.sdk import ChannelType, Registrar, hookimpl

from . import chat_via_responses, responses_via_chat
from .adapter import AzureAdapter, AzureChannelSettings, OpenAIChannelSettings, adapter_for
from .dialects import ALL
from .estimate import attach_estimators
from .presets import PRESETS
from .pricing import PRICING

NEWAPI_SDK = ">=1.0,<2"  # the plugin SDK versions this plugin is written for

DIALECTS = attach_estimators(ALL)
DIALECT_NAMES = tuple(d.name for d in DIALECTS)

AZURE = ChannelType(
    id=3,
    name="Azure OpenAI",
    dialects=DIALECT_NAMES,
    adapter=AzureAdapter(),
    settings_model=AzureChannelSettings,
    default_base_url="",
    description="Azure OpenAI deployments; api-version from the channel's 'other' field or settings.",
)


def channel_types() -> list[ChannelType]:
    types = [
        ChannelType(
            id=preset.id,
            name=preset.name,
            dialects=DIALECT_NAMES,
            adapter=adapter_for(preset),
            settings_model=OpenAIChannelSettings,
            default_base_url=preset.default_base_url,
            default_models=preset.models,
            description=preset.notes,
        )
        for preset in PRESETS
    ]
    return [*types, AZURE]


@hookimpl
def newapi_register_providers(registry: Registrar) -> None:
    for dialect in DIALECTS:
        registry.dialect(dialect)
    for channel_type in channel_types():
        registry.channel_type(channel_type)
    registry.pricing(PRICING)
    registry.converter(responses_via_chat.CONVERTER)
    registry.converter(chat_via_responses.CONVERTER)
