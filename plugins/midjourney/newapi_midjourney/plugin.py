"""Entry point of the Midjourney plugin: channel types 2 (Midjourney-Proxy) and 5
(Midjourney-Proxy-Plus), New API's default ``mj_*`` prices, the ``/mj`` routes and the poller.

Built from :mod:`newapi_host.sdk` alone, on its task framework (holds, settlement, refunds).
"""

from __future__ import annotations

from typing import Any

from newapi_host.sdk import (
    ChannelType,
    InvalidRequest,
    PricingDefaults,
    Registrar,
    UpstreamCall,
    UpstreamRequest,
    hookimpl,
)

from . import poll, routes
from .actions import DEFAULT_MODELS, DEFAULT_PRICES
from .settings import MidjourneySettings

NEWAPI_SDK = ">=1.1,<2"


class MidjourneyAdapter:
    """Midjourney channels serve only the plugin's ``/mj`` routes, never a relay dialect."""

    def build_request(self, call: UpstreamCall) -> UpstreamRequest:
        raise InvalidRequest("Midjourney-Proxy channels serve the /mj routes, not chat or completion requests")

    def classify_error(self, status: int, body: bytes) -> None:
        return None


DESCRIPTION = (
    "Midjourney-Proxy ({}): /mj/submit/*, /mj/task/*, /mj/image/* and the /mj-fast, /mj-relax, /mj-turbo "
    "variants; priced per action (mj_imagine, mj_upscale, ...), charged at submit, refunded on failure."
)
MIDJOURNEY = ChannelType(
    id=2,
    name="Midjourney Proxy",
    dialects=(),
    adapter=MidjourneyAdapter(),
    default_models=DEFAULT_MODELS,
    description=DESCRIPTION.format("novicezk/midjourney-proxy"),
    task_platform="midjourney",
)
MIDJOURNEY_PLUS = ChannelType(
    id=5,
    name="Midjourney Proxy Plus",
    dialects=(),
    adapter=MidjourneyAdapter(),
    default_models=DEFAULT_MODELS,
    task_platform="midjourney",
    description=DESCRIPTION.format("Plus, with /mj/submit/action buttons, modal, shorten, video, edits"),
)
PRICING = PricingDefaults(model_price=DEFAULT_PRICES)


@hookimpl
def newapi_register_providers(registry: Registrar) -> None:
    registry.channel_type(MIDJOURNEY)
    registry.channel_type(MIDJOURNEY_PLUS)
    registry.pricing(PRICING)


@hookimpl
def newapi_routes() -> list[Any]:
    return list(routes.ROUTES)


@hookimpl
def newapi_jobs() -> list[Any]:
    return [poll.JOB]


@hookimpl
def newapi_plugin_settings() -> type[MidjourneySettings]:
    return MidjourneySettings
