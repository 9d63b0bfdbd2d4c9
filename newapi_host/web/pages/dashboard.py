"""The signed-in user's dashboard: balance, used quota, request count."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from ..i18n import lang_of
from ..layout import page, signed_in_only, text


@get("/console", include_in_schema=False)
async def dashboard_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := signed_in_only(request):
        return refused
    lang = lang_of(request)
    cards = "".join(
        f'<div class="card stat"><span>{text(lang, key)}</span><strong data-stat="{key}">–</strong></div>'
        for key in ("balance", "used_quota", "request_count")
    )
    body = f'<div class="stats">{cards}</div>'
    return page(request, "dashboard", "dashboard_title", body, active="/console", script="dashboard.js")


ROUTES = [dashboard_page]
