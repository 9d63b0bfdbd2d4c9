"""Admin: the top-up order desk: every order with filters (trade number, user, status, method,
time), paged; an unpaid order can be completed by hand once the admin saw the money arrive; below,
the payment notices the gateway refused (forged, wrong amount, unknown order, unpaid status).

The page only renders the frame; ``topups.js`` fills it from ``GET /api/user/topup`` and
``GET /api/user/topup/refused`` and posts ``/api/user/topup/complete``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from ..i18n import add_strings, lang_of
from ..layout import admin_only, field, page, pager, table, text

STRINGS = {
    "en": {
        "topups_title": "Top-up orders",
        "topups_trade_no": "Trade number",
        "topups_user": "User ID",
        "topups_method": "Method",
        "topups_amount": "Amount",
        "topups_money": "Paid",
        "topups_created": "Created",
        "topups_completed": "Completed",
        "topups_from": "Created from",
        "topups_to": "Created until",
        "topups_all_statuses": "All statuses",
        "topups_search": "Search",
        "topups_complete": "Complete",
        "topups_confirm_complete": "Credit order {trade_no} to user #{user} now? Do this only if the payment arrived.",
        "topups_completed_ok": "Order {trade_no} completed and credited.",
        "topups_none": "No top-up orders.",
        "topups_refused_title": "Refused payment notices",
        "topups_refused_help": "Notices that credited nothing: a bad signature, a wrong amount, an unknown order, "
        "or a status other than paid. The trade number is the one the caller sent.",
        "topups_reason": "Reason",
        "topups_source_ip": "Source IP",
        "topups_answered": "Answered",
        "topups_refused_none": "No refused notices.",
    },
    "zh": {
        "topups_title": "充值订单",
        "topups_trade_no": "订单号",
        "topups_user": "用户 ID",
        "topups_method": "支付方式",
        "topups_amount": "充值数量",
        "topups_money": "支付金额",
        "topups_created": "创建时间",
        "topups_completed": "完成时间",
        "topups_from": "创建时间起",
        "topups_to": "创建时间止",
        "topups_all_statuses": "全部状态",
        "topups_search": "查询",
        "topups_complete": "补单",
        "topups_confirm_complete": "确定为用户 #{user} 补单 {trade_no}？请确认款项已到账。",
        "topups_completed_ok": "订单 {trade_no} 已补单入账。",
        "topups_none": "暂无充值订单。",
        "topups_refused_title": "被拒绝的支付回调",
        "topups_refused_help": "未入账的回调：签名错误、金额不符、订单不存在或状态不是已支付。订单号为调用方发送的值。",
        "topups_reason": "原因",
        "topups_source_ip": "来源 IP",
        "topups_answered": "响应",
        "topups_refused_none": "暂无被拒绝的回调。",
    },
}
add_strings(STRINGS)

COLUMNS = (
    "topups_trade_no",
    "topups_user",
    "topups_method",
    "topups_amount",
    "topups_money",
    "status",
    "topups_created",
    "topups_completed",
    "actions",
)
REFUSED_COLUMNS = ("time", "topups_method", "topups_trade_no", "topups_reason", "topups_source_ip", "topups_answered")
STATUS_FILTER = (
    ("", "topups_all_statuses"),
    ("pending", "wallet_status_pending"),
    ("success", "wallet_status_success"),
    ("failed", "wallet_status_failed"),
    ("expired", "wallet_status_expired"),
)


@get("/console/topups", include_in_schema=False)
async def topups_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := admin_only(request):
        return refused
    lang = lang_of(request)
    statuses = "".join(f'<option value="{v}">{text(lang, k)}</option>' for v, k in STATUS_FILTER)
    body = f"""<form class="card inline" data-form="topup-search">
{field(lang, "trade_no", "topups_trade_no", "search", 'maxlength="255"')}
{field(lang, "user_id", "topups_user", "number", 'min="1" step="1"')}
<label>{text(lang, "status")}<select name="status">{statuses}</select></label>
{field(lang, "payment_method", "topups_method", "text", 'maxlength="50"')}
{field(lang, "start", "topups_from", "datetime-local")}
{field(lang, "end", "topups_to", "datetime-local")}
<button type="submit">{text(lang, "topups_search")}</button>
</form>
{table(lang, "topups", COLUMNS)}
{pager(lang, "topups", total=True)}
<h2>{text(lang, "topups_refused_title")}</h2>
<p class="help">{text(lang, "topups_refused_help")}</p>
{table(lang, "refused", REFUSED_COLUMNS)}
{pager(lang, "refused", total=True)}"""
    return page(request, "topups", "topups_title", body, active="/console/topups", script="topups.js")


ROUTES = [topups_page]
