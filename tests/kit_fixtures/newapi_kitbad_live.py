"""A provider that registers cleanly and fails at run time.

Its adapter posts to a path the upstream does not serve (``/chat/completion``), its model list
reads a field the upstream does not send, and its one route works only once.
"""

from litestar import get

from newapi_host.sdk import ChannelType, ErrorVerdict, PricingDefaults, UpstreamRequest, hookimpl

NEWAPI_SDK = ">=1.0,<2"
TYPE_ID = 990_201


class TypoAdapter:
    def build_request(self, call):
        headers = {"Authorization": f"Bearer {call.channel.key}", "Content-Type": "application/json"}
        return UpstreamRequest("POST", f"{call.channel.base_url.rstrip('/')}/v1/chat/completion", headers, call.body)

    def classify_error(self, status, body) -> ErrorVerdict | None:
        return None

    async def list_models(self, channel, fetch):
        answer = await fetch(f"{channel.base_url.rstrip('/')}/v1/models")
        return [m["id"] for m in answer.get("models", [])]  # OpenAI's list is under "data"


calls = iter(range(1))


@get("/kitbad/once", sync_to_thread=False)
def once() -> dict:
    """Answers from a module-level iterator: the second request finds it exhausted."""
    return {"call": next(calls)}


@hookimpl
def newapi_register_providers(registry):
    registry.channel_type(ChannelType(id=TYPE_ID, name="Kitbad Live", dialects=("openai.chat",), adapter=TypoAdapter()))
    registry.pricing(PricingDefaults(model_ratio={"kitbad-live-1": 1}))


@hookimpl
def newapi_routes():
    return [once]
