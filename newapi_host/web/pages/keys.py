"""The signed-in user's API keys: list, create, enable/disable, delete, copy."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from ..i18n import lang_of
from ..layout import field, page, signed_in_only, table, text


@get("/console/keys", include_in_schema=False)
async def keys_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := signed_in_only(request):
        return refused
    lang = lang_of(request)
    body = f"""<form class="card inline" data-form="token">
{field(lang, "name", "key_name", extra='required maxlength="50"')}
<label class="check"><input name="unlimited_quota" type="checkbox" checked>{text(lang, "unlimited_quota")}</label>
{field(lang, "remain_quota", "remain_quota_usd", "number", 'min="0" step="0.01" value="0"')}
<button type="submit">{text(lang, "create_key")}</button>
</form>
<div class="card newkey" hidden><p>{text(lang, "new_key_once")}</p>
<code data-newkey></code> <button type="button" data-copy>{text(lang, "copy")}</button></div>
{table(lang, "tokens", ("key_name", "key", "status", "remain_quota", "actions"))}"""
    return page(request, "keys", "keys_title", body, active="/console/keys", script="keys.js")


ROUTES = [keys_page]
