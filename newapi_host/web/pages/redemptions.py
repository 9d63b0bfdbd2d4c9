"""Admin: redemption codes: list with search and paging, batch create, edit, enable/disable,
delete, delete invalid codes, copy or download new codes, CSV export.

The page only renders the frame; ``redemptions.js`` fills it from ``/api/redemption/*``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from ..i18n import add_strings, lang_of
from ..layout import admin_only, field, page, pager, table, text

STRINGS = {
    "en": {
        "redemptions_title": "Redemption codes",
        "redemptions_id": "ID",
        "redemptions_name": "Name",
        "redemptions_count": "Count",
        "redemptions_quota_usd": "Value (USD)",
        "redemptions_expires": "Expires",
        "redemptions_expiry_hint": "Expires at (empty: never)",
        "redemptions_never": "Never",
        "redemptions_created": "Created",
        "redemptions_redeemed": "Redeemed by / at",
        "redemptions_status_1": "Unused",
        "redemptions_status_2": "Disabled",
        "redemptions_status_3": "Used",
        "redemptions_expired": "Expired",
        "redemptions_all_statuses": "All statuses",
        "redemptions_keyword": "ID or name prefix",
        "redemptions_search": "Search",
        "redemptions_create": "Create codes",
        "redemptions_created_codes": "New redemption codes:",
        "redemptions_copy_all": "Copy all",
        "redemptions_download": "Download .txt",
        "redemptions_export": "Export CSV",
        "redemptions_delete_invalid": "Delete invalid codes",
        "redemptions_confirm_delete_invalid": "Delete every used, disabled and expired code?",
        "redemptions_deleted_invalid": "Deleted {count} invalid code(s).",
        "redemptions_confirm_delete": "Delete this redemption code?",
        "redemptions_copy_code": "Copy code",
        "redemptions_edit": "Edit",
        "redemptions_edit_title": "Edit redemption code",
        "redemptions_cancel": "Cancel",
        "redemptions_saved": "Redemption code saved.",
        "redemptions_done": "Done.",
        "redemptions_none": "No redemption codes.",
        "redemptions_bad_quota": "Enter a value greater than zero.",
        "redemptions_bad_count": "Enter a count from 1 to 100.",
        "redemptions_user": "user #{id}",
    },
    "zh": {
        "redemptions_title": "兑换码管理",
        "redemptions_id": "ID",
        "redemptions_name": "名称",
        "redemptions_count": "生成数量",
        "redemptions_quota_usd": "额度（美元）",
        "redemptions_expires": "过期时间",
        "redemptions_expiry_hint": "过期时间（留空为永不过期）",
        "redemptions_never": "永不过期",
        "redemptions_created": "创建时间",
        "redemptions_redeemed": "兑换人 / 兑换时间",
        "redemptions_status_1": "未使用",
        "redemptions_status_2": "已禁用",
        "redemptions_status_3": "已使用",
        "redemptions_expired": "已过期",
        "redemptions_all_statuses": "全部状态",
        "redemptions_keyword": "ID 或名称前缀",
        "redemptions_search": "查询",
        "redemptions_create": "生成兑换码",
        "redemptions_created_codes": "新生成的兑换码：",
        "redemptions_copy_all": "复制全部",
        "redemptions_download": "下载 .txt",
        "redemptions_export": "导出 CSV",
        "redemptions_delete_invalid": "清除失效兑换码",
        "redemptions_confirm_delete_invalid": "确定删除所有已使用、已禁用和已过期的兑换码？",
        "redemptions_deleted_invalid": "已删除 {count} 个失效兑换码。",
        "redemptions_confirm_delete": "确定删除这个兑换码？",
        "redemptions_copy_code": "复制",
        "redemptions_edit": "编辑",
        "redemptions_edit_title": "编辑兑换码",
        "redemptions_cancel": "取消",
        "redemptions_saved": "兑换码已保存。",
        "redemptions_done": "操作成功。",
        "redemptions_none": "还没有兑换码。",
        "redemptions_bad_quota": "请输入大于零的额度。",
        "redemptions_bad_count": "生成数量须在 1 到 100 之间。",
        "redemptions_user": "用户 #{id}",
    },
}
add_strings(STRINGS)

COLUMNS = (
    "redemptions_id",
    "redemptions_name",
    "status",
    "redemptions_quota_usd",
    "redemptions_created",
    "redemptions_redeemed",
    "redemptions_expires",
    "actions",
)
STATUS_FILTER = (
    ("", "redemptions_all_statuses"),
    ("1", "redemptions_status_1"),
    ("2", "redemptions_status_2"),
    ("3", "redemptions_status_3"),
    ("expired", "redemptions_expired"),
)


@get("/console/redemptions", include_in_schema=False)
async def redemptions_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := admin_only(request):
        return refused
    lang = lang_of(request)
    statuses = "".join(f'<option value="{v}">{text(lang, k)}</option>' for v, k in STATUS_FILTER)
    body = f"""<form class="card inline" data-form="redemption">
{field(lang, "name", "redemptions_name", extra='required maxlength="20"')}
{field(lang, "count", "redemptions_count", "number", 'required min="1" max="100" step="1" value="1"')}
{field(lang, "quota", "redemptions_quota_usd", "number", 'required min="0" step="any" value="1"')}
{field(lang, "expired_time", "redemptions_expiry_hint", "datetime-local")}
<button type="submit">{text(lang, "redemptions_create")}</button>
</form>
<div class="card redemptions-new" data-newcodes hidden>
<p>{text(lang, "redemptions_created_codes")}</p>
<textarea name="codes" rows="5" readonly data-codes></textarea>
<p class="redemptions-buttons"><button type="button" data-tool="copy-all">{text(lang, "redemptions_copy_all")}</button>
<button type="button" class="secondary" data-tool="download">{text(lang, "redemptions_download")}</button></p>
</div>
<section class="card" data-edit="redemption" hidden>
<h2>{text(lang, "redemptions_edit_title")} <code data-edit-name></code></h2>
<form class="inline redemptions-edit" data-form="redemption-edit">
<input name="id" type="hidden">
{field(lang, "name", "redemptions_name", extra='required maxlength="20"')}
{field(lang, "quota", "redemptions_quota_usd", "number", 'required min="0" step="any"')}
{field(lang, "expired_time", "redemptions_expiry_hint", "datetime-local")}
<p class="redemptions-buttons"><button type="submit">{text(lang, "save")}</button>
<button type="button" class="secondary" data-cancel>{text(lang, "redemptions_cancel")}</button></p>
</form>
</section>
<form class="card inline" data-form="redemption-search">
<label>{text(lang, "redemptions_search")}<input name="keyword" type="search" maxlength="255"
 placeholder="{text(lang, "redemptions_keyword")}"></label>
<label>{text(lang, "status")}<select name="status">{statuses}</select></label>
<button type="submit">{text(lang, "redemptions_search")}</button>
</form>
<p class="redemptions-buttons">
<button type="button" class="secondary" data-tool="export">{text(lang, "redemptions_export")}</button>
<button type="button" class="danger" data-tool="delete-invalid">{text(lang, "redemptions_delete_invalid")}</button>
</p>
{table(lang, "redemptions", COLUMNS)}
{pager(lang, "redemptions", total=True)}"""
    return page(
        request, "redemptions", "redemptions_title", body, active="/console/redemptions", script="redemptions.js"
    )


ROUTES = [redemptions_page]
