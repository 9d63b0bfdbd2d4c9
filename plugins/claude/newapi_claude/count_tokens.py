"""``POST /v1/messages/count_tokens``: the gateway's own estimate, as Claude Code asks for it.

Nothing is sent upstream and nothing is charged; the key must still be valid.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post

from newapi_host import sdk

from .dialect import check_request, estimate_prompt


@post("/v1/messages/count_tokens", status_code=200, opt={"skip_session": True, "error_dialect": "claude.messages"})
async def count_tokens(request: Request[Any, Any, Any]) -> Response[Any]:
    try:
        await sdk.authenticate(request, "claude.messages")
        body = await request.body()
        try:
            model = (check_request(body).model or "").strip()
        except sdk.InvalidRequest as exc:
            raise sdk.ClientError(400, exc.message) from None
    except sdk.ClientError as error:
        return sdk.error_response(request, "claude.messages", error)
    return Response({"input_tokens": estimate_prompt(body, model)}, status_code=200)
