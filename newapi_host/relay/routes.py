"""Litestar routes for the relay: one handler per dialect ingress route, and the model list."""

from __future__ import annotations

import logging
import time
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, asgi, get, route
from litestar.handlers import ASGIRouteHandler, HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Stream
from litestar.types import ASGIApp, Receive, Scope, Send

from newapi_host.body_depth import BODY_CHECKED
from newapi_host.plugins.registry import Registry

from .asgi import Incoming, Reply, send_reply
from .errors import RelayError
from .keys import authenticate
from .request_id import REQUEST_ID_HEADER, SETS_REQUEST_ID, new_request_id

log = logging.getLogger(__name__)
DIRECT = "direct_endpoint"  # route opt: the plain ASGI endpoint RelayFront may call directly


def dialect_handlers(registry: Registry) -> list[ASGIRouteHandler]:
    """A handler for every ingress route of every loaded dialect (enabled or not: checked per call)."""
    handlers = []
    for contributions in registry.plugins():
        for dialect in contributions.dialects:
            for ingress in dialect.routes:
                handlers.append(_handler(dialect.name, ingress.method, ingress.path))
    return handlers


def _handler(dialect_name: str, method: str, path: str) -> ASGIRouteHandler | HTTPRouteHandler:
    """A plain ASGI endpoint (the hot path skips framework request/response objects).

    Litestar's router cannot reach ASGI handlers on paths with parameters, so those few routes
    (``/v1/engines/{model}/embeddings``) go through an ordinary handler instead.
    """
    if "{" in path:
        return _framework_handler(dialect_name, method, path)
    allowed = method.upper()

    async def relay(scope: Scope, receive: Receive, send: Send) -> None:
        request = Incoming(scope, receive)
        reply: Reply | None
        if scope["method"] != allowed:
            reply = _not_served(request, 405, f"method {scope['method']} is not allowed here")
        else:
            try:
                reply = await scope["app"].state.host.relay.handle(request, dialect_name)
            except Exception:  # a bug: answered as the framework would, in the client's error shape
                log.exception("relay %s %s failed", scope["method"], scope["path"])
                reply = _not_served(request, 500, "internal error", "new_api_error")
            if reply is None:  # the dialect's plugin is switched off
                reply = _not_served(request, 404, f"Invalid URL ({scope['method']} {scope['path']})")
        await send_reply(reply, receive, send)

    relay.__name__ = f"relay_{dialect_name.replace('.', '_')}_{method.lower()}"
    # Incoming.body() checks the nesting depth; every Reply carries the request id header
    opt = {"skip_session": True, BODY_CHECKED: True, SETS_REQUEST_ID: True, DIRECT: relay}
    return asgi(path, opt=opt, name=f"{dialect_name}:{path}", copy_scope=False)(relay)


class RelayFront:
    """Hands requests for the relay's fixed paths straight to their endpoints.

    Installed in front of Litestar's router (as the app's ``asgi_handler``): a relayed request
    skips route resolution and the app-wide middleware, none of which it needs (no session, its
    own request id and body checks, its own error replies). Everything else, and any path that
    more than one route serves, goes through Litestar as before.
    """

    def __init__(self, app: ASGIApp, routes: dict[str, ASGIApp]) -> None:
        self.app, self.routes = app, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = self.routes.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await self.app(scope, receive, send)


def direct_routes(app: Litestar) -> dict[str, ASGIApp]:
    """Path -> endpoint for the relay routes that are the only route on their path."""
    served: dict[str, int] = {}
    for app_route in app.routes:
        served[app_route.path] = served.get(app_route.path, 0) + 1
    table: dict[str, ASGIApp] = {}
    for app_route in app.routes:
        for handler in getattr(app_route, "route_handlers", None) or [getattr(app_route, "route_handler", None)]:
            endpoint = handler.opt.get(DIRECT) if handler is not None else None
            if endpoint is not None and served[app_route.path] == 1:
                table[app_route.path] = endpoint
    return table


def _framework_handler(dialect_name: str, method: str, path: str) -> HTTPRouteHandler:
    async def relay(request: Request[Any, Any, Any]) -> Response[Any]:
        incoming = Incoming(request.scope, request.receive)
        reply = await request.app.state.host.relay.handle(incoming, dialect_name)
        if reply is None:
            reply = _not_served(incoming, 404, f"Invalid URL ({request.method} {request.url.path})")
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
        return Response(reply.body, status_code=reply.status, media_type=reply.media_type, headers=reply.headers)

    relay.__name__ = f"relay_{dialect_name.replace('.', '_')}_{method.lower()}_params"
    return route(
        path, http_method=[method], status_code=200, opt={"skip_session": True}, name=f"{dialect_name}:{path}"
    )(relay)


def _not_served(request: Incoming, status: int, message: str, kind: str = "invalid_request_error") -> Reply:
    request_id = request.request_id or new_request_id()
    error = {
        "error": {
            "message": f"{message} (request id: {request_id})",
            "type": kind,
            "param": None,
            "code": None,
        }
    }
    return Reply(status=status, headers={REQUEST_ID_HEADER: request_id}, body=msgspec.json.encode(error))


def _model_object(model: str, created: int) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": created, "owned_by": "newapi"}


async def _caller(request: Request[Any, Any, Any]):
    relay = request.app.state.host.relay
    raw = (
        request.headers.get("authorization")
        or request.headers.get("x-api-key")
        or request.headers.get("x-goog-api-key")
        or request.query_params.get("key")
        or ""
    )
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
    headers = {REQUEST_ID_HEADER: request_id}
    if request.headers.get("x-api-key") and request.headers.get("anthropic-version"):  # Anthropic SDKs
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
        data = [{"type": "model", "id": m, "display_name": m, "created_at": stamp} for m in models]
        body = {
            "data": data,
            "has_more": False,
            "first_id": models[0] if models else None,
            "last_id": models[-1] if models else None,
        }
        return Response(body, headers=headers)
    if request.headers.get("x-goog-api-key") or request.query_params.get("key"):  # Gemini SDKs
        methods = ["generateContent", "streamGenerateContent"]
        data = [{"name": f"models/{m}", "displayName": m, "supportedGenerationMethods": methods} for m in models]
        return Response({"models": data}, headers=headers)
    return Response({"object": "list", "data": [_model_object(m, created) for m in models]}, headers=headers)


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


def document_relay_routes(app: Any, registry: Registry) -> None:
    """Add the plain-ASGI relay endpoints to the OpenAPI schema (Litestar lists only HTTP handlers)."""
    from litestar._openapi.plugin import OpenAPIPlugin
    from litestar.openapi.spec import OpenAPIMediaType as MediaType
    from litestar.openapi.spec import OpenAPIResponse, Operation, PathItem, RequestBody, Schema

    openapi = app.plugins.get(OpenAPIPlugin).provide_openapi()  # built once here, then cached
    for contributions in registry.plugins():
        for dialect in contributions.dialects:
            for ingress in dialect.routes:
                if "{" in ingress.path:
                    continue  # framework-handled, already documented
                operation = Operation(
                    summary=dialect.title or dialect.name,
                    description=f"Relay endpoint of the {dialect.name} dialect (plugin {contributions.plugin}); "
                    "authenticate with an API key.",
                    operation_id=f"relay_{dialect.name.replace('.', '_')}",
                    tags=["relay"],
                    request_body=RequestBody(
                        content={"application/json": MediaType(schema=Schema(type="object"))}, required=True
                    ),
                    responses={
                        "200": OpenAPIResponse(
                            description="The upstream's answer, as JSON or as server-sent events",
                            content={
                                "application/json": MediaType(schema=Schema(type="object")),
                                "text/event-stream": MediaType(schema=Schema(type="string")),
                            },
                        )
                    },
                )
                item = openapi.paths.setdefault(ingress.path, PathItem())  # type: ignore[union-attr]
                setattr(item, ingress.method.lower(), operation)
