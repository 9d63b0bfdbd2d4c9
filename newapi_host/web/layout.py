"""The frame every console page shares: top bar, navigation, language switch, assets, role checks.

Pages are plain f-strings with every dynamic value passed through ``escape``; the browser fills
tables and forms by calling the ``/api`` routes (``core.js`` plus one script per page).
"""

from __future__ import annotations

import hashlib
import json
from html import escape
from pathlib import Path
from typing import Any

from litestar import Request, Response
from litestar.enums import MediaType
from litestar.response import Redirect

from newapi_host.db.tables import ROLE_ADMIN
from newapi_host.host import host_of

from .i18n import LANGS, TRANSLATIONS, lang_of, t

STATIC_DIR = Path(__file__).parent / "static"
CONTENT_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
# Served files are fixed at import: a request names one of these, never a path on disk.
STATIC_FILES: dict[str, bytes] = {
    p.name: p.read_bytes() for p in sorted(STATIC_DIR.iterdir()) if p.is_file() and p.suffix in CONTENT_TYPES
}
STATIC_ETAGS = {name: hashlib.sha256(data).hexdigest()[:16] for name, data in STATIC_FILES.items()}
HTML_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}

# (href, label key): what a signed-in user sees, then what an admin sees in addition.
USER_NAV = (
    ("/console", "nav_dashboard"),
    ("/console/keys", "nav_keys"),
    ("/console/logs", "nav_logs"),
    ("/console/drawings", "nav_drawings"),
    ("/console/tasks", "nav_tasks"),
    ("/console/wallet", "nav_wallet"),
    ("/console/security", "nav_security"),
    ("/console/playground", "nav_playground"),
    ("/pricing", "nav_pricing"),
)
ADMIN_NAV = (
    ("/console/channels", "nav_channels"),
    ("/console/users", "nav_users"),
    ("/console/redemptions", "nav_redemptions"),
    ("/console/topups", "nav_topups"),
    ("/console/settings", "nav_settings"),
    ("/console/plugins", "nav_plugins"),
)
ANON_NAV = (("/pricing", "nav_pricing"), ("/login", "sign_in"), ("/register", "register"))


def session_of(request: Request[Any, Any, Any]) -> dict[str, Any] | None:
    """The signed-in user's cookie session (``id``, ``username``, ``role``, ...), or None."""
    session = request.scope.get("session")
    return session if isinstance(session, dict) and session.get("id") else None


def is_admin(session: dict[str, Any] | None) -> bool:
    return session is not None and int(session.get("role") or 0) >= ROLE_ADMIN


def signed_in_only(request: Request[Any, Any, Any]) -> Redirect | None:
    """None for a signed-in caller; otherwise a redirect to the sign-in page."""
    return None if session_of(request) else Redirect("/login")


def admin_only(request: Request[Any, Any, Any]) -> Response[str] | Redirect | None:
    """None for an admin; otherwise the answer: sign in first, or a 403 page."""
    session = session_of(request)
    if session is None:
        return Redirect("/login")
    if not is_admin(session):
        lang = lang_of(request)
        body = f'<p class="card">{escape(t(lang, "forbidden_text"))}</p>'
        return page(request, "forbidden", "forbidden_title", body, status=403)
    return None


def asset(name: str) -> str:
    return f"/console-static/{name}?v={STATIC_ETAGS[name]}"


def _nav(request: Request[Any, Any, Any], lang: str, active: str) -> str:
    session = session_of(request)
    links = (USER_NAV + ADMIN_NAV if is_admin(session) else USER_NAV) if session else ANON_NAV
    items = "".join(
        f'<a href="{href}"{" class=active" if href == active else ""}>{escape(t(lang, key))}</a>' for href, key in links
    )
    return items


def _account(request: Request[Any, Any, Any], lang: str) -> str:
    """Who is signed in, and the sign-out link (right side of the top bar)."""
    session = session_of(request)
    if not session:
        return ""
    name = escape(str(session.get("username") or ""))
    sign_out = escape(t(lang, "sign_out"))
    return f'<span class="account"><span>{name}</span> <a href="/login" data-logout>{sign_out}</a></span>'


def _lang_switch(request: Request[Any, Any, Any], lang: str) -> str:
    here = escape(request.url.path, quote=True)
    labels = {"en": "EN", "zh": "中文"}
    return " / ".join(
        f'<a href="/console-lang?lang={code}&amp;next={here}" hreflang="{code}"'
        f"{' class=active' if code == lang else ''}>{labels[code]}</a>"
        for code in LANGS
    )


def page(
    request: Request[Any, Any, Any],
    name: str,
    title_key: str,
    body: str,
    *,
    status: int = 200,
    active: str = "",
    script: str | None = None,
) -> Response[str]:
    """A whole HTML page: top bar (logo, system name, navigation, language switch) and ``body``.

    ``script`` names the page's own file in ``static/`` (loaded after ``core.js``).
    """
    lang = lang_of(request)
    options = host_of(request.app.state).options
    system = escape(options.get("SystemName") or "New API")
    logo_url = options.get("Logo") or ""
    logo = f'<img class="logo" src="{escape(logo_url, quote=True)}" alt="">' if safe_image(logo_url) else ""
    strings = json.dumps(TRANSLATIONS[lang], ensure_ascii=False).replace("<", "\\u003c")
    per_unit = options.get_float("QuotaPerUnit", 500000.0) or 500000.0
    session = session_of(request)
    user_id = int(session["id"]) if session else ""  # core.js sends it as New-Api-User
    role = int(session.get("role") or 0) if session else 0  # scripts hide what the API would refuse
    scripts = f'<script src="{asset("core.js")}" defer></script>'
    if script:
        scripts += f'\n<script src="{asset(script)}" defer></script>'
    html = f"""<!doctype html>
<html lang="{"zh-CN" if lang == "zh" else "en"}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(t(lang, title_key))} · {system}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{asset("console.css")}">
<script type="application/json" id="i18n">{strings}</script>
{scripts}
</head>
<body data-page="{name}" data-quota-per-unit="{per_unit}" data-user-id="{user_id}" data-role="{role}">
<header class="topbar">
<a class="brand" href="/">{logo}{system}</a>
<nav>{_nav(request, lang, active)}</nav>
{_account(request, lang)}
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


def safe_image(url: str) -> bool:
    """Only a site path or an https/data: image: never ``javascript:`` or the like."""
    return url.startswith(("/", "https://", "data:image/")) and not url.startswith("//")


def field(lang: str, name: str, key: str, kind: str = "text", extra: str = "") -> str:
    """A labelled ``<input>``; ``key`` is the label's translation key."""
    return f'<label>{escape(t(lang, key))}<input name="{name}" type="{kind}" {extra}></label>'


def table(lang: str, list_name: str, head_keys: tuple[str, ...] | list[str]) -> str:
    """An empty table the page script fills: ``<tbody data-list=list_name>`` shows "Loading" first."""
    heads = "".join(f"<th>{escape(t(lang, k))}</th>" for k in head_keys)
    return (
        f'<table><thead><tr>{heads}</tr></thead><tbody data-list="{list_name}">'
        f'<tr><td colspan="{len(head_keys)}">{escape(t(lang, "loading"))}</td></tr></tbody></table>'
    )


def pager(lang: str, name: str = "", *, hidden: bool = False, total: bool = False) -> str:
    """The paging row ``NA.pager`` drives: prev, "page / pages", next, in ``<p data-pager=name>``.

    ``hidden``: shown only once there is a second page; ``total``: adds a "(total)" count.
    """
    attrs = f' data-pager="{escape(name, quote=True)}"' + (" hidden" if hidden else "")
    count = "<span data-total></span>" if total else ""
    return (
        f'<p class="pager"{attrs}>'
        f'<button type="button" class="secondary" data-page="prev" disabled>{text(lang, "prev_page")}</button>'
        "<span data-page-info></span>"
        f'<button type="button" class="secondary" data-page="next" disabled>{text(lang, "next_page")}</button>'
        f"{count}</p>"
    )


def text(lang: str, key: str) -> str:
    """A translated string, HTML-escaped."""
    return escape(t(lang, key))
