"""Usage logs: filters (time, model, key, type; admins also user and channel), the total cost of
what matches, and paging. Admins read everyone's logs (``/api/log/``), users their own."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from ..i18n import add_strings, lang_of
from ..layout import field, is_admin, page, pager, session_of, signed_in_only, table, text

STRINGS = {
    "en": {"logs_all_types": "All types", "logs_user": "User", "logs_channel": "Channel ID", "logs_details": "Details"},
    "zh": {"logs_all_types": "全部类型", "logs_user": "用户", "logs_channel": "渠道 ID", "logs_details": "详情"},
}
add_strings(STRINGS)

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
    "logs_details",
)
ADMIN_COLUMNS = ("logs_user", "logs_channel")
LOG_TYPES = (1, 2, 3, 4, 5, 6, 7)


@get("/console/logs", include_in_schema=False)
async def logs_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := signed_in_only(request):
        return refused
    lang = lang_of(request)
    admin = is_admin(session_of(request))
    types = f'<option value="">{text(lang, "logs_all_types")}</option>' + "".join(
        f'<option value="{n}">{text(lang, f"log_type_{n}")}</option>' for n in LOG_TYPES
    )
    admin_fields = (
        field(lang, "username", "logs_user", extra='maxlength="255"')
        + field(lang, "channel", "logs_channel", "number", 'min="1" step="1"')
        if admin
        else ""
    )
    columns = COLUMNS[:1] + ADMIN_COLUMNS + COLUMNS[1:] if admin else COLUMNS
    body = f"""<form class="card inline" data-form="log-filter" data-scope="{"all" if admin else "self"}">
{field(lang, "model_name", "model_name", extra='maxlength="255"')}
{field(lang, "token_name", "token_name", extra='maxlength="255"')}
<label>{text(lang, "log_type")}<select name="type">{types}</select></label>
{admin_fields}
{field(lang, "start", "start_time", "datetime-local")}
{field(lang, "end", "end_time", "datetime-local")}
<button type="submit">{text(lang, "filter")}</button>
</form>
<div class="card stat"><span>{text(lang, "total_quota")}</span><strong data-stat="total_quota">–</strong></div>
<div class="table-scroll">{table(lang, "logs", columns)}</div>
{pager(lang, "logs")}"""
    return page(request, "logs", "logs_title", body, active="/console/logs", script="logs.js")


ROUTES = [logs_page]
