"""Whole-API checks: every guarded route refuses callers below its role; the schema lists every route.

The routes are enumerated from the running application, so a route added later is covered
without touching this file.
"""

from __future__ import annotations

import re

from litestar.routes import HTTPRoute

from newapi_host.auth.guards import admin_auth, root_auth, user_auth
from newapi_host.auth.users import create_user

from .conftest import as_root, login, running

ROLE_OF = {user_auth: 1, admin_auth: 10, root_auth: 100}


def guarded_routes(app) -> list[tuple[str, str, int]]:
    """(method, concrete path, minimum role) for every guarded HTTP handler."""
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            guards = [g for g in handler.guards or () if g in ROLE_OF]
            if not guards:
                continue
            path = re.sub(r"\{[^}:]+:int\}", "1", route.path)
            path = re.sub(r"\{[^}]+\}", "x", path)
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                found.append((method, path, max(ROLE_OF[g] for g in guards)))
    return found


async def test_every_guarded_route_refuses_lower_roles(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        await create_user("commoner", "commoner-1")
        await create_user("adminna", "adminna-1", role=10)
        routes = guarded_routes(client.app)
        assert len(routes) >= 80, routes  # every guarded management route, found from the app
        await client.get("/api/user/logout")
        saved = client.headers.pop("New-Api-User", None)
        for method, path, _ in routes:
            r = await client.request(method, path, json={})
            assert r.status_code == 401, (method, path, r.status_code, r.text)
            assert r.json()["success"] is False
        if saved:
            client.headers["New-Api-User"] = saved
        for username, password, role in (("commoner", "commoner-1", 1), ("adminna", "adminna-1", 10)):
            await login(client, username, password)
            for method, path, needed in routes:
                if role >= needed:
                    continue
                r = await client.request(method, path, json={})
                assert r.status_code == 403, (username, method, path, r.status_code, r.text)
            await client.get("/api/user/logout")


async def test_schema_lists_every_route(sqlite_config):
    async with running(sqlite_config) as client:
        paths = (await client.get("/schema/openapi.json")).json()["paths"]
        missing = []
        for route in client.app.routes:
            path = re.sub(r"\{([^}:]+)(:[^}]+)?\}", r"{\1}", route.path)
            if path.startswith("/schema"):
                continue
            handlers = getattr(route, "route_handlers", None) or [getattr(route, "route_handler", None)]
            if all(h is not None and getattr(h, "include_in_schema", True) is False for h in handlers):
                continue  # console pages: HTML for people, deliberately not part of the API schema
            if path.rstrip("/") not in {p.rstrip("/") for p in paths}:
                missing.append(path)
        assert not missing, missing


BAD_BODIES = [
    b"",
    b"{not json",
    b"[]",
    b'"text"',
    b"null",
    b'{"id": "abc", "quota": -5, "name": 12, "enabled": "maybe", "key": [], "models": {}}',
    b'{"id": 99999999999999999999, "value": {"nested": [1, 2, {"deep": null}]}}',
    ('{"name": "' + "x" * 20000 + '", "key": "' + "k" * 20000 + '"}').encode(),
]


async def test_no_write_route_answers_bad_input_with_a_server_error(sqlite_config):
    """Root sends garbage to every guarded write route: clear 4xx or success:false, never a 500."""
    async with running(sqlite_config) as client:
        await as_root(client)
        writes = [(m, p) for m, p, _ in guarded_routes(client.app) if m in {"POST", "PUT", "DELETE"}]
        writes = [(m, p) for m, p in writes if not p.startswith("/api/user/logout")]
        assert len(writes) >= 30
        for method, path in writes:
            for body in BAD_BODIES:
                r = await client.request(method, path, content=body, headers={"content-type": "application/json"})
                assert r.status_code < 500, (method, path, body[:60], r.status_code, r.text[:300])
                payload = r.json()
                if r.status_code == 200 and payload.get("success"):
                    continue  # a few routes legitimately accept an empty body (e.g. delete-all-disabled)
                assert payload["success"] is False and payload["message"], (method, path, body[:60], payload)
