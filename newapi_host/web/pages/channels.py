"""Admin: channels (upstream accounts): table, create/edit form from the type's settings schema, tests."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from ..i18n import add_strings, lang_of
from ..layout import admin_only, page, text

STRINGS = {
    "en": {"channels_title": "Channels"},
    "zh": {"channels_title": "渠道管理"},
}
add_strings(STRINGS)


@get("/console/channels", include_in_schema=False)
async def channels_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := admin_only(request):
        return refused
    lang = lang_of(request)
    body = f'<p class="card">{text(lang, "loading")}</p>'
    return page(request, "channels", "channels_title", body, active="/console/channels", script="channels.js")


ROUTES = [channels_page]
