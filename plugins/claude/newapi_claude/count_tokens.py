"""``POST /v1/messages/count_tokens``: the gateway's own estimate, as Claude Code asks for it.

Nothing is sent upstream and nothing is charged; the key must still be valid.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post

from newapi_host.plugins.contracts import InvalidRequest

from .dialect import check_request, error_body, estimate_prompt


def _error(status: int, message: str) -> Response[bytes]:
    return Response(error_body(status, message, "", None), status_code=status, media_type="application/json")


@post("/v1/messages/count_tokens", status_code=200, opt={"skip_session": True, "error_dialect": "claude.messages"})
async def count_tokens(request: Request[Any, Any, Any]) -> Response[Any]:
    from newapi_host.relay.errors import RelayError
    from newapi_host.relay.keys import authenticate

    relay = getattr(request.app.state.host, "relay", None)
    if relay is None:
        return _error(503, "the relay is not ready")
    raw = request.headers.get("x-api-key") or request.headers.get("authorization") or ""
    client_ip = request.client.host if request.client else ""
    try:
        await authenticate(relay.keys, raw, client_ip)
    except RelayError as exc:
        return _error(exc.status, exc.message)
    body = await request.body()
    try:
        model = (check_request(body).model or "").strip()
    except InvalidRequest as exc:
        return _error(400, exc.message)
    return Response({"input_tokens": estimate_prompt(body, model)}, status_code=200)
