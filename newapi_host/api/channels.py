"""Channel administration (admin): New API's ``/api/channel/*`` routes."""

from __future__ import annotations

import json
import time
from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from pydantic import BaseModel, Field, ValidationError, field_validator

from newapi_host.auth.guards import admin_auth
from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import CHANNEL_ENABLED, Channel
from newapi_host.host import host_of
from newapi_host.relay.pipeline import probe_channel
from newapi_host.sync import bump

from .common import validation_message as _errors
from .envelope import fail, json_object, ok


@get("/api/channel/test/{channel_id:int}", guards=[admin_auth])
async def channel_test(request: Request[Any, Any, Any], channel_id: FromPath[int]) -> dict[str, Any]:
    """New API's answer: ``{success, message, time}`` with the round trip in seconds."""
    host = host_of(request.app.state)
    model = request.query_params.get("model") or None
    ok, message, seconds = await probe_channel(host.relay, channel_id, model)
    return {"success": ok, "message": message, "time": round(seconds, 3)}


JSON_FIELDS = ("model_mapping", "status_code_mapping", "param_override", "header_override", "setting", "settings")


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


ROUTES = [add_channel, channel_test]
