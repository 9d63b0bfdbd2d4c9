"""Server-rendered console pages; ``console.js`` talks to the ``/api`` routes from the browser.

Pages need no session on the server (the API enforces roles; a 401 sends the browser to
``/login``), except ``/console/plugins`` and ``/console/plugins/{name}``, which also check the
session's role here. ``/pricing`` is public.
"""

from __future__ import annotations

import hashlib
import json
from html import escape
from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.enums import MediaType
from litestar.params import FromPath
from litestar.response import Redirect

from newapi_host.db.tables import ROLE_ADMIN
from newapi_host.host import host_of

from .i18n import COOKIE, LANGS, TRANSLATIONS, lang_of, t

STATIC_DIR = Path(__file__).parent / "static"
CONTENT_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
# Served files are fixed at import: a request names one of these, never a path on disk.
STATIC_FILES: dict[str, bytes] = {
    p.name: p.read_bytes() for p in sorted(STATIC_DIR.iterdir()) if p.is_file() and p.suffix in CONTENT_TYPES
}
STATIC_ETAGS = {name: hashlib.sha256(data).hexdigest()[:16] for name, data in STATIC_FILES.items()}
HTML_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def session_of(request: Request[Any, Any, Any]) -> dict[str, Any] | None:
    """The signed-in user's cookie session (``id``, ``username``, ``role``, ...), or None."""
    session = request.scope.get("session")
    return session if isinstance(session, dict) and session.get("id") else None


def _is_admin(session: dict[str, Any]) -> bool:
    return int(session.get("role") or 0) >= ROLE_ADMIN


def _admin_only(request: Request[Any, Any, Any], lang: str) -> Response[str] | Redirect | None:
    """None for an admin; otherwise the answer: sign in first, or a 403 page."""
    session = session_of(request)
    if session is None:
        return Redirect("/login")
    if not _is_admin(session):
        body = f'<p class="card">{escape(t(lang, "forbidden_text"))}</p>'
        return page(request, "forbidden", "forbidden_title", body, status=403)
    return None


def asset(name: str) -> str:
    return f"/console-static/{name}?v={STATIC_ETAGS[name]}"


def _nav(request: Request[Any, Any, Any], lang: str, active: str) -> str:
    session = session_of(request)
    links: list[tuple[str, str]] = []
    if session:
        links = [("/console", "nav_dashboard"), ("/console/keys", "nav_keys"), ("/console/logs", "nav_logs")]
        links.append(("/pricing", "nav_pricing"))
        if _is_admin(session):
            links.append(("/console/plugins", "nav_plugins"))
    else:
        links = [("/pricing", "nav_pricing"), ("/login", "sign_in"), ("/register", "register")]
    items = "".join(
        f'<a href="{href}"{" class=active" if href == active else ""}>{escape(t(lang, key))}</a>' for href, key in links
    )
    if session:
        items += f'<a href="/login" data-logout>{escape(t(lang, "sign_out"))}</a>'
    return items


def _lang_switch(request: Request[Any, Any, Any], lang: str) -> str:
    here = escape(request.url.path, quote=True)
    labels = {"en": "EN", "zh": "中文"}
    return " / ".join(
        f'<a href="/console-lang?lang={code}&amp;next={here}" hreflang="{code}"'
        f"{' class=active' if code == lang else ''}>{labels[code]}</a>"
        for code in LANGS
    )


def page(
    request: Request[Any, Any, Any], name: str, title_key: str, body: str, *, status: int = 200, active: str = ""
) -> Response[str]:
    """A whole HTML page: top bar (system name, navigation, language switch) and ``body``."""
    lang = lang_of(request)
    options = host_of(request.app.state).options
    system = escape(options.get("SystemName") or "New API")
    strings = json.dumps(TRANSLATIONS[lang], ensure_ascii=False).replace("<", "\\u003c")
    per_unit = options.get_float("QuotaPerUnit", 500000.0) or 500000.0
    html = f"""<!doctype html>
<html lang="{"zh-CN" if lang == "zh" else "en"}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(t(lang, title_key))} · {system}</title>
<link rel="stylesheet" href="{asset("console.css")}">
<script type="application/json" id="i18n">{strings}</script>
<script src="{asset("console.js")}" defer></script>
</head>
<body data-page="{name}" data-quota-per-unit="{per_unit}">
<header class="topbar">
<a class="brand" href="/">{system}</a>
<nav>{_nav(request, lang, active)}</nav>
<span class="lang" title="{escape(t(lang, "language"))}">{_lang_switch(request, lang)}</span>
</header>
<main>
<h1>{escape(t(lang, title_key))}</h1>
<p class="msg" role="alert" hidden></p>
{body}
</main>
</body>
</html>
"""
    return Response(html, status_code=status, media_type=MediaType.HTML, headers=HTML_HEADERS)


def _field(lang: str, name: str, key: str, kind: str = "text", extra: str = "") -> str:
    return f'<label>{escape(t(lang, key))}<input name="{name}" type="{kind}" {extra}></label>'


# -- pages ---------------------------------------------------------------------------------------


@get("/", include_in_schema=False)
async def home(request: Request[Any, Any, Any]) -> Redirect:
    if not host_of(request.app.state).setup_done:
        return Redirect("/setup")
    return Redirect("/console" if session_of(request) else "/login")


@get("/login", include_in_schema=False)
async def login_page(request: Request[Any, Any, Any]) -> Response[str]:
    lang = lang_of(request)
    body = f"""<form class="card" data-form="login">
{_field(lang, "username", "username", extra='required autocomplete="username"')}
{_field(lang, "password", "password", "password", 'required autocomplete="current-password"')}
<button type="submit">{escape(t(lang, "sign_in"))}</button>
<p>{escape(t(lang, "no_account"))} <a href="/register">{escape(t(lang, "register"))}</a></p>
</form>"""
    return page(request, "login", "login_title", body)


@get("/setup", include_in_schema=False)
async def setup_page(request: Request[Any, Any, Any]) -> Response[str]:
    lang = lang_of(request)
    if host_of(request.app.state).setup_done:
        link = f'<a href="/login">{escape(t(lang, "sign_in"))}</a>'
        body = f'<p class="card">{escape(t(lang, "setup_already"))} {link}</p>'
        return page(request, "setup", "setup_title", body)
    body = f"""<form class="card" data-form="setup">
<p>{escape(t(lang, "setup_intro"))}</p>
{_field(lang, "username", "username", extra='required autocomplete="username" value="root"')}
{_field(lang, "password", "password", "password", 'required autocomplete="new-password"')}
{_field(lang, "confirmPassword", "confirm_password", "password", 'required autocomplete="new-password"')}
<button type="submit">{escape(t(lang, "setup_submit"))}</button>
</form>"""
    return page(request, "setup", "setup_title", body)


@get("/register", include_in_schema=False)
async def register_page(request: Request[Any, Any, Any]) -> Response[str]:
    lang = lang_of(request)
    body = f"""<form class="card" data-form="register">
{_field(lang, "username", "username", extra='required autocomplete="username"')}
{_field(lang, "password", "password", "password", 'required autocomplete="new-password"')}
{_field(lang, "confirmPassword", "confirm_password", "password", 'required autocomplete="new-password"')}
<button type="submit">{escape(t(lang, "register"))}</button>
<p>{escape(t(lang, "have_account"))} <a href="/login">{escape(t(lang, "sign_in"))}</a></p>
</form>"""
    return page(request, "register", "register_title", body)


@get("/console", include_in_schema=False)
async def dashboard_page(request: Request[Any, Any, Any]) -> Response[str]:
    lang = lang_of(request)
    cards = "".join(
        f'<div class="card stat"><span>{escape(t(lang, key))}</span><strong data-stat="{key}">–</strong></div>'
        for key in ("balance", "used_quota", "request_count")
    )
    return page(request, "dashboard", "dashboard_title", f'<div class="stats">{cards}</div>', active="/console")


@get("/console/keys", include_in_schema=False)
async def keys_page(request: Request[Any, Any, Any]) -> Response[str]:
    lang = lang_of(request)
    heads = "".join(f"<th>{escape(t(lang, k))}</th>" for k in ("key_name", "key", "status", "remain_quota", "actions"))
    body = f"""<form class="card inline" data-form="token">
{_field(lang, "name", "key_name", extra='required maxlength="50"')}
<label class="check"><input name="unlimited_quota" type="checkbox" checked>{escape(t(lang, "unlimited_quota"))}</label>
{_field(lang, "remain_quota", "remain_quota_usd", "number", 'min="0" step="0.01" value="0"')}
<button type="submit">{escape(t(lang, "create_key"))}</button>
</form>
<div class="card newkey" hidden><p>{escape(t(lang, "new_key_once"))}</p>
<code data-newkey></code> <button type="button" data-copy>{escape(t(lang, "copy"))}</button></div>
<table><thead><tr>{heads}</tr></thead><tbody data-list="tokens">
<tr><td colspan="5">{escape(t(lang, "loading"))}</td></tr></tbody></table>"""
    return page(request, "keys", "keys_title", body, active="/console/keys")


@get("/console/plugins", include_in_schema=False)
async def plugins_page(request: Request[Any, Any, Any]) -> Response[str] | Redirect:
    lang = lang_of(request)
    if refused := _admin_only(request, lang):
        return refused
    keys = ("plugin_name", "distribution", "version", "provides", "load_error", "status", "settings")
    heads = "".join(f"<th>{escape(t(lang, k))}</th>" for k in keys)
    body = f"""<table><thead><tr>{heads}</tr></thead><tbody data-list="plugins">
<tr><td colspan="7">{escape(t(lang, "loading"))}</td></tr></tbody></table>"""
    return page(request, "plugins", "plugins_title", body, active="/console/plugins")


@get("/console/plugins/{name:str}", include_in_schema=False)
async def plugin_settings_page(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[str] | Redirect:
    """A form built in the browser from the plugin's settings JSON schema (root may save)."""
    lang = lang_of(request)
    if refused := _admin_only(request, lang):
        return refused
    body = f"""<p><a href="/console/plugins">{escape(t(lang, "back_to_plugins"))}</a> · <code>{escape(name)}</code></p>
<form class="card" data-form="plugin-settings" data-plugin="{escape(name, quote=True)}">
<div data-fields><p>{escape(t(lang, "loading"))}</p></div>
<button type="submit">{escape(t(lang, "save"))}</button>
</form>"""
    return page(request, "plugin-settings", "plugin_settings_title", body, active="/console/plugins")


@get("/console/logs", include_in_schema=False)
async def logs_page(request: Request[Any, Any, Any]) -> Response[str]:
    lang = lang_of(request)
    keys = (
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
    heads = "".join(f"<th>{escape(t(lang, k))}</th>" for k in keys)
    body = f"""<form class="card inline" data-form="log-filter">
{_field(lang, "model_name", "model_name", extra='maxlength="255"')}
{_field(lang, "token_name", "token_name", extra='maxlength="255"')}
{_field(lang, "start", "start_time", "datetime-local")}
{_field(lang, "end", "end_time", "datetime-local")}
<button type="submit">{escape(t(lang, "filter"))}</button>
</form>
<div class="card stat"><span>{escape(t(lang, "total_quota"))}</span><strong data-stat="total_quota">–</strong></div>
<table><thead><tr>{heads}</tr></thead><tbody data-list="logs">
<tr><td colspan="{len(keys)}">{escape(t(lang, "loading"))}</td></tr></tbody></table>
<p class="pager">
<button type="button" class="secondary" data-page="prev" disabled>{escape(t(lang, "prev_page"))}</button>
<span data-page-info></span>
<button type="button" class="secondary" data-page="next" disabled>{escape(t(lang, "next_page"))}</button></p>"""
    return page(request, "logs", "logs_title", body, active="/console/logs")


@get("/pricing", include_in_schema=False)
async def pricing_page(request: Request[Any, Any, Any]) -> Response[str]:
    lang = lang_of(request)
    keys = ("model_name", "billing_type", "input_price", "output_price", "call_price", "groups")
    heads = "".join(f"<th>{escape(t(lang, k))}</th>" for k in keys)
    search = escape(t(lang, "search_models"), quote=True)
    body = f"""<p><input type="search" data-search placeholder="{search}" aria-label="{search}"></p>
<table><thead><tr>{heads}</tr></thead><tbody data-list="pricing">
<tr><td colspan="{len(keys)}">{escape(t(lang, "loading"))}</td></tr></tbody></table>"""
    return page(request, "pricing", "pricing_title", body, active="/pricing")


# -- language switch and static files ------------------------------------------------------------


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


ROUTES = [
    home,
    login_page,
    setup_page,
    register_page,
    dashboard_page,
    keys_page,
    plugins_page,
    plugin_settings_page,
    logs_page,
    pricing_page,
    switch_language,
    static_file,
]
