"""The signed-in user's API keys: list (paged), create and edit (quota, expiry, unlimited, model
whitelist, IP allow-list, group), enable/disable, delete, and copy the full key."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from ..i18n import add_strings, lang_of
from ..layout import field, page, pager, signed_in_only, table, text

STRINGS = {
    "en": {
        "keys_new": "New API key",
        "keys_edit_title": "Edit API key",
        "keys_edit": "Edit",
        "keys_cancel": "Cancel",
        "keys_updated": "API key updated.",
        "keys_deleted": "API key deleted.",
        "keys_expiry": "Expires",
        "keys_expiry_hint": "Empty: never expires.",
        "keys_never": "Never",
        "keys_exp_1h": "1 hour",
        "keys_exp_1d": "1 day",
        "keys_exp_1m": "1 month",
        "keys_used": "Used",
        "keys_group": "Group",
        "keys_group_own": "Your own group",
        "keys_cross_group_retry": "Retry in the next group when one fails (auto group)",
        "keys_model_limits_enabled": "Only allow these models",
        "keys_model_limits": "Allowed models (comma separated)",
        "keys_allow_ips": "IP allow-list (one address or CIDR range per line; empty: any)",
        "keys_status_expired": "Expired",
        "keys_status_exhausted": "Exhausted",
    },
    "zh": {
        "keys_new": "创建新令牌",
        "keys_edit_title": "编辑令牌",
        "keys_edit": "编辑",
        "keys_cancel": "取消",
        "keys_updated": "令牌已更新。",
        "keys_deleted": "令牌已删除。",
        "keys_expiry": "过期时间",
        "keys_expiry_hint": "留空表示永不过期。",
        "keys_never": "永不过期",
        "keys_exp_1h": "一小时",
        "keys_exp_1d": "一天",
        "keys_exp_1m": "一个月",
        "keys_used": "已用额度",
        "keys_group": "令牌分组",
        "keys_group_own": "使用用户分组",
        "keys_cross_group_retry": "跨分组重试（auto 分组）",
        "keys_model_limits_enabled": "启用模型限制",
        "keys_model_limits": "模型限制列表（逗号分隔）",
        "keys_allow_ips": "IP 白名单（每行一个地址或 CIDR 网段，留空不限制）",
        "keys_status_expired": "已过期",
        "keys_status_exhausted": "已耗尽",
    },
}
add_strings(STRINGS)

COLUMNS = ("key_name", "key", "status", "keys_used", "remain_quota", "keys_expiry", "keys_group", "actions")


def _error(name: str) -> str:
    return f'<small class="error" data-error="{name}"></small>'


@get("/console/keys", include_in_schema=False)
async def keys_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := signed_in_only(request):
        return refused
    lang = lang_of(request)
    expiry = "".join(
        f'<button type="button" class="secondary" data-expiry="{span}">{text(lang, key)}</button>'
        for span, key in (("never", "keys_never"), ("1h", "keys_exp_1h"), ("1d", "keys_exp_1d"), ("1m", "keys_exp_1m"))
    )
    body = f"""<form class="card inline token-form" data-form="token" data-mode="create">
<h2 class="wide" data-title-create>{text(lang, "keys_new")}</h2>
<h2 class="wide" data-title-edit hidden>{text(lang, "keys_edit_title")}</h2>
<input type="hidden" name="id" value="">
<div class="field">{field(lang, "name", "key_name", extra='required maxlength="50"')}{_error("name")}</div>
<div class="field">{field(lang, "remain_quota", "remain_quota_usd", "number", 'min="0" step="any" value="0"')}
<label class="check"><input name="unlimited_quota" type="checkbox" checked>{text(lang, "unlimited_quota")}</label>\
{_error("remain_quota")}</div>
<div class="field">{field(lang, "expired_time", "keys_expiry", "datetime-local")}
<span class="quick">{expiry}</span><small class="help">{text(lang, "keys_expiry_hint")}</small>\
{_error("expired_time")}</div>
<div class="field"><label>{text(lang, "keys_group")}<select name="group">
<option value="">{text(lang, "keys_group_own")}</option></select></label>
<label class="check" data-cross-group hidden><input name="cross_group_retry" type="checkbox">\
{text(lang, "keys_cross_group_retry")}</label>{_error("group")}</div>
<fieldset class="wide field"><legend><label class="check"><input name="model_limits_enabled" type="checkbox">\
{text(lang, "keys_model_limits_enabled")}</label></legend>
{field(lang, "model_limits", "keys_model_limits", extra='maxlength="100000" autocomplete="off"')}
<div class="model-picks" data-models></div>{_error("model_limits")}</fieldset>
<div class="wide field"><label>{text(lang, "keys_allow_ips")}<textarea name="allow_ips" rows="3" \
maxlength="10000" placeholder="192.168.1.10&#10;10.0.0.0/8"></textarea></label>{_error("allow_ips")}</div>
<div class="wide actions"><button type="submit">{text(lang, "create_key")}</button>
<button type="button" class="secondary" data-action="cancel-edit" hidden>{text(lang, "keys_cancel")}</button></div>
</form>
<div class="card newkey" hidden><p>{text(lang, "new_key_once")}</p>
<code data-newkey></code> <button type="button" data-copy>{text(lang, "copy")}</button></div>
{table(lang, "tokens", COLUMNS)}
{pager(lang, "tokens", hidden=True)}"""
    return page(request, "keys", "keys_title", body, active="/console/keys", script="keys.js")


ROUTES = [keys_page]
