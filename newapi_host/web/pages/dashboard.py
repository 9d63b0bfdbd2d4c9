"""The signed-in user's dashboard: balance, used quota, request count, the system notice, and the
consumption by model and by hour over a chosen range, drawn from the hourly ``quota_data`` sums
(``GET /api/data/self``), never by scanning the logs."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from ..i18n import add_strings, lang_of
from ..layout import field, page, signed_in_only, text

STRINGS = {
    "en": {
        "dash_notice": "Notice",
        "dash_range": "Usage over a range",
        "dash_last_24h": "Last 24 hours",
        "dash_last_7d": "Last 7 days",
        "dash_last_30d": "Last 30 days",
        "dash_granularity": "Group by",
        "dash_hour": "Hour",
        "dash_day": "Day",
        "dash_range_quota": "Cost in range",
        "dash_range_count": "Requests in range",
        "dash_range_tokens": "Tokens in range",
        "dash_by_time": "Consumption over time (USD)",
        "dash_by_model": "Consumption by model",
        "dash_tokens": "Tokens",
        "dash_share": "Share",
        "dash_other_models": "Other models",
        "dash_no_usage": "No usage in this range.",
        "dash_range_too_long": "The range can be at most 30 days.",
        "dash_range_invalid": "The end must be after the start.",
        "dash_chart_label": "Stacked bars of the cost per model for each period",
    },
    "zh": {
        "dash_notice": "系统公告",
        "dash_range": "时间范围统计",
        "dash_last_24h": "最近 24 小时",
        "dash_last_7d": "最近 7 天",
        "dash_last_30d": "最近 30 天",
        "dash_granularity": "时间粒度",
        "dash_hour": "小时",
        "dash_day": "天",
        "dash_range_quota": "区间消耗",
        "dash_range_count": "区间请求次数",
        "dash_range_tokens": "区间 Tokens",
        "dash_by_time": "消耗分布（美元）",
        "dash_by_model": "模型消耗统计",
        "dash_tokens": "Tokens",
        "dash_share": "占比",
        "dash_other_models": "其他模型",
        "dash_no_usage": "该时间范围内没有使用记录。",
        "dash_range_too_long": "时间范围最长为 30 天。",
        "dash_range_invalid": "结束时间必须晚于开始时间。",
        "dash_chart_label": "按时间段堆叠的各模型消耗柱状图",
    },
}
add_strings(STRINGS)

MODEL_COLUMNS = ("model_name", "request_count", "dash_tokens", "quota_usd", "dash_share")


def _stats(lang: str, keys: tuple[str, ...], labels: tuple[str, ...]) -> str:
    cards = "".join(
        f'<div class="card stat"><span>{text(lang, label)}</span><strong data-stat="{key}">–</strong></div>'
        for key, label in zip(keys, labels, strict=True)
    )
    return f'<div class="stats">{cards}</div>'


@get("/console", include_in_schema=False)
async def dashboard_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := signed_in_only(request):
        return refused
    lang = lang_of(request)
    account = ("balance", "used_quota", "request_count")
    ranged = ("range_quota", "range_count", "range_tokens")
    quick = "".join(
        f'<button type="button" class="secondary" data-range="{span}">{text(lang, "dash_last_" + span)}</button>'
        for span in ("24h", "7d", "30d")
    )
    heads = "".join(f"<th>{text(lang, k)}</th>" for k in MODEL_COLUMNS)
    body = f"""<div class="card notice" data-notice hidden><strong>{text(lang, "dash_notice")}</strong>
<p data-notice-text></p></div>
{_stats(lang, account, account)}
<h2>{text(lang, "dash_range")}</h2>
<form class="card inline" data-form="dashboard-range">
{field(lang, "start", "start_time", "datetime-local", "required")}
{field(lang, "end", "end_time", "datetime-local", "required")}
<label>{text(lang, "dash_granularity")}<select name="granularity">
<option value="hour">{text(lang, "dash_hour")}</option><option value="day">{text(lang, "dash_day")}</option>
</select></label>
<button type="submit">{text(lang, "filter")}</button>
<div class="quick">{quick}</div>
</form>
{_stats(lang, ranged, ("dash_range_quota", "dash_range_count", "dash_range_tokens"))}
<p class="card empty" data-empty hidden>{text(lang, "dash_no_usage")}</p>
<section class="card chart" data-chart="time" hidden>
<h3>{text(lang, "dash_by_time")}</h3>
<svg data-chart-svg role="img" aria-label="{text(lang, "dash_chart_label")}"></svg>
<ul class="legend" data-legend></ul>
</section>
<section class="card" data-chart="models" hidden>
<h3>{text(lang, "dash_by_model")}</h3>
<table><thead><tr>{heads}</tr></thead><tbody data-list="dashboard-models">
<tr><td colspan="{len(MODEL_COLUMNS)}">{text(lang, "loading")}</td></tr></tbody></table>
</section>"""
    return page(request, "dashboard", "dashboard_title", body, active="/console", script="dashboard.js")


ROUTES = [dashboard_page]
