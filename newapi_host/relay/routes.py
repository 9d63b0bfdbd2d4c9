"""Litestar routes for the relay: one handler per dialect ingress route, and the model list."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, Response, get, route
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from newapi_host.plugins.registry import Registry

from .errors import RelayError
from .keys import authenticate
from .pipeline import REQUEST_ID_HEADER, new_request_id


def dialect_handlers(registry: Registry) -> list[HTTPRouteHandler]:
    """A handler for every ingress route of every loaded dialect (enabled or not: checked per call)."""
    handlers = []
    for contributions in registry.plugins():
        for dialect in contributions.dialects:
            for ingress in dialect.routes:
                handlers.append(_handler(dialect.name, ingress.method, ingress.path))
    return handlers


def _handler(dialect_name: str, method: str, path: str) -> HTTPRouteHandler:
    async def relay(request: Request[Any, Any, Any]) -> Response[Any]:
        return await request.app.state.host.relay.handle(request, dialect_name)

    relay.__name__ = f"relay_{dialect_name.replace('.', '_')}_{method.lower()}"
    return route(
        path, http_method=[method], status_code=200, opt={"skip_session": True}, name=f"{dialect_name}:{path}"
    )(relay)


def _model_object(model: str, created: int) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": created, "owned_by": "newapi"}


async def _caller(request: Request[Any, Any, Any]):
    relay = request.app.state.host.relay
    raw = request.headers.get("authorization") or request.headers.get("x-api-key") or ""
    client_ip = request.client.host if request.client else ""
    entry, _ = await authenticate(relay.keys, raw, client_ip)
    return relay, entry


def _error(exc: RelayError, request_id: str) -> Response[Any]:
    body = {
        "error": {
            "message": f"{exc.message} (request id: {request_id})",
            "type": exc.type,
            "param": None,
            "code": exc.code,
        }
    }
    return Response(body, status_code=exc.status, headers={REQUEST_ID_HEADER: request_id})


@get("/v1/models", opt={"skip_session": True})
async def list_models(request: Request[Any, Any, Any]) -> Response[Any]:
    """Models this key may use: its group's channels, narrowed by the key's model whitelist."""
    request_id = new_request_id()
    try:
        relay, entry = await _caller(request)
    except RelayError as exc:
        return _error(exc, request_id)
    models = relay.index.models_for(entry.using_group)
    if entry.model_limits is not None:
        models = [m for m in models if m in entry.model_limits]
    created = int(time.time())
    return Response(
        {"object": "list", "data": [_model_object(m, created) for m in models]}, headers={REQUEST_ID_HEADER: request_id}
    )


@get("/v1/models/{model:path}", opt={"skip_session": True})
async def retrieve_model(request: Request[Any, Any, Any], model: FromPath[str]) -> Response[Any]:
    request_id = new_request_id()
    model = model.lstrip("/")
    try:
        relay, entry = await _caller(request)
        allowed = model in relay.index.models_for(entry.using_group) and (
            entry.model_limits is None or model in entry.model_limits
        )
        if not allowed:
            raise RelayError(
                404, f"The model '{model}' does not exist", type_="invalid_request_error", code="model_not_found"
            )
    except RelayError as exc:
        return _error(exc, request_id)
    return Response(_model_object(model, int(time.time())), headers={REQUEST_ID_HEADER: request_id})


MODEL_ROUTES = [list_models, retrieve_model]
