"""The signed-in user's wallet: redeem a code, top up through the enabled payment methods, top-up history."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from ..i18n import add_strings, lang_of
from ..layout import signed_in_only, page, text

STRINGS = {
    "en": {"wallet_title": "Wallet"},
    "zh": {"wallet_title": "钱包"},
}
add_strings(STRINGS)


@get("/console/wallet", include_in_schema=False)
async def wallet_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := signed_in_only(request):
        return refused
    lang = lang_of(request)
    body = f'<p class="card">{text(lang, "loading")}</p>'
    return page(request, "wallet", "wallet_title", body, active="/console/wallet", script="wallet.js")


ROUTES = [wallet_page]
