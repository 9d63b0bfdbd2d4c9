"""Usage logs: filters, the total cost of what matches, and paging."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from ..i18n import lang_of
from ..layout import field, page, signed_in_only, table, text

COLUMNS = (
    "time",
    "log_type",
    "model_name",
    "token_name",
    "quota_usd",
    "prompt_tokens",
    "completion_tokens",
    "use_time",
    "is_stream",
)


@get("/console/logs", include_in_schema=False)
async def logs_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := signed_in_only(request):
        return refused
    lang = lang_of(request)
    body = f"""<form class="card inline" data-form="log-filter">
{field(lang, "model_name", "model_name", extra='maxlength="255"')}
{field(lang, "token_name", "token_name", extra='maxlength="255"')}
{field(lang, "start", "start_time", "datetime-local")}
{field(lang, "end", "end_time", "datetime-local")}
<button type="submit">{text(lang, "filter")}</button>
</form>
<div class="card stat"><span>{text(lang, "total_quota")}</span><strong data-stat="total_quota">–</strong></div>
{table(lang, "logs", COLUMNS)}
<p class="pager">
<button type="button" class="secondary" data-page="prev" disabled>{text(lang, "prev_page")}</button>
<span data-page-info></span>
<button type="button" class="secondary" data-page="next" disabled>{text(lang, "next_page")}</button></p>"""
    return page(request, "logs", "logs_title", body, active="/console/logs", script="logs.js")


ROUTES = [logs_page]
