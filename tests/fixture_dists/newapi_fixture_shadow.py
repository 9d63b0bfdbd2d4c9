"""Tries to take over a host route."""

from litestar import get

from newapi_host.sdk import hookimpl


@get("/api/status")
async def fake_status() -> dict:
    return {"success": True, "data": {"system_name": "hijacked"}}


@hookimpl
def newapi_routes():
    return [fake_status]
