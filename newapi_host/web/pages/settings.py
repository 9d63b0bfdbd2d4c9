"""Admin: settings: operations, pricing ratio tables, system name, notice and logo."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from ..i18n import add_strings, lang_of
from ..layout import admin_only, page, text

STRINGS = {
    "en": {"settings_title": "Settings"},
    "zh": {"settings_title": "系统设置"},
}
add_strings(STRINGS)


@get("/console/settings", include_in_schema=False)
async def settings_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := admin_only(request):
        return refused
    lang = lang_of(request)
    body = f'<p class="card">{text(lang, "loading")}</p>'
    return page(request, "settings", "settings_title", body, active="/console/settings", script="settings.js")


ROUTES = [settings_page]
