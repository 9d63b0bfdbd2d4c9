"""Admin: redemption codes: list, batch create, export."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from ..i18n import add_strings, lang_of
from ..layout import admin_only, page, text

STRINGS = {
    "en": {"redemptions_title": "Redemption codes"},
    "zh": {"redemptions_title": "兑换码管理"},
}
add_strings(STRINGS)


@get("/console/redemptions", include_in_schema=False)
async def redemptions_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := admin_only(request):
        return refused
    lang = lang_of(request)
    body = f'<p class="card">{text(lang, "loading")}</p>'
    return page(request, "redemptions", "redemptions_title", body, active="/console/redemptions", script="redemptions.js")


ROUTES = [redemptions_page]
