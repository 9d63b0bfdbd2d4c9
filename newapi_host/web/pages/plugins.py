"""Admin: installed plugins with their on/off switch, and each plugin's settings form."""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request, Response, get
from litestar.params import FromPath
from litestar.response import Redirect

from ..i18n import add_strings, lang_of
from ..layout import admin_only, page, table, text

STRINGS = {
    "en": {
        "plugins_kind_channel_types": "Channel types",
        "plugins_kind_dialects": "Formats",
        "plugins_kind_converters": "Converters",
        "plugins_kind_routes": "Routes",
        "plugins_kind_priced_models": "Priced models",
        "plugins_kind_payment_methods": "Payment methods",
        "plugins_kind_login_methods": "Sign-in methods",
        "plugins_kind_jobs": "Background jobs",
        "plugins_kind_tables": "Database tables",
        "plugins_more": "+{n} more",
        "plugins_root_only": "Only the root user can switch plugins and change their settings.",
    },
    "zh": {
        "plugins_kind_channel_types": "渠道类型",
        "plugins_kind_dialects": "接口格式",
        "plugins_kind_converters": "格式转换",
        "plugins_kind_routes": "路由",
        "plugins_kind_priced_models": "定价模型",
        "plugins_kind_payment_methods": "支付方式",
        "plugins_kind_login_methods": "登录方式",
        "plugins_kind_jobs": "后台任务",
        "plugins_kind_tables": "数据表",
        "plugins_more": "另有 {n} 项",
        "plugins_root_only": "只有 root 用户可以开关插件或修改插件设置。",
    },
}
add_strings(STRINGS)


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
    return page(
        request, "plugin-settings", "plugin_settings_title", body, active="/console/plugins", script="plugins.js"
    )


ROUTES = [plugins_page, plugin_settings_page]
