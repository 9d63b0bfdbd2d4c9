"""Admin: installed plugins with their on/off switch, and each plugin's settings form."""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request, Response, get
from litestar.params import FromPath
from litestar.response import Redirect

from ..i18n import lang_of
from ..layout import admin_only, page, table, text


@get("/console/plugins", include_in_schema=False)
async def plugins_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := admin_only(request):
        return refused
    lang = lang_of(request)
    keys = ("plugin_name", "distribution", "version", "provides", "load_error", "status", "settings")
    body = table(lang, "plugins", keys)
    return page(request, "plugins", "plugins_title", body, active="/console/plugins", script="plugins.js")


@get("/console/plugins/{name:str}", include_in_schema=False)
async def plugin_settings_page(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[str] | Redirect:
    """A form built in the browser from the plugin's settings JSON schema (root may save)."""
    if refused := admin_only(request):
        return refused
    lang = lang_of(request)
    body = f"""<p><a href="/console/plugins">{text(lang, "back_to_plugins")}</a> · <code>{escape(name)}</code></p>
<form class="card" data-form="plugin-settings" data-plugin="{escape(name, quote=True)}" novalidate>
<div data-fields><p>{text(lang, "loading")}</p></div>
<button type="submit">{text(lang, "save")}</button>
</form>"""
    return page(request, "plugin-settings", "plugin_settings_title", body, active="/console/plugins", script="plugins.js")


ROUTES = [plugins_page, plugin_settings_page]
