"""Admin: users: list, search, edit, quota adjustment, enable/disable, promote."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from ..i18n import add_strings, lang_of
from ..layout import admin_only, page, text

STRINGS = {
    "en": {"users_title": "Users"},
    "zh": {"users_title": "用户管理"},
}
add_strings(STRINGS)


@get("/console/users", include_in_schema=False)
async def users_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := admin_only(request):
        return refused
    lang = lang_of(request)
    body = f'<p class="card">{text(lang, "loading")}</p>'
    return page(request, "users", "users_title", body, active="/console/users", script="users.js")


ROUTES = [users_page]
