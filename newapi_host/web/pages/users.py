"""Admin: users: list, search, create, edit, quota adjustment, enable/disable, promote/demote, delete.

The page only renders the frame; ``users.js`` fills it from ``/api/user/*`` and ``/api/group/``.
What an admin may do to whom is the API's decision (admins manage common users; root alone
promotes and demotes); the page shows the API's message when it refuses.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from ..i18n import add_strings, lang_of
from ..layout import admin_only, field, page, pager, table, text

STRINGS = {
    "en": {
        "users_title": "Users",
        "users_id": "ID",
        "users_display_name": "Display name",
        "users_role": "Role",
        "users_role_1": "Common user",
        "users_role_10": "Admin",
        "users_role_100": "Root",
        "users_group": "Group",
        "users_all_groups": "All groups",
        "users_all_roles": "All roles",
        "users_all_statuses": "All statuses",
        "users_deleted": "Deleted",
        "users_keyword": "Search by ID, username, display name or e-mail",
        "users_search": "Search",
        "users_add": "Add user",
        "users_added": "User created.",
        "users_none": "No users found.",
        "users_edit": "Edit",
        "users_edit_title": "Edit user",
        "users_new_password": "New password (leave blank to keep it)",
        "users_email": "E-mail",
        "users_quota_usd": "Balance (USD)",
        "users_remark": "Remark",
        "users_cancel": "Cancel",
        "users_updated": "User updated.",
        "users_adjust_title": "Adjust balance",
        "users_adjust_mode": "Change",
        "users_adjust_add": "Add",
        "users_adjust_subtract": "Subtract",
        "users_adjust_amount": "Amount (USD)",
        "users_adjust_apply": "Apply",
        "users_adjusted": "Balance adjusted.",
        "users_amount_positive": "Enter an amount greater than zero.",
        "users_quota_invalid": "Enter a balance of zero or more.",
        "users_current_balance": "Current balance",
        "users_promote": "Promote",
        "users_demote": "Demote",
        "users_confirm_delete": "Delete this user? Their API keys stop working and the username cannot be reused.",
        "users_confirm_promote": "Make this user an administrator?",
        "users_confirm_demote": "Make this administrator a common user?",
        "users_done": "Done.",
    },
    "zh": {
        "users_title": "用户管理",
        "users_id": "ID",
        "users_display_name": "显示名称",
        "users_role": "角色",
        "users_role_1": "普通用户",
        "users_role_10": "管理员",
        "users_role_100": "超级管理员",
        "users_group": "分组",
        "users_all_groups": "全部分组",
        "users_all_roles": "全部角色",
        "users_all_statuses": "全部状态",
        "users_deleted": "已注销",
        "users_keyword": "按 ID、用户名、显示名称或邮箱搜索",
        "users_search": "查询",
        "users_add": "添加用户",
        "users_added": "用户已创建。",
        "users_none": "没有找到用户。",
        "users_edit": "编辑",
        "users_edit_title": "编辑用户",
        "users_new_password": "新密码（留空则不修改）",
        "users_email": "邮箱",
        "users_quota_usd": "剩余额度（美元）",
        "users_remark": "备注",
        "users_cancel": "取消",
        "users_updated": "用户信息已更新。",
        "users_adjust_title": "调整额度",
        "users_adjust_mode": "方式",
        "users_adjust_add": "增加",
        "users_adjust_subtract": "减少",
        "users_adjust_amount": "金额（美元）",
        "users_adjust_apply": "确定",
        "users_adjusted": "额度已调整。",
        "users_amount_positive": "请输入大于零的金额。",
        "users_quota_invalid": "请输入不小于零的额度。",
        "users_current_balance": "当前余额",
        "users_promote": "提升",
        "users_demote": "降级",
        "users_confirm_delete": "确定注销这个用户？其令牌将失效，用户名也不能再次使用。",
        "users_confirm_promote": "确定将此用户提升为管理员？",
        "users_confirm_demote": "确定将此管理员降级为普通用户？",
        "users_done": "操作成功。",
    },
}
add_strings(STRINGS)

COLUMNS = (
    "users_id",
    "username",
    "users_role",
    "status",
    "users_group",
    "balance",
    "used_quota",
    "request_count",
    "actions",
)


def _select(lang: str, name: str, label_key: str, options: tuple[tuple[str, str], ...], extra: str = "") -> str:
    """A labelled ``<select>``; ``options`` are (value, translation key) pairs."""
    items = "".join(f'<option value="{value}">{text(lang, key)}</option>' for value, key in options)
    return f'<label>{text(lang, label_key)}<select name="{name}" {extra}>{items}</select></label>'


@get("/console/users", include_in_schema=False)
async def users_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := admin_only(request):
        return refused
    lang = lang_of(request)
    roles = (("1", "users_role_1"), ("10", "users_role_10"), ("100", "users_role_100"))
    statuses = (("1", "enabled"), ("2", "disabled"), ("-1", "users_deleted"))
    body = f"""<form class="card inline" data-form="user-search">
<label>{text(lang, "users_search")}<input name="keyword" type="search" maxlength="100"
 placeholder="{text(lang, "users_keyword")}"></label>
{_select(lang, "group", "users_group", (("", "users_all_groups"),))}
{_select(lang, "role", "users_role", (("", "users_all_roles"), *roles))}
{_select(lang, "status", "status", (("", "users_all_statuses"), *statuses))}
<button type="submit">{text(lang, "users_search")}</button>
</form>
<form class="card inline" data-form="user-create">
{field(lang, "username", "username", extra='required maxlength="20" autocomplete="off"')}
{field(lang, "display_name", "users_display_name", extra='maxlength="20"')}
{field(lang, "password", "password", "password", 'required minlength="8" maxlength="72" autocomplete="new-password"')}
{_select(lang, "role", "users_role", roles[:2])}
<button type="submit">{text(lang, "users_add")}</button>
</form>
<section class="card users-edit" data-edit="user" hidden>
<h2>{text(lang, "users_edit_title")} <code data-edit-name></code></h2>
<form class="users-form" data-form="user">
<input name="id" type="hidden">
{field(lang, "display_name", "users_display_name", extra='maxlength="20"')}
{field(lang, "password", "users_new_password", "password", 'minlength="8" maxlength="72" autocomplete="new-password"')}
{field(lang, "email", "users_email", "email", 'maxlength="50"')}
{_select(lang, "group", "users_group", ())}
{field(lang, "quota", "users_quota_usd", "number", 'min="0" step="any" required')}
{field(lang, "remark", "users_remark", extra='maxlength="255"')}
<p class="users-buttons"><button type="submit">{text(lang, "save")}</button>
<button type="button" class="secondary" data-cancel>{text(lang, "users_cancel")}</button></p>
</form>
<form class="users-form" data-form="user-quota">
<h3>{text(lang, "users_adjust_title")}</h3>
<p>{text(lang, "users_current_balance")}: <strong data-current-quota></strong></p>
{_select(lang, "mode", "users_adjust_mode", (("add", "users_adjust_add"), ("subtract", "users_adjust_subtract")))}
{field(lang, "amount", "users_adjust_amount", "number", 'min="0" step="any" required')}
<p class="users-buttons"><button type="submit">{text(lang, "users_adjust_apply")}</button></p>
</form>
</section>
{table(lang, "users", COLUMNS)}
{pager(lang, "users", total=True)}"""
    return page(request, "users", "users_title", body, active="/console/users", script="users.js")


ROUTES = [users_page]
