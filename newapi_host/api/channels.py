"""Channel routes that need the relay: testing a channel (which also re-enables it)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.params import FromPath

from newapi_host.auth.guards import admin_auth
from newapi_host.host import host_of
from newapi_host.relay.pipeline import probe_channel


@get("/api/channel/test/{channel_id:int}", guards=[admin_auth])
async def channel_test(request: Request[Any, Any, Any], channel_id: FromPath[int]) -> dict[str, Any]:
    """New API's answer: ``{success, message, time}`` with the round trip in seconds."""
    host = host_of(request.app.state)
    model = request.query_params.get("model") or None
    ok, message, seconds = await probe_channel(host.relay, channel_id, model)
    return {"success": ok, "message": message, "time": round(seconds, 3)}


ROUTES = [channel_test]
