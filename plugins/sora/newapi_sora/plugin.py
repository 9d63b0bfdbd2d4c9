"""Entry point of the video plugin: channel type 55 (Sora, OpenAI's ``/v1/videos``), per-second
prices, the ``/v1/videos`` routes and their poller, from :mod:`newapi_host.sdk` alone."""

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

NEWAPI_SDK = ">=1.1,<2"
PRICES = {
    "sora-2": 0.3,
    "sora-2-pro": 0.5,
}  # USD per second of video: New API's defaults (the OpenAI plugin lists the same)


class SoraAdapter:
    """Sora channels serve only the plugin's ``/v1/videos`` routes, never a relay dialect."""

    def build_request(self, call: UpstreamCall) -> UpstreamRequest:
        raise InvalidRequest("Sora channels serve /v1/videos, not chat or completion requests")

    def classify_error(self, status: int, body: bytes) -> None:
        return None


SORA = ChannelType(
    id=55,
    name="Sora",
    dialects=(),
    adapter=SoraAdapter(),
    default_base_url="https://api.openai.com",
    default_models=tuple(PRICES),
    task_platform="sora",
    description="OpenAI's video API (/v1/videos, Bearer key); billed per second of video, held at submit, "
    "refunded when the video fails or times out.",
)


@hookimpl
def newapi_register_providers(registry: Registrar) -> None:
    registry.channel_type(SORA)
    registry.pricing(PricingDefaults(model_price=PRICES))


@hookimpl
def newapi_routes() -> list[Any]:
    return list(routes.ROUTES)


@hookimpl
def newapi_jobs() -> list[Any]:
    return [poll.JOB]
