"""API keys (tokens) of the signed-in user: New API's ``/api/token/*`` routes."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, post
from pydantic import BaseModel, Field

from newapi_host.auth.guards import user_auth
from newapi_host.auth.users import random_key
from newapi_host.db.tables import TOKEN_ENABLED, Token

from .common import parse_body
from .envelope import fail, ok


class TokenIn(BaseModel):
    name: str = Field("", max_length=50)
    remain_quota: int = Field(0, ge=0, le=2**53)
    expired_time: int = -1
    unlimited_quota: bool = False
    model_limits_enabled: bool = False
    model_limits: str = Field("", max_length=100_000)
    allow_ips: str = Field("", max_length=10_000)
    group: str = Field("", max_length=64)


@post("/api/token/", guards=[user_auth], status_code=200)
async def add_token(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Create an API key for the caller; the answer carries the key (``sk-`` + 48 characters)."""
    data = await parse_body(TokenIn, request)
    if isinstance(data, str):
        return fail(data)
    if data.expired_time != -1 and data.expired_time < time.time():
        return fail("expired_time must be -1 (never) or in the future")
    key = random_key(48)
    token = Token(
        **data.model_dump(),
        user_id=request.state.caller.id,
        key=key,
        status=TOKEN_ENABLED,
        created_time=int(time.time()),
        accessed_time=int(time.time()),
    )
    await token.save()
    return ok({"id": token.id, "name": token.name, "key": f"sk-{key}"})


ROUTES = [add_token]
