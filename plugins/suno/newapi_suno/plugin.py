"""Entry point of the Suno plugin: channel type 36, New API's ``suno_music``/``suno_lyrics`` prices,
the ``/suno`` routes and their poller, all from :mod:`newapi_host.sdk` and its task framework."""

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
PRICES = {"suno_music": 0.1, "suno_lyrics": 0.01}  # New API's default per-call prices, USD


class SunoAdapter:
    """Suno channels serve only the plugin's ``/suno`` routes, never a relay dialect."""

    def build_request(self, call: UpstreamCall) -> UpstreamRequest:
        raise InvalidRequest("Suno channels serve the /suno routes, not chat or completion requests")

    def classify_error(self, status: int, body: bytes) -> None:
        return None


SUNO = ChannelType(
    id=36,
    name="Suno API",
    dialects=(),
    adapter=SunoAdapter(),
    default_models=tuple(PRICES),
    task_platform="suno",
    description="Suno-API compatible upstream (Bearer key): /suno/submit/music|lyrics and /suno/fetch, "
    "charged per call at submit and refunded when the song fails or times out.",
)


@hookimpl
def newapi_register_providers(registry: Registrar) -> None:
    registry.channel_type(SUNO)
    registry.pricing(PricingDefaults(model_price=PRICES))


@hookimpl
def newapi_routes() -> list[Any]:
    return list(routes.ROUTES)


@hookimpl
def newapi_jobs() -> list[Any]:
    return [poll.JOB]
