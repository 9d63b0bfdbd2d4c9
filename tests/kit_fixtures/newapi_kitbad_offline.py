"""A provider that breaks every offline contract, each in its own part.

- channel type 0, speaking a format nobody defines;
- an adapter that resolves a host name while building a request, and answers errors with a string;
- the ``kitbad.chat`` format, whose peek accepts garbage, whose usage reader reports (1, 1) and
  whose stream counter never sees the end; ``kitbad.silent``, a format with no samples;
- a converter from OpenAI chat that loses the usage of answers and sends a usage chunk to clients
  that did not ask for one;
- a negative price, and settings with a field that has no default.
"""

import json
import socket

from pydantic import BaseModel

from newapi_host.sdk import (
    ChannelType,
    Converter,
    Dialect,
    IngressRoute,
    Peek,
    PricingDefaults,
    SSEEvent,
    UpstreamRequest,
    Usage,
    hookimpl,
)
from newapi_host.sdk.testing import DialectSample, samples

NEWAPI_SDK = ">=1.0,<2"
NEWAPI_CONFORMANCE = "newapi_kitbad_offline:setup"


class GoodAdapter:
    def build_request(self, call):
        headers = {"Authorization": f"Bearer {call.channel.key}"}
        return UpstreamRequest("POST", f"{call.channel.base_url}/v1/chat/completions", headers, call.body)

    def classify_error(self, status, body):
        return None


class ChattyAdapter(GoodAdapter):
    def build_request(self, call):
        socket.getaddrinfo("upstream.kitbad.test", 443)  # "just checking the host is up"
        return super().build_request(call)

    def classify_error(self, status, body):
        return "retry"


def peek(body, params):
    try:
        data = json.loads(body)
        return Peek(model=data["model"], stream=bool(data.get("stream")), max_tokens=data.get("max_tokens"))
    except (ValueError, KeyError, TypeError):
        return Peek(model="unknown")  # garbage gets through


class NeverDone:
    finished = False

    def feed(self, event):
        return False

    def result(self):
        return Usage(prompt_tokens=1, completion_tokens=1)

    def output_text(self):
        return 0, ""


def error_body(status, message, type_, code):
    return json.dumps({"error": {"message": message}}).encode()


KITBAD_CHAT = Dialect(
    name="kitbad.chat",
    routes=(IngressRoute("POST", "/kitbad/v1/chat"),),
    peek=peek,
    error_body=error_body,
    usage=lambda body: Usage(prompt_tokens=1, completion_tokens=1),
    stream_usage=NeverDone,
)
KITBAD_SILENT = Dialect(
    name="kitbad.silent", routes=(), peek=peek, error_body=error_body, usage=lambda body: None, stream_usage=NeverDone
)


class UsageEverywhere:
    """Passes OpenAI chat chunks through and always adds a usage chunk, asked for or not."""

    def __init__(self, ctx):
        self.ctx = ctx

    def feed(self, event):
        return [event] if event.data != "[DONE]" else []

    def finish(self):
        usage = {"choices": [], "usage": samples.openai_usage()}
        return [SSEEvent(data=json.dumps(usage)), SSEEvent(data="[DONE]")]


def drop_usage(body, ctx):
    return {k: v for k, v in body.items() if k != "usage"}


TO_KITBAD = Converter(
    source="openai.chat",
    target="kitbad.chat",
    request=lambda body, ctx: body,
    response=drop_usage,
    stream=UsageEverywhere,
)


class KitbadSettings(BaseModel):
    api_key: str  # no default


def setup(kit):
    """Canonical kitbad.chat traffic: OpenAI chat's, under another name."""
    chat = samples.KIT_SAMPLES["openai.chat"]
    kit.sample(DialectSample("kitbad.chat", chat.request, chat.response, chat.stream, "/kitbad/v1/chat", max_tokens=64))


@hookimpl
def newapi_register_providers(registry):
    registry.channel_type(ChannelType(id=0, name="", dialects=("kitbad.nowhere",), adapter=GoodAdapter()))
    registry.channel_type(ChannelType(id=990_101, name="Chatty", dialects=("openai.chat",), adapter=ChattyAdapter()))
    registry.dialect(KITBAD_CHAT)
    registry.dialect(KITBAD_SILENT)
    registry.converter(TO_KITBAD)
    registry.pricing(PricingDefaults(model_ratio={"kitbad-1": -1}))


@hookimpl
def newapi_plugin_settings():
    return KitbadSettings
