"""``GET /v1beta/models``: the key's models in the Gemini API's list shape (for Google's SDKs)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from .dialect import error_body

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


ROUTES = [list_models]
