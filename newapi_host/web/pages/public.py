"""Pages anyone may open: sign in, sign up, first-run setup, pricing; the language switch and static files."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.enums import MediaType
from litestar.params import FromPath
from litestar.response import Redirect

from newapi_host.api.oauth import method_available, public_base
from newapi_host.host import host_of

from ..i18n import COOKIE, LANGS, add_strings, lang_of
from ..layout import CONTENT_TYPES, STATIC_ETAGS, STATIC_FILES, field, page, safe_image, session_of, table, text

STRINGS = {
    "en": {
        "pricing_group": "Group",
        "pricing_all_groups": "All groups (base prices)",
        "pricing_group_ratio": "Prices include this group's ratio ×{ratio}",
        "wechat_title": "WeChat",
        "wechat_help": "Follow the official account (scan the QR code), send it a message to get a code, "
        "and enter the code here.",
        "wechat_code": "Verification code",
        "wechat_sign_in": "Sign in with WeChat",
    },
    "zh": {
        "pricing_group": "分组",
        "pricing_all_groups": "全部分组（基础价格）",
        "pricing_group_ratio": "价格已乘以该分组倍率 ×{ratio}",
        "wechat_title": "微信",
        "wechat_help": "扫码关注公众号，向其发送消息获取验证码，然后在此输入。",
        "wechat_code": "验证码",
        "wechat_sign_in": "微信登录",
    },
}
add_strings(STRINGS)


# Cloudflare's widget: only on sites that turn Turnstile on, and only there is the page's markup
# (never the console's own scripts) pointing anywhere else: Turnstile cannot work without it.
TURNSTILE_SCRIPT = "https://challenges.cloudflare.com/turnstile/v0/api.js"


def turnstile_widget(request: Request[Any, Any, Any]) -> str:
    options = host_of(request.app.state).options
    if not options.get_bool("TurnstileCheckEnabled"):
        return ""
    site_key = html.escape(options.get("TurnstileSiteKey"), quote=True)
    return (
        f'<div class="cf-turnstile" data-sitekey="{site_key}" data-callback="onTurnstile"></div>'
        f'<script src="{TURNSTILE_SCRIPT}" async defer></script>'
    )


# Telegram's login widget: like Turnstile, only on sites that turn the method on, and only there
# does the page load anything from elsewhere (the widget cannot work without telegram.org's script).
TELEGRAM_SCRIPT = "https://telegram.org/js/telegram-widget.js?22"


def widget_on(request: Request[Any, Any, Any], method_id: str) -> bool:
    """The widget sign-in method (Telegram, WeChat) is installed, switched on and configured."""
    host = host_of(request.app.state)
    method = host.registry.login_method(method_id)
    return method is not None and method.kind == "widget" and method_available(host, method)


def telegram_widget(request: Request[Any, Any, Any], *, auth_url: str = "") -> str:
    """The widget: it calls ``onTelegramAuth(user)`` on the page (sign-in), or, given ``auth_url``,
    sends the browser there with the signed fields (linking, see ``oauth.bind_ticket``)."""
    bot = host_of(request.app.state).options.get("TelegramBotName").strip().lstrip("@")
    if not widget_on(request, "telegram") or not re.fullmatch(r"[A-Za-z0-9_]{3,64}", bot):
        return ""
    target = (
        f'data-auth-url="{html.escape(auth_url, quote=True)}"' if auth_url else 'data-onauth="onTelegramAuth(user)"'
    )
    return (
        f'<div class="telegram-login" data-telegram><script async src="{TELEGRAM_SCRIPT}" '
        f'data-telegram-login="{bot}" data-size="large" data-request-access="write" {target}></script></div>'
    )


def telegram_bind_url(request: Request[Any, Any, Any], ticket: str) -> str:
    return f"{public_base(request)}/api/oauth/telegram/bind/{ticket}"


def wechat_box(request: Request[Any, Any, Any], form: str, submit_key: str) -> str:
    """The official account's QR code and a field for the code it sends (``form`` names the form)."""
    if not widget_on(request, "wechat"):
        return ""
    lang = lang_of(request)
    qr = host_of(request.app.state).options.get("WeChatAccountQRCodeImageURL").strip()
    image = f'<img class="wechat-qr" src="{html.escape(qr, quote=True)}" alt="QR">' if safe_image(qr) else ""
    return f"""<form class="card" data-form="{form}">
<h2>{text(lang, "wechat_title")}</h2>
{image}
<p class="help">{text(lang, "wechat_help")}</p>
{field(lang, "code", "wechat_code", extra='required maxlength="64" autocomplete="one-time-code"')}
<button type="submit">{text(lang, submit_key)}</button>
</form>"""


@get("/", include_in_schema=False)
async def home(request: Request[Any, Any, Any]) -> Redirect:
    if not host_of(request.app.state).setup_done:
        return Redirect("/setup")
    return Redirect("/console" if session_of(request) else "/login")


@get("/login", include_in_schema=False)
async def login_page(request: Request[Any, Any, Any]) -> Response[str]:
    lang = lang_of(request)
    body = f"""<form class="card" data-form="login">
{field(lang, "username", "username", extra='required autocomplete="username"')}
{field(lang, "password", "password", "password", 'required autocomplete="current-password"')}
{turnstile_widget(request)}
<button type="submit">{text(lang, "sign_in")}</button>
<div class="login-methods" data-login-methods>
<button type="button" class="secondary" data-action="passkey-login" hidden>{text(lang, "passkey_sign_in")}</button>
</div>
{telegram_widget(request)}
<p>{text(lang, "no_account")} <a href="/register">{text(lang, "register")}</a></p>
</form>
{wechat_box(request, "wechat-login", "wechat_sign_in")}
<form class="card" data-form="login2fa" hidden>
<p>{text(lang, "twofa_prompt")}</p>
{field(lang, "code", "twofa_code", extra='required autocomplete="one-time-code"')}
<button type="submit">{text(lang, "verify")}</button>
</form>"""
    return page(request, "login", "login_title", body, script="auth.js")


@get("/setup", include_in_schema=False)
async def setup_page(request: Request[Any, Any, Any]) -> Response[str]:
    lang = lang_of(request)
    if host_of(request.app.state).setup_done:
        link = f'<a href="/login">{text(lang, "sign_in")}</a>'
        body = f'<p class="card">{text(lang, "setup_already")} {link}</p>'
        return page(request, "setup", "setup_title", body)
    body = f"""<form class="card" data-form="setup">
<p>{text(lang, "setup_intro")}</p>
{field(lang, "username", "username", extra='required autocomplete="username" value="root"')}
{field(lang, "password", "password", "password", 'required autocomplete="new-password"')}
{field(lang, "confirmPassword", "confirm_password", "password", 'required autocomplete="new-password"')}
<button type="submit">{text(lang, "setup_submit")}</button>
</form>"""
    return page(request, "setup", "setup_title", body, script="auth.js")


@get("/register", include_in_schema=False)
async def register_page(request: Request[Any, Any, Any]) -> Response[str]:
    lang = lang_of(request)
    body = f"""<form class="card" data-form="register">
{field(lang, "username", "username", extra='required autocomplete="username"')}
{field(lang, "password", "password", "password", 'required autocomplete="new-password"')}
{field(lang, "confirmPassword", "confirm_password", "password", 'required autocomplete="new-password"')}
{turnstile_widget(request)}
<button type="submit">{text(lang, "register")}</button>
<p>{text(lang, "have_account")} <a href="/login">{text(lang, "sign_in")}</a></p>
</form>"""
    return page(request, "register", "register_title", body, script="auth.js")


@get("/pricing", include_in_schema=False)
async def pricing_page(request: Request[Any, Any, Any]) -> Response[str]:
    lang = lang_of(request)
    keys = ("model_name", "billing_type", "input_price", "output_price", "call_price", "groups")
    search = text(lang, "search_models")
    body = f"""<div class="card inline pricing-bar">
<input type="search" data-search placeholder="{search}" aria-label="{search}">
<label>{text(lang, "pricing_group")}<select data-group></select></label>
<span class="help" data-group-ratio></span>
</div>
{table(lang, "pricing", keys)}"""
    return page(request, "pricing", "pricing_title", body, active="/pricing", script="pricing.js")


@get("/console-lang", include_in_schema=False)
async def switch_language(request: Request[Any, Any, Any]) -> Redirect:
    """``?lang=en|zh&next=/path``: remember the language for a year and go back to ``next``."""
    lang = request.query_params.get("lang", "")
    target = request.query_params.get("next") or "/"
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = "/"  # only paths on this site: never an open redirect
    response = Redirect(target)
    if lang in LANGS:
        response.set_cookie(COOKIE, lang, max_age=365 * 24 * 3600, path="/", samesite="lax")
    return response


@get("/console-static/{name:str}", include_in_schema=False)
async def static_file(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
    data = STATIC_FILES.get(name)
    if data is None:
        return Response(b"not found", status_code=404, media_type=MediaType.TEXT)
    etag = f'"{STATIC_ETAGS[name]}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(b"", status_code=304, headers=headers)
    return Response(data, media_type=CONTENT_TYPES[Path(name).suffix], headers=headers)


ROUTES = [home, login_page, setup_page, register_page, pricing_page, switch_language, static_file]
