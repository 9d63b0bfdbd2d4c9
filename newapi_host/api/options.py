"""Runtime options: New API's root-only ``GET``/``PUT /api/option/`` and the public ``GET /api/notice``.

``GET`` lists every option (defaults merged with stored values) as ``[{"key", "value"}]``, minus
secrets. ``PUT`` writes one ``{"key", "value"}``; the value may be a string, number or boolean
and is stored in New API's string form. Values are checked first (price tables, status-code
ranges, booleans, numeric ranges, 1 MB cap; see :func:`newapi_host.options.validate_option`)
and a bad one answers ``success: false`` with nothing stored. A saved change reaches this
worker's caches (options, price book) before the answer, other workers within the sync interval.

``GET /api/notice`` answers the ``Notice`` option to anyone, as New API does (``data`` is the
text, ``""`` when none is set); the console's dashboard shows it to signed-in users.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, put

from newapi_host.auth.guards import root_auth
from newapi_host.host import host_of
from newapi_host.options import OptionError, check_prerequisite, validate_option

from .common import manage_log
from .envelope import fail, json_object, ok


@get("/api/option/", guards=[root_auth])
async def get_options(request: Request[Any, Any, Any]) -> dict[str, Any]:
    options = host_of(request.app.state).options
    return ok([{"key": key, "value": value} for key, value in options.public().items()])


@put("/api/option/", guards=[root_auth], status_code=200)
async def update_option(request: Request[Any, Any, Any]) -> dict[str, Any]:
    host = host_of(request.app.state)
    body = await json_object(request)
    if body is None:
        return fail("request body must be a JSON object with key and value")
    if "key" not in body or "value" not in body:
        return fail("key and value are required")
    try:
        key, value = validate_option(body["key"], body["value"])
        check_prerequisite(host.options, key, value)
    except OptionError as exc:
        return fail(str(exc))
    await host.options.set_many({key: value})
    await host.watcher.changed("options")
    # Only the key is recorded: values may be credentials.
    caller = request.state.caller
    await manage_log(caller, caller.id, f"updated option {key}")
    return ok()


@get("/api/notice", sync_to_thread=False)
def get_notice(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return ok(host_of(request.app.state).options.get("Notice"))


ROUTES = [get_options, update_option, get_notice]
