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

from newapi_host import sdk

from .dialect import EMBED_ACTIONS, NAME, ROUTE_PATHS, split_model_action
from .embed import NAME as EMBED_NAME

GENERATION_METHODS = ["generateContent", "streamGenerateContent"]


def model_object(model: str) -> dict[str, Any]:
    return {"name": f"models/{model}", "displayName": model, "supportedGenerationMethods": GENERATION_METHODS}


@get("/v1beta/models", opt={"skip_session": True}, name="gemini:list_models")
async def list_models(request: Request[Any, Any, Any]) -> Response[Any]:
    try:
        caller = await sdk.authenticate(request, NAME)
    except sdk.ClientError as error:
        return sdk.error_response(request, NAME, error)
    return Response({"models": [model_object(m) for m in sdk.models_for(request, caller)]})


def dialect_for(model_action: str) -> str:
    """The dialect that answers ``<model>:<action>``."""
    _, action = split_model_action(model_action)
    return EMBED_NAME if action in EMBED_ACTIONS else NAME


def _relay_route(path: str, name: str) -> Any:
    async def relay(request: Request[Any, Any, Any]) -> Response[Any]:
        return await sdk.relay(request, dialect_for(str(request.path_params.get("model_action") or "")))

    relay.__name__ = f"relay_{name}"
    return post(path, status_code=200, opt={"skip_session": True}, name=f"gemini:relay_{name}")(relay)


RELAY_ROUTES = [_relay_route(path, path.split("/")[1]) for path in ROUTE_PATHS]
ROUTES = [list_models, *RELAY_ROUTES]
