"""Playground: chat with a chosen model through one of the user's own keys, streamed."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from ..i18n import add_strings, lang_of
from ..layout import signed_in_only, page, text

STRINGS = {
    "en": {"playground_title": "Playground"},
    "zh": {"playground_title": "操练场"},
}
add_strings(STRINGS)


@get("/console/playground", include_in_schema=False)
async def playground_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := signed_in_only(request):
        return refused
    lang = lang_of(request)
    body = f'<p class="card">{text(lang, "loading")}</p>'
    return page(request, "playground", "playground_title", body, active="/console/playground", script="playground.js")


ROUTES = [playground_page]
