"""The Gemini plugin's own HTTP routes.

* ``GET /v1beta/models``: the key's models in the Gemini API's list shape (for Google's SDKs).
* ``POST /v1beta/models/{model_action}`` and ``POST /v1/models/{model_action}``: the relay. The
  action after the colon picks the dialect: ``generateContent``/``streamGenerateContent`` (and
  anything unknown, which that dialect rejects with a Google-shaped 400) go to
  ``gemini.generate``; ``embedContent``/``batchEmbedContents`` go to ``gemini.embed``. Otherwise
  this does what the host's handler for a dialect route with path parameters does.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Stream

from .dialect import EMBED_ACTIONS, NAME, ROUTE_PATHS, error_body, split_model_action
from .embed import NAME as EMBED_NAME

GENERATION_METHODS = ["generateContent", "streamGenerateContent"]


def model_object(model: str) -> dict[str, Any]:
    return {"name": f"models/{model}", "displayName": model, "supportedGenerationMethods": GENERATION_METHODS}


@get("/v1beta/models", opt={"skip_session": True}, name="gemini:list_models")
async def list_models(request: Request[Any, Any, Any]) -> Response[Any]:
    from newapi_host.relay.errors import RelayError
    from newapi_host.relay.keys import authenticate

    relay = request.app.state.host.relay
    raw = request.headers.get("x-goog-api-key") or request.query_params.get("key") or ""
    if not raw:
        raw = request.headers.get("authorization") or ""
    client_ip = request.client.host if request.client else ""
    try:
        entry, _ = await authenticate(relay.keys, raw, client_ip)
    except RelayError as exc:
        return Response(
            error_body(exc.status, exc.message, exc.type, exc.code),
            status_code=exc.status,
            media_type="application/json",
        )
    models = relay.index.models_for(entry.using_group)
    if entry.model_limits is not None:
        models = [m for m in models if m in entry.model_limits]
    return Response({"models": [model_object(m) for m in models]})


def dialect_for(model_action: str) -> str:
    """The dialect that answers ``<model>:<action>``."""
    _, action = split_model_action(model_action)
    return EMBED_NAME if action in EMBED_ACTIONS else NAME


def _relay_route(path: str, name: str) -> Any:
    async def relay(request: Request[Any, Any, Any]) -> Response[Any]:
        from newapi_host.relay.asgi import Incoming

        incoming = Incoming(request.scope, request.receive)
        dialect = dialect_for(str(request.path_params.get("model_action") or ""))
        reply = await request.app.state.host.relay.handle(incoming, dialect)
        if reply is None:  # the plugin is switched off
            message = f"Invalid URL ({request.method} {request.url.path})"
            return Response(
                error_body(404, message, "invalid_request_error", None), status_code=404, media_type="application/json"
            )
        if reply.stream is not None:
            stream = reply.stream

            async def relayed() -> Any:
                try:
                    async for chunk in stream:
                        yield chunk
                finally:
                    if reply.on_close is not None:
                        await reply.on_close()

            return Stream(relayed(), status_code=reply.status, media_type=reply.media_type, headers=reply.headers)
        if reply.on_close is not None:
            await reply.on_close()
        return Response(reply.body, status_code=reply.status, media_type=reply.media_type, headers=reply.headers)

    relay.__name__ = f"relay_{name}"
    return post(path, status_code=200, opt={"skip_session": True}, name=f"gemini:relay_{name}")(relay)


RELAY_ROUTES = [_relay_route(path, path.split("/")[1]) for path in ROUTE_PATHS]
ROUTES = [list_models, *RELAY_ROUTES]
