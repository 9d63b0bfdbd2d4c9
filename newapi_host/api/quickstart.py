"""The first management routes a newcomer needs: create a channel, create an API key.

They follow New API's request shapes (``POST /api/channel/``, ``POST /api/token/``) so its
clients work; the rest of the channel and token API builds on them.
"""

from __future__ import annotations

import json
import time
from typing import Any

from litestar import Request, post
from pydantic import BaseModel, Field, ValidationError, field_validator

from newapi_host.auth.guards import admin_auth, user_auth
from newapi_host.auth.users import random_key
from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import CHANNEL_ENABLED, TOKEN_ENABLED, Channel, Token
from newapi_host.host import host_of
from newapi_host.sync import bump

from .envelope import fail, json_object, ok

JSON_FIELDS = ("model_mapping", "status_code_mapping", "param_override", "header_override", "setting", "settings")


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())


class ChannelIn(BaseModel):
    type: int = 1
    key: str = Field(min_length=1, max_length=100_000)
    name: str = Field("", max_length=255)
    base_url: str = Field("", max_length=1024)
    models: str = Field(min_length=1, max_length=100_000)
    group: str = Field("default", min_length=1, max_length=255)
    priority: int = Field(0, ge=-(2**31), le=2**31 - 1)
    weight: int = Field(0, ge=0, le=10_000)
    other: str = Field("", max_length=10_000)
    test_model: str | None = Field(None, max_length=255)
    tag: str | None = Field(None, max_length=255)
    auto_ban: int = Field(1, ge=0, le=1)
    openai_organization: str | None = Field(None, max_length=255)
    model_mapping: str | None = None
    status_code_mapping: str | None = None
    param_override: str | None = None
    header_override: str | None = None
    setting: str | None = None
    settings: str | None = None

    @field_validator(*JSON_FIELDS, mode="before")
    @classmethod
    def json_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return json.dumps(value)
        if isinstance(value, str) and value.strip():
            try:
                parsed = json.loads(value)
            except ValueError:
                raise ValueError("must be a JSON object") from None
            if not isinstance(parsed, dict):
                raise ValueError("must be a JSON object")
        return value


@post("/api/channel/", guards=[admin_auth], status_code=200)
async def add_channel(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Body: a channel object, or New API's ``{"mode": "single", "channel": {...}}``."""
    host = host_of(request.app.state)
    body = await json_object(request)
    if body is None:
        return fail("request body must be a JSON object")
    mode = body.get("mode", "single")
    raw = body.get("channel", body)
    if mode != "single" or not isinstance(raw, dict):
        return fail("only mode 'single' is supported so far")
    try:
        data = ChannelIn.model_validate(raw)
    except ValidationError as exc:
        return fail(_errors(exc))
    channel_type = host.registry.channel_type(data.type)
    if channel_type is None:
        return fail(f"channel type {data.type} is not available (no enabled plugin provides it)")
    if channel_type.settings_model is not None and data.settings:
        try:
            channel_type.settings_model.model_validate_json(data.settings)
        except ValidationError as exc:
            return fail(f"settings: {_errors(exc)}")
    models = ",".join(m.strip() for m in data.models.split(",") if m.strip())
    channel = Channel(
        **{
            **data.model_dump(exclude_none=True),
            "models": models,
            "status": CHANNEL_ENABLED,
            "created_time": int(time.time()),
        }
    )
    async with write_transaction():
        await channel.save()
        await bump("channels")
    await host.watcher.changed("channels")
    return ok({"id": channel.id})


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
    body = await json_object(request)
    if body is None:
        return fail("request body must be a JSON object")
    try:
        data = TokenIn.model_validate(body)
    except ValidationError as exc:
        return fail(_errors(exc))
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


ROUTES = [add_channel, add_token]
