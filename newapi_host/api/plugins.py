"""Admin API for plugins: list, switch on and off, read and change settings.

Listing needs an admin; changing anything needs root, because plugin settings hold payment
and login secrets.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, put
from litestar.params import FromPath

from newapi_host.auth.guards import admin_auth, root_auth
from newapi_host.host import Host, host_of
from newapi_host.plugins.manager import PluginInfo
from newapi_host.plugins.state import SettingsInvalid, public_settings

from .envelope import fail, json_object, ok


def describe(host: Host, info: PluginInfo) -> dict[str, Any]:
    c = host.registry.contributions(info.name)
    model = c.settings_model if c else None
    return {
        "name": info.name,
        "distribution": info.distribution,
        "version": info.version,
        "module": info.module,
        "groups": info.groups,
        "builtin": info.builtin,
        "loaded": c is not None,
        "blocked": info.blocked,
        "load_error": info.load_error,
        "enabled": host.registry.is_enabled(info.name),
        "provides": c.provides() if c else {},
        "settings_schema": model.model_json_schema() if model else None,
        "settings_error": host.states.settings_errors.get(info.name),
    }


def _find(host: Host, name: str) -> tuple[PluginInfo | None, str]:
    info = host.plugins.infos.get(name)
    if info is None:
        return None, f"no plugin named '{name}' is installed"
    if info.blocked:
        return None, f"plugin '{name}' is blocked by NEWAPI_DISABLED_PLUGINS and was not loaded"
    if host.registry.contributions(name) is None:
        return None, f"plugin '{name}' failed to load: {info.load_error}"
    return info, ""


@get("/api/plugins", guards=[admin_auth])
async def list_plugins(request: Request[Any, Any, Any]) -> dict[str, Any]:
    host = host_of(request.app.state)
    return ok([describe(host, info) for info in host.plugins.plugins()])


@put("/api/plugins/{name:str}", guards=[root_auth])
async def toggle_plugin(request: Request[Any, Any, Any], name: FromPath[str]) -> dict[str, Any]:
    host = host_of(request.app.state)
    info, error = _find(host, name)
    if info is None:
        return fail(error)
    body = await json_object(request)
    if body is None or not isinstance(body.get("enabled"), bool):
        return fail('request body must be JSON like {"enabled": true}')
    await host.states.set_enabled(name, body["enabled"])
    await host.watcher.changed("plugins")
    return ok(describe(host, info))


@get("/api/plugins/{name:str}/settings", guards=[admin_auth])
async def get_settings(request: Request[Any, Any, Any], name: FromPath[str]) -> dict[str, Any]:
    host = host_of(request.app.state)
    info, error = _find(host, name)
    if info is None:
        return fail(error)
    settings = host.states.settings(name)
    if settings is None:
        return fail(f"plugin '{name}' has no settings")
    return ok({"settings": public_settings(settings), "schema": type(settings).model_json_schema()})


@put("/api/plugins/{name:str}/settings", guards=[root_auth])
async def put_settings(request: Request[Any, Any, Any], name: FromPath[str]) -> dict[str, Any]:
    host = host_of(request.app.state)
    info, error = _find(host, name)
    if info is None:
        return fail(error)
    body = await json_object(request)
    if body is None:
        return fail("request body must be a JSON object of settings")
    try:
        settings = await host.states.set_settings(name, body)
    except SettingsInvalid as exc:
        return fail(f"invalid settings: {exc}", {"errors": exc.errors})
    await host.watcher.changed("plugins")  # option-backed fields were written to the options too
    return ok({"settings": public_settings(settings)})


ROUTES = [list_plugins, toggle_plugin, get_settings, put_settings]
