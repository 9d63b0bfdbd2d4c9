"""A provider plugin using every kind of contribution a provider can make."""

from __future__ import annotations

import json
from collections.abc import Mapping

from litestar import Request, get
from pydantic import BaseModel, Field, SecretStr

from newapi_host import sdk
from newapi_host.sdk import (
    BackgroundJob,
    ChannelType,
    ChannelView,
    ConvertContext,
    Converter,
    Dialect,
    ErrorVerdict,
    IngressRoute,
    JobContext,
    Peek,
    PricingDefaults,
    SSEEvent,
    UpstreamCall,
    UpstreamRequest,
    Usage,
    hookimpl,
)

TICKS: list[str] = []


class AcmeSettings(BaseModel):
    greeting: str = "hello"
    max_items: int = Field(10, ge=1, le=100, description="How many items to return")
    api_secret: SecretStr = SecretStr("")


class AcmeChannelSettings(BaseModel):
    region: str = Field("eu", pattern="^(eu|us)$")


class AcmeAdapter:
    def build_request(self, call: UpstreamCall) -> UpstreamRequest:
        return UpstreamRequest(
            method="POST",
            url=f"{call.channel.base_url.rstrip('/')}/chat",
            headers={"authorization": f"Bearer {call.channel.key}", "content-type": "application/json"},
            body=call.body,
        )

    def classify_error(self, status: int, body: bytes) -> ErrorVerdict | None:
        return ErrorVerdict(retry=False, disable_channel=True) if b"account suspended" in body else None


def peek(body: bytes, params: Mapping[str, str]) -> Peek:
    data = json.loads(body)
    return Peek(model=data["model"], stream=bool(data.get("stream")), max_tokens=data.get("max_tokens"))


def error_body(status: int, message: str, type_: str, code: str | None) -> bytes:
    return json.dumps({"acme_error": {"status": status, "message": message}}).encode()


def usage(body: bytes) -> Usage | None:
    u = json.loads(body).get("usage")
    return Usage(prompt_tokens=u["in"], completion_tokens=u["out"]) if u else None


class Counter:
    def __init__(self) -> None:
        self.usage: Usage | None = None

    def feed(self, event: SSEEvent) -> bool:
        data = json.loads(event.data)
        if "usage" in data:
            self.usage = Usage(prompt_tokens=data["usage"]["in"], completion_tokens=data["usage"]["out"])
        return "usage" in data and len(data) == 1

    def result(self) -> Usage | None:
        return self.usage

    def output_text(self) -> tuple[int, str]:
        return 0, ""

    @property
    def finished(self) -> bool:
        return self.usage is not None


class Upper:
    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        return [SSEEvent(data=event.data.upper())]

    def finish(self) -> list[SSEEvent]:
        return [SSEEvent(data="[DONE]")]


CHANNEL_TYPE = ChannelType(
    id=9001,
    name="Acme",
    dialects=("acme.chat",),
    adapter=AcmeAdapter(),
    settings_model=AcmeChannelSettings,
    default_base_url="https://acme.invalid/v1",
    default_models=("acme-1",),
)

DIALECT = Dialect(
    name="acme.chat",
    routes=(IngressRoute("POST", "/acme/v1/chat"),),
    peek=peek,
    error_body=error_body,
    usage=usage,
    stream_usage=Counter,
)

CONVERTER = Converter(
    source="acme.chat",
    target="openai.chat",
    request=lambda body, ctx: {"model": ctx.model, "messages": [{"role": "user", "content": body["text"]}]},
    response=lambda body, ctx: {"text": body["choices"][0]["message"]["content"]},
    stream=lambda ctx: Upper(),
)


@hookimpl
def newapi_register_providers(registry):
    registry.channel_type(CHANNEL_TYPE)
    registry.dialect(DIALECT)
    registry.converter(CONVERTER)
    registry.pricing(PricingDefaults(model_ratio={"acme-1": 0.5}, completion_ratio={"acme-1": 2.0}))


@hookimpl
def newapi_plugin_settings():
    return AcmeSettings


@get("/acme/hello", sync_to_thread=False)
def hello(request: Request) -> dict:
    settings = sdk.settings(request, "acme")
    return {"greeting": settings.greeting, "max_items": settings.max_items}


@hookimpl
def newapi_routes():
    return [hello]


async def tick(ctx: JobContext) -> None:
    TICKS.append(ctx.settings.greeting)


@hookimpl
def newapi_jobs():
    return [BackgroundJob(name="tick", interval=0.1, run=tick)]


@hookimpl
def newapi_piccolo_apps():
    return ["newapi_fixture_acme_db.piccolo_app"]


__all__ = ["ChannelView", "ConvertContext"]
