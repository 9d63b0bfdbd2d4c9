"""Root: custom OAuth providers (New API's "custom OAuth"): list, create, edit, enable/disable,
delete, and fill the endpoints from a discovery document.

The page only renders the frame; ``oauth_providers.js`` fills it from ``/api/custom-oauth-provider``.
Like the API, it is root's alone: an admin who is not root gets an explanation instead.
"""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from newapi_host.db.tables import ROLE_ROOT

from ..i18n import add_strings, lang_of
from ..layout import admin_only, field, page, session_of, table, text

STRINGS = {
    "en": {
        "cop_title": "Custom OAuth providers",
        "cop_root_only": "Only the root user can view and change custom OAuth providers.",
        "cop_intro": "Any OAuth 2 or OpenID Connect provider, without code. Register this callback "
        "address with the provider: {server}/api/oauth/<slug>/callback (and {server}/oauth/<slug> "
        "when New API's own front end is served).",
        "cop_name": "Name",
        "cop_slug": "Slug (a-z, 0-9, -)",
        "cop_slug_col": "Slug",
        "cop_icon": "Icon",
        "cop_enabled": "Enabled",
        "cop_client_id": "Client ID",
        "cop_client_secret": "Client secret",
        "cop_secret_kept": "Stored; leave empty to keep it",
        "cop_well_known": "Discovery URL (…/.well-known/openid-configuration)",
        "cop_discover": "Fill from discovery",
        "cop_discovered": "Endpoints filled from the discovery document.",
        "cop_authorization": "Authorization endpoint",
        "cop_token": "Token endpoint",
        "cop_userinfo": "User-info endpoint",
        "cop_scopes": "Scopes",
        "cop_user_id_field": "User ID field (e.g. sub, data.user.id)",
        "cop_username_field": "Username field",
        "cop_display_name_field": "Display name field",
        "cop_email_field": "E-mail field",
        "cop_auth_style": "Client authentication",
        "cop_auth_0": "Automatic (in the form)",
        "cop_auth_1": "In the form",
        "cop_auth_2": "HTTP Basic",
        "cop_pkce": "PKCE (S256)",
        "cop_access_policy": "Access policy (JSON, optional): who may sign in",
        "cop_access_denied": "Refusal message ({{provider}}, {{field}}, {{required}}, {{current}})",
        "cop_new": "New provider",
        "cop_edit": "Edit",
        "cop_create": "Create",
        "cop_cancel": "Cancel",
        "cop_enable": "Enable",
        "cop_disable": "Disable",
        "cop_delete": "Delete",
        "cop_confirm_delete": "Delete this provider?",
        "cop_saved": "Provider saved.",
        "cop_none": "No custom OAuth providers yet.",
        "cop_on": "On",
        "cop_off": "Off",
    },
    "zh": {
        "cop_title": "自定义 OAuth 提供商",
        "cop_root_only": "只有 root 用户可以查看和修改自定义 OAuth 提供商。",
        "cop_intro": "无需写代码即可接入任意 OAuth 2 或 OpenID Connect 提供商。请在提供商处登记回调地址："
        "{server}/api/oauth/<slug>/callback（使用 New API 自带前端时还有 {server}/oauth/<slug>）。",
        "cop_name": "名称",
        "cop_slug": "标识（a-z、0-9、-）",
        "cop_slug_col": "标识",
        "cop_icon": "图标",
        "cop_enabled": "启用",
        "cop_client_id": "Client ID",
        "cop_client_secret": "Client Secret",
        "cop_secret_kept": "已保存；留空则保持不变",
        "cop_well_known": "Discovery 地址（…/.well-known/openid-configuration）",
        "cop_discover": "从 Discovery 填充",
        "cop_discovered": "已根据 Discovery 文档填充端点。",
        "cop_authorization": "授权端点",
        "cop_token": "令牌端点",
        "cop_userinfo": "用户信息端点",
        "cop_scopes": "Scopes",
        "cop_user_id_field": "用户 ID 字段（如 sub、data.user.id）",
        "cop_username_field": "用户名字段",
        "cop_display_name_field": "显示名称字段",
        "cop_email_field": "邮箱字段",
        "cop_auth_style": "客户端认证方式",
        "cop_auth_0": "自动（表单参数）",
        "cop_auth_1": "表单参数",
        "cop_auth_2": "HTTP Basic",
        "cop_pkce": "PKCE（S256）",
        "cop_access_policy": "访问策略（JSON，可选）：谁可以登录",
        "cop_access_denied": "拒绝提示（{{provider}}、{{field}}、{{required}}、{{current}}）",
        "cop_new": "新建提供商",
        "cop_edit": "编辑",
        "cop_create": "创建",
        "cop_cancel": "取消",
        "cop_enable": "启用",
        "cop_disable": "禁用",
        "cop_delete": "删除",
        "cop_confirm_delete": "确定删除这个提供商？",
        "cop_saved": "提供商已保存。",
        "cop_none": "还没有自定义 OAuth 提供商。",
        "cop_on": "已启用",
        "cop_off": "已禁用",
    },
}
add_strings(STRINGS)

POLICY_EXAMPLE = escape('{"logic": "and", "conditions": [{"field": "trust_level", "op": "gte", "value": 2}]}')
COLUMNS = ("cop_name", "cop_slug_col", "cop_client_id", "status", "actions")


def _check(lang: str, name: str, key: str) -> str:
    return f'<label class="check"><input name="{name}" type="checkbox"> {text(lang, key)}</label>'


@get("/console/oauth-providers", include_in_schema=False)
async def oauth_providers_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := admin_only(request):
        return refused
    lang = lang_of(request)
    if int((session_of(request) or {}).get("role") or 0) < ROLE_ROOT:
        body = f'<p class="card" data-root-only>{text(lang, "cop_root_only")}</p>'
        return page(request, "oauth-providers", "cop_title", body, active="/console/settings")
    server = request.app.state.host.options.get("ServerAddress") or str(request.base_url).rstrip("/")
    intro = text(lang, "cop_intro").replace("{server}", escape(server.rstrip("/")))
    styles = "".join(f'<option value="{n}">{text(lang, f"cop_auth_{n}")}</option>' for n in (0, 1, 2))
    body = f"""<p class="card">{intro}</p>
{table(lang, "oauth-providers", COLUMNS)}
<section class="card">
<h2 data-form-title>{text(lang, "cop_new")}</h2>
<form class="inline" data-form="oauth-provider" novalidate>
<input name="id" type="hidden">
{field(lang, "name", "cop_name", extra='required maxlength="64"')}
{field(lang, "slug", "cop_slug", extra='required maxlength="64" pattern="[a-z0-9-]+"')}
{field(lang, "icon", "cop_icon", extra='maxlength="128"')}
{field(lang, "client_id", "cop_client_id", extra='required maxlength="256"')}
{field(lang, "client_secret", "cop_client_secret", "password", 'maxlength="512" autocomplete="new-password"')}
{field(lang, "well_known", "cop_well_known", "text", 'maxlength="512" inputmode="url"')}
<button type="button" class="secondary" data-tool="discover">{text(lang, "cop_discover")}</button>
{field(lang, "authorization_endpoint", "cop_authorization", "text", 'maxlength="512" inputmode="url"')}
{field(lang, "token_endpoint", "cop_token", "text", 'maxlength="512" inputmode="url"')}
{field(lang, "user_info_endpoint", "cop_userinfo", "text", 'maxlength="512" inputmode="url"')}
{field(lang, "scopes", "cop_scopes", extra='maxlength="256" value="openid profile email"')}
{field(lang, "user_id_field", "cop_user_id_field", extra='maxlength="128" value="sub"')}
{field(lang, "username_field", "cop_username_field", extra='maxlength="128" value="preferred_username"')}
{field(lang, "display_name_field", "cop_display_name_field", extra='maxlength="128" value="name"')}
{field(lang, "email_field", "cop_email_field", extra='maxlength="128" value="email"')}
<label>{text(lang, "cop_auth_style")}<select name="auth_style">{styles}</select></label>
<label>{text(lang, "cop_access_policy")}<textarea name="access_policy" rows="4" maxlength="16384"
 placeholder="{POLICY_EXAMPLE}"></textarea></label>
{field(lang, "access_denied_message", "cop_access_denied", extra='maxlength="512"')}
{_check(lang, "pkce_enabled", "cop_pkce")}
{_check(lang, "enabled", "cop_enabled")}
<p><button type="submit">{text(lang, "save")}</button>
<button type="button" class="secondary" data-cancel>{text(lang, "cop_cancel")}</button></p>
</form>
</section>"""
    return page(request, "oauth-providers", "cop_title", body, active="/console/settings", script="oauth_providers.js")


ROUTES = [oauth_providers_page]
