"""The signed-in user's account security: linked sign-in accounts, the e-mail address,
two-factor sign-in and passkeys.

Everything goes through the management API (``/api/user/oauth/bindings``, ``/api/user/2fa/*``,
``/api/verification`` and ``/api/oauth/email/bind``, ``/api/oauth/wechat/bind``); the QR code of
a new authenticator secret comes drawn in the set-up answer, never from elsewhere. Telegram's
widget links through a one-time ticket in its callback address (``oauth.bind_ticket``).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect

from newapi_host.api.oauth import bind_ticket

from ..i18n import add_strings, lang_of
from ..layout import field, page, signed_in_only, table, text
from .public import telegram_bind_url, telegram_widget, turnstile_widget, wechat_box

STRINGS = {
    "en": {
        "security_title": "Account security",
        "security_bindings": "Linked sign-in accounts",
        "security_method": "Sign-in method",
        "security_account": "Account",
        "security_unlink": "Unlink",
        "security_link": "Link {name}",
        "security_no_bindings": "No accounts linked; use a sign-in button while signed in to link one.",
        "security_twofa": "Two-factor sign-in",
        "security_twofa_on": "On. Backup codes left: {count}.",
        "security_twofa_off": "Off.",
        "security_twofa_setup": "Set up",
        "security_twofa_scan": "Scan this with an authenticator app, then enter the code it shows.",
        "security_twofa_secret": "Or enter this secret by hand:",
        "security_twofa_backup": "Backup codes (each works once; keep them somewhere safe):",
        "security_twofa_enable": "Turn on",
        "security_twofa_disable": "Turn off",
        "security_twofa_enabled": "Two-factor sign-in is on.",
        "security_twofa_disabled": "Two-factor sign-in is off.",
        "security_passkeys": "Passkeys",
        "security_passkeys_state": "Passkeys registered: {count}.",
        "security_passkey_add": "Add a passkey",
        "security_passkey_remove": "Remove all passkeys",
        "security_passkey_added": "Passkey added.",
        "security_passkeys_removed": "Passkeys removed.",
        "security_stepup": "Confirm with a code from your authenticator app (or a backup code) first.",
        "security_stepup_submit": "Confirm",
        "security_link_telegram": "Link a Telegram account:",
        "security_wechat_link": "Link WeChat",
        "security_linked": "Account linked.",
        "security_email": "E-mail address",
        "security_email_current": "Current address: {email}",
        "security_email_none": "No address yet.",
        "security_email_new": "New address",
        "security_email_send": "Send a code",
        "security_email_sent": "A code was sent to {email}; enter it below.",
        "security_email_code": "Code from the mail",
        "security_email_change": "Change the address",
        "security_email_changed": "The e-mail address is changed.",
    },
    "zh": {
        "security_title": "账户安全",
        "security_bindings": "已绑定的登录方式",
        "security_method": "登录方式",
        "security_account": "账户",
        "security_unlink": "解除绑定",
        "security_link": "绑定 {name}",
        "security_no_bindings": "尚未绑定；登录状态下使用登录按钮即可绑定。",
        "security_twofa": "两步验证",
        "security_twofa_on": "已开启。剩余备用码：{count} 个。",
        "security_twofa_off": "未开启。",
        "security_twofa_setup": "设置",
        "security_twofa_scan": "请用验证器应用扫描二维码，然后输入其显示的验证码。",
        "security_twofa_secret": "或手动输入此密钥：",
        "security_twofa_backup": "备用码（每个只能使用一次，请妥善保存）：",
        "security_twofa_enable": "开启",
        "security_twofa_disable": "关闭",
        "security_twofa_enabled": "两步验证已开启。",
        "security_twofa_disabled": "两步验证已关闭。",
        "security_passkeys": "通行密钥",
        "security_passkeys_state": "已注册的通行密钥：{count} 个。",
        "security_passkey_add": "添加通行密钥",
        "security_passkey_remove": "删除全部通行密钥",
        "security_passkey_added": "通行密钥已添加。",
        "security_passkeys_removed": "通行密钥已删除。",
        "security_stepup": "请先输入验证器应用中的验证码（或备用码）进行确认。",
        "security_stepup_submit": "确认",
        "security_link_telegram": "绑定 Telegram 账户：",
        "security_wechat_link": "绑定微信",
        "security_linked": "账户已绑定。",
        "security_email": "邮箱地址",
        "security_email_current": "当前地址：{email}",
        "security_email_none": "尚未设置邮箱。",
        "security_email_new": "新地址",
        "security_email_send": "发送验证码",
        "security_email_sent": "验证码已发送至 {email}，请在下方输入。",
        "security_email_code": "邮件中的验证码",
        "security_email_change": "修改邮箱",
        "security_email_changed": "邮箱地址已修改。",
    },
}
add_strings(STRINGS)


@get("/console/security", include_in_schema=False)
async def security_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    if refused := signed_in_only(request):
        return refused
    lang = lang_of(request)
    code = field(lang, "code", "twofa_code", extra='required autocomplete="one-time-code"')
    ticket = bind_ticket(request, "telegram")
    telegram = telegram_widget(request, auth_url=telegram_bind_url(request, ticket)) if ticket else ""
    if telegram:
        telegram = f'<div data-link-widget="telegram"><p>{text(lang, "security_link_telegram")}</p>{telegram}</div>'
    wechat = wechat_box(request, "wechat-bind", "security_wechat_link")
    email_field = field(lang, "email", "security_email_new", "email", 'required autocomplete="email" maxlength="50"')
    email_code = field(lang, "code", "security_email_code", extra='required autocomplete="one-time-code"')
    body = f"""<h2>{text(lang, "security_bindings")}</h2>
{table(lang, "bindings", ("security_method", "security_account", "actions"))}
<div class="login-methods" data-link-methods></div>
{telegram}
<div data-link-widget="wechat">{wechat}</div>
<section class="card" data-email>
<h2>{text(lang, "security_email")}</h2>
<p data-email-state>{text(lang, "loading")}</p>
<form data-form="email-code">{email_field}
{turnstile_widget(request)}
<button type="submit" class="secondary">{text(lang, "security_email_send")}</button></form>
<form data-form="email-bind" hidden>{email_code}
<button type="submit">{text(lang, "security_email_change")}</button></form>
</section>
<section class="card" data-twofa>
<h2>{text(lang, "security_twofa")}</h2>
<p data-twofa-state>{text(lang, "loading")}</p>
<button type="button" data-action="twofa-setup" hidden>{text(lang, "security_twofa_setup")}</button>
<div data-twofa-new hidden>
<p>{text(lang, "security_twofa_scan")}</p>
<div class="qr" data-twofa-qr></div>
<p>{text(lang, "security_twofa_secret")} <code data-twofa-secret></code></p>
<p>{text(lang, "security_twofa_backup")}</p>
<pre data-twofa-backup></pre>
<form data-form="twofa-enable">{code}<button type="submit">{text(lang, "security_twofa_enable")}</button></form>
</div>
<form data-form="twofa-disable" hidden>{code}
<button type="submit" class="danger">{text(lang, "security_twofa_disable")}</button></form>
</section>
<section class="card" data-passkeys>
<h2>{text(lang, "security_passkeys")}</h2>
<p data-passkey-state>{text(lang, "loading")}</p>
<button type="button" data-action="passkey-add">{text(lang, "security_passkey_add")}</button>
<button type="button" class="danger" data-action="passkey-remove" hidden>
{text(lang, "security_passkey_remove")}</button>
<form data-form="stepup" hidden><p>{text(lang, "security_stepup")}</p>{code}
<button type="submit">{text(lang, "security_stepup_submit")}</button></form>
</section>"""
    return page(request, "security", "security_title", body, active="/console/security", script="security.js")


ROUTES = [security_page]
