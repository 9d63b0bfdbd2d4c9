"""New API's response envelope and the error handlers that keep every failure in it.

Management routes answer ``{"success", "message", "data"}``. Validation failures are HTTP 200
with ``success: false`` (as New API does, and as its clients expect); authentication failures
are 401/403; unknown routes 404; a crash is a 500 with a request-safe message, never a traceback.
API-key routes answer OpenAI's error shape, or that of the dialect a route names in its
``opt["error_dialect"]`` (Anthropic's for ``/v1/messages/count_tokens``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException

from newapi_host.auth.users import AuthError
from newapi_host.store import StoreUnavailable

log = logging.getLogger(__name__)


def ok(data: Any = None, message: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"success": True, "message": message}
    if data is not None:
        body["data"] = data
    return body


def fail(message: str, data: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"success": False, "message": message}
    if data is not None:
        body["data"] = data
    return body


async def json_object(request: Request[Any, Any, Any]) -> dict[str, Any] | None:
    """The request body as a JSON object, or None when it is not one (bad JSON, a list, empty)."""
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _envelope(status: int, message: str) -> Response[Any]:
    return Response(fail(message), status_code=status)


def _openai_error(status: int, message: str, type_: str = "new_api_error") -> Response[Any]:
    return Response({"error": {"message": message, "type": type_, "param": None, "code": None}}, status_code=status)


def _dialect_error(request: Request[Any, Any, Any], status: int, message: str) -> Response[Any] | None:
    """The error in the format of the dialect a route names in ``opt["error_dialect"]``, if any."""
    handler = request.scope.get("route_handler")
    name = handler.opt.get("error_dialect") if handler is not None else None
    dialect = request.app.state.host.registry.dialect(name) if name else None
    if dialect is None:
        return None
    body = dialect.error_body(status, message, "invalid_request_error" if status < 500 else "new_api_error", None)
    return Response(body, status_code=status, media_type="application/json")


def _respond(request: Request[Any, Any, Any], status: int, message: str) -> Response[Any]:
    if request.url.path.startswith(("/v1", "/v1beta", "/dashboard")):
        return _dialect_error(request, status, message) or _openai_error(status, message)
    return _envelope(status, message)


def handle_auth_error(request: Request[Any, Any, Any], exc: AuthError) -> Response[Any]:
    return _envelope(exc.status, exc.message)


def handle_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    message = exc.detail
    if exc.status_code == 404 and message in ("", "Not Found"):
        message = f"Invalid URL ({request.method} {request.url.path})"
    extra = getattr(exc, "extra", None)
    if exc.status_code == 400 and isinstance(extra, list) and extra:
        message = (
            "; ".join(f"{e.get('key') or 'body'}: {e.get('message')}" for e in extra if isinstance(e, dict)) or message
        )
    return _respond(request, exc.status_code, message)


def handle_store_unavailable(request: Request[Any, Any, Any], exc: StoreUnavailable) -> Response[Any]:
    """Redis (the live balances) is unreachable: nothing was changed; say so, and to retry."""
    log.error("%s %s refused: %s", request.method, request.url.path, exc)
    return _respond(request, 503, "balances are temporarily unavailable; nothing was changed, please retry shortly")


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _respond(request, 500, "internal server error; see the server log")


EXCEPTION_HANDLERS = {
    AuthError: handle_auth_error,
    HTTPException: handle_http_exception,
    StoreUnavailable: handle_store_unavailable,
    Exception: handle_unexpected,
}
