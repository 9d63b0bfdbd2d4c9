"""Redirect sign-in (OAuth and the like) for any login plugin whose method has ``kind="redirect"``.

Two ways in, both ending in the same binding of an :class:`Identity` to a user:

- ours: ``GET /api/oauth/{method}`` sends the browser to the provider (``LoginMethod.start``) with
  a one-time ``state`` and a per-attempt ``secret`` (for PKCE and nonces) kept in a short-lived
  http-only cookie; the provider comes back to ``GET /api/oauth/{method}/callback``, which ends
  in a page that goes on to ``/console`` on success (see :func:`_continue_page`), a redirect to
  ``/login?oauth_error=...`` otherwise;
- New API's: its front end asks ``GET /api/oauth/state`` (``?aff=`` keeps an invitation code),
  builds the provider's URL itself with ``redirect_uri`` ``<ServerAddress>/oauth/{method}``, and
  that page calls ``GET /api/oauth/{method}?code=&state=``, answered in JSON (the user's fields
  and a session on sign-in, ``{"action": "bind"}`` on a bind, 403 for a bad state).

Binding (:func:`bind_identity`, also the SDK's ``sign_in`` for methods with their own routes):

- signed in already: the account is linked to the signed-in user (New API's "bind");
- a user already linked: that user is signed in (unless disabled);
- otherwise, with ``RegisterEnabled``: a new common user is created (new-user quota, invitation
  code from ``aff``) and linked.

Besides the plugins' methods, root's custom OAuth providers (:mod:`.custom_oauth`) answer at
``/api/oauth/{slug}``; their accounts are linked under ``custom:<id>``.

Links live in ``login_identities``; New API's own methods also fill their ``users`` column
(``github_id``, ``oidc_id``, ...). A state works once, on every worker (the shared store counts it).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, route
from litestar.enums import MediaType
from litestar.params import FromPath
from litestar.response import Redirect

from newapi_host.auth.sessions import new_session
from newapi_host.auth.users import random_key
from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import ROLE_COMMON, USER_ENABLED, LoginIdentity, User
from newapi_host.host import Host, host_of
from newapi_host.plugins.contracts import Identity, LoginContext, LoginFailed, LoginMethod

from . import custom_oauth, twofa_flow
from .envelope import fail, ok
from .users import LIMITED, _insert_user, check_critical_rate

STATE_COOKIE = "oauth_state"
AFF_COOKIE = "oauth_aff"
STATE_TTL = 600
BIND_TICKET_TTL = 600
ANY_METHOD = "*"  # a state from GET /api/oauth/state serves whichever provider comes back
# New API's login methods and the users column each one fills, for scripts that read them.
USER_COLUMNS = {
    "github": User.github_id,
    "discord": User.discord_id,
    "oidc": User.oidc_id,
    "wechat": User.wechat_id,
    "telegram": User.telegram_id,
    "linuxdo": User.linux_do_id,
}
MSG_STATE = "state is empty or not same"
MSG_UNAVAILABLE = "This sign-in method is not available."


def method_available(host: Host, method: LoginMethod) -> bool:
    """The method's plugin is on and the method says it is switched on and configured."""
    if method.available is None:
        return True
    owner = host.registry.owner_of("login method", method.id)
    try:
        return bool(method.available(host.states.settings(owner) if owner else None))
    except Exception:  # a plugin's check that fails means "not available", never a 500
        return False


def available_methods(host: Host) -> list[LoginMethod]:
    return [m for m in host.registry.login_methods() if method_available(host, m)]


def _failed(message: str) -> Redirect:
    response = Redirect("/login?" + urlencode({"oauth_error": message}))
    response.delete_cookie(STATE_COOKIE, path="/api/oauth")
    return response


async def _redirect_method(request: Request[Any, Any, Any], method_id: str) -> LoginMethod | None:
    """The available redirect method at ``/api/oauth/{method_id}``: a plugin's, or else an enabled
    custom provider's (its ``id`` is then ``custom:<n>``, the key its accounts are linked under)."""
    host = host_of(request.app.state)
    method = host.registry.login_method(method_id)
    if method is None:
        return await custom_oauth.method_for(method_id)
    if method.kind != "redirect" or method.start is None:
        return None
    return method if method_available(host, method) else None


def public_base(request: Request[Any, Any, Any]) -> str:
    """The gateway's public address (``ServerAddress``, else the address the request came to)."""
    return (host_of(request.app.state).options.get("ServerAddress") or str(request.base_url)).rstrip("/")


def _context(
    request: Request[Any, Any, Any], method_id: str, state: str, secret: str, redirect_uri: str
) -> LoginContext:
    host = host_of(request.app.state)
    owner = host.registry.owner_of("login method", method_id)
    settings = host.states.settings(owner) if owner else None
    return LoginContext(redirect_uri=redirect_uri, state=state, settings=settings, secret=secret)


@dataclass(frozen=True, slots=True)
class Attempt:
    """A pending sign-in, as this browser's state cookie holds it (signed by the gateway).

    ``uid``/``av``/``sid``: who was signed in when it started. The provider's redirect back is a
    cross-site navigation, on which browsers do not send the (SameSite=Strict) session cookie; the
    attempt remembers the user so that linking an account works, and only while that session
    still stands.
    """

    method: str
    state: str
    secret: str = ""
    uid: int = 0
    av: int = 0
    sid: str = ""


def _mac(request: Request[Any, Any, Any], text: str) -> str:
    host = host_of(request.app.state)
    key = host.extras.get("oauth_state_key")
    if key is None:
        key = hashlib.sha256(b"oauth-state\n" + host.config.resolved_session_secret().encode()).digest()
        host.extras["oauth_state_key"] = key
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:32]


def _set_state_cookie(
    request: Request[Any, Any, Any], response: Response[Any], method: str, state: str, secret: str
) -> None:
    session = request.scope.get("session")
    signed_in = isinstance(session, dict) and session.get("id")
    uid, av, sid = (int(session["id"]), int(session["av"]), str(session["sid"])) if signed_in else (0, 0, "")
    text = f"{method}:{state}:{secret}:{uid}:{av}:{sid}"
    response.set_cookie(
        STATE_COOKIE,
        f"{text}:{_mac(request, text)}",
        max_age=STATE_TTL,
        path="/api/oauth",
        httponly=True,
        samesite="lax",  # the provider's redirect back is a cross-site top-level GET
        secure=host_of(request.app.state).config.session_cookie_secure,
    )


def _state_cookie(request: Request[Any, Any, Any]) -> Attempt | None:
    """This browser's pending attempt, when its cookie is one the gateway signed."""
    text, _, mac = request.cookies.get(STATE_COOKIE, "").rpartition(":")
    parts = text.split(":")
    if len(parts) != 6 or not secrets.compare_digest(_mac(request, text), mac):
        return None
    method, state, secret, uid, av, sid = parts
    if not (uid.isdigit() and av.lstrip("-").isdigit()):
        return None
    return Attempt(method, state, secret, int(uid), int(av), sid)


async def _state_matches(request: Request[Any, Any, Any], method_id: str, state: str) -> Attempt | None:
    """The pending attempt when ``state`` is this browser's, used now for the first time (on any
    worker); None otherwise."""
    attempt = _state_cookie(request)
    if attempt is None or not state or attempt.method not in (method_id, ANY_METHOD):
        return None
    if not secrets.compare_digest(attempt.state, state):
        return None
    allowed, _, _ = await host_of(request.app.state).wallets.store.hit(f"oauth-state:{state}", STATE_TTL, 1)
    return attempt if allowed else None


async def _starter(request: Request[Any, Any, Any], attempt: Attempt) -> int | None:
    """The user signed in now, or (the session cookie not sent on the way back) when the attempt
    started, if that session still stands."""
    session = request.scope.get("session")
    if isinstance(session, dict) and session.get("id"):
        return int(session["id"])
    if not attempt.uid:
        return None
    book = host_of(request.app.state).sessions
    started = {"id": attempt.uid, "av": attempt.av, "sid": attempt.sid}
    return attempt.uid if await book.valid(started) else None


@route("/api/oauth/state", http_method=["GET", "POST"], include_in_schema=False, status_code=200)
async def oauth_state(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """New API's ``GenerateOAuthCode``: a state for a provider URL the front end builds itself."""
    state = secrets.token_urlsafe(18)
    response = Response(ok(state))
    _set_state_cookie(request, response, ANY_METHOD, state, "")
    _remember_aff(request, response)
    return response


def _remember_aff(request: Request[Any, Any, Any], response: Response[Any]) -> None:
    aff = request.query_params.get("aff", "").strip()
    if aff and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", aff):
        response.set_cookie(AFF_COOKIE, aff, max_age=STATE_TTL, path="/api/oauth", httponly=True, samesite="lax")


@get("/api/oauth/{method_id:str}", include_in_schema=False, exception_handlers=LIMITED)
async def oauth_start(request: Request[Any, Any, Any], method_id: FromPath[str]) -> Response[Any]:
    """Ours without ``code``/``state``/``error``: off to the provider. New API's with them: JSON."""
    params = request.query_params
    if _widget_method(request, method_id) is not None:  # New API's /api/oauth/wechat?code=
        return await widget_login(request, method_id)
    if "code" in params or "state" in params or "error" in params:
        return await _complete_json(request, method_id)
    method = await _redirect_method(request, method_id)
    if method is None or method.start is None:
        return _failed(MSG_UNAVAILABLE)
    state, secret = secrets.token_urlsafe(24), secrets.token_urlsafe(32)
    redirect_uri = f"{public_base(request)}/api/oauth/{method_id}/callback"
    try:
        target = await method.start(_context(request, method_id, state, secret, redirect_uri))
    except LoginFailed as exc:
        return _failed(str(exc))
    response = Redirect(target)
    _set_state_cookie(request, response, method_id, state, secret)
    _remember_aff(request, response)
    return response


@get("/api/oauth/{method_id:str}/callback", include_in_schema=False, exception_handlers=LIMITED)
async def oauth_callback(request: Request[Any, Any, Any], method_id: FromPath[str]) -> Response[Any]:
    await check_critical_rate(request)
    method = await _redirect_method(request, method_id)
    if method is None:
        return _failed(MSG_UNAVAILABLE)
    params = dict(request.query_params)
    state = params.get("state", "")
    attempt = await _state_matches(request, method_id, state)
    if attempt is None:
        return _failed("The sign-in attempt expired or came from elsewhere; please try again.")
    redirect_uri = f"{public_base(request)}/api/oauth/{method_id}/callback"
    try:
        identity = await method.complete(_context(request, method_id, state, attempt.secret, redirect_uri), params)
    except LoginFailed as exc:
        return _failed(str(exc))
    outcome = await bind_identity(request, method.id, identity, await _starter(request, attempt))
    if isinstance(outcome, str):
        return _failed(outcome)
    user, action = outcome
    response: Response[Any] = (
        _continue_page("/console") if action != "require_2fa" else Redirect("/login?require_2fa=1")
    )
    if action == "require_2fa":
        _second_factor_cookie(request, response, user["flow_token"])
    response.delete_cookie(STATE_COOKIE, path="/api/oauth")
    return response


async def _complete_json(request: Request[Any, Any, Any], method_id: str) -> Response[dict[str, Any]]:
    """New API's ``HandleOAuth``: the front end's page hands over the provider's answer."""
    await check_critical_rate(request)
    host = host_of(request.app.state)
    known = host.registry.login_method(method_id) or await custom_oauth.method_for(method_id, enabled_only=False)
    if known is None or known.kind != "redirect":
        return Response(fail("Unknown OAuth provider"), status_code=400)
    state = request.query_params.get("state", "")
    attempt = await _state_matches(request, method_id, state)
    if attempt is None:
        return Response(fail(MSG_STATE), status_code=403)
    method = await _redirect_method(request, method_id)
    if method is None:
        return _json(fail(f"The administrator has not enabled sign-in through {known.name}"))
    params = dict(request.query_params)
    if params.get("error"):
        return _json(fail(params.get("error_description") or params["error"]))
    redirect_uri = f"{public_base(request)}/oauth/{method_id}"
    try:
        identity = await method.complete(_context(request, method_id, state, attempt.secret, redirect_uri), params)
    except LoginFailed as exc:
        return _json(fail(str(exc)))
    outcome = await bind_identity(request, method.id, identity, await _starter(request, attempt))
    if isinstance(outcome, str):
        return _json(fail(outcome))
    user, action = outcome
    if action == "bind":
        return _json(ok({"action": "bind"}, "bind"))
    if action == "require_2fa":
        response = _json(
            ok({"require_2fa": True, "flow_token": user["flow_token"]}, "Please enter the two-factor code")
        )
        _second_factor_cookie(request, response, user["flow_token"])
        return response
    return _json(ok({k: user[k] for k in ("id", "username", "display_name", "role", "status", "group")}))


def _widget_method(request: Request[Any, Any, Any], method_id: str) -> LoginMethod | None:
    host = host_of(request.app.state)
    method = host.registry.login_method(method_id)
    if method is None or method.kind != "widget":
        return None
    return method if method_available(host, method) else None


async def _widget_identity(request: Request[Any, Any, Any], method_id: str) -> Identity | str:
    """The identity in a widget payload, verified by the method and claimed once; or a message."""
    await check_critical_rate(request)
    method = _widget_method(request, method_id)
    if method is None:
        return "The administrator has not enabled this sign-in method"
    params = dict(request.query_params)
    try:
        identity = await method.complete(_context(request, method_id, "", "", ""), params)
    except LoginFailed as exc:
        return str(exc)
    payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    claim = hashlib.sha256(f"{method_id}\n{payload}".encode()).hexdigest()
    allowed, _, _ = await host_of(request.app.state).wallets.store.hit(f"oauth-widget:{claim}", 86400, 1)
    if not allowed:
        return "This sign-in was used already; please sign in again"
    return identity


@get("/api/oauth/{method_id:str}/login", include_in_schema=False, exception_handlers=LIMITED)
async def widget_login_route(request: Request[Any, Any, Any], method_id: FromPath[str]) -> Response[dict[str, Any]]:
    return await widget_login(request, method_id)


async def widget_login(request: Request[Any, Any, Any], method_id: str) -> Response[dict[str, Any]]:
    """New API's ``/api/oauth/telegram/login``: the widget's signed payload signs in (or up)."""
    identity = await _widget_identity(request, method_id)
    if isinstance(identity, str):
        return Response(fail(identity))
    session = request.scope.get("session")
    if isinstance(session, dict) and session.get("id"):
        request.clear_session()  # signing in here is never a bind: that is /bind
        request.scope["session"] = {}
    outcome = await bind_identity(request, method_id, identity)
    if isinstance(outcome, str):
        return Response(fail(outcome))
    user, action = outcome
    if action == "require_2fa":
        response = Response(ok({"require_2fa": True, "flow_token": user["flow_token"]}))
        _second_factor_cookie(request, response, user["flow_token"])
        return response
    return Response(ok({k: user[k] for k in ("id", "username", "display_name", "role", "status", "group")}))


@get("/api/oauth/{method_id:str}/bind", include_in_schema=False, exception_handlers=LIMITED)
async def widget_bind(request: Request[Any, Any, Any], method_id: FromPath[str]) -> Response[Any]:
    """New API's ``/api/oauth/telegram/bind`` and ``/api/oauth/wechat/bind``: link the account.

    A browser that navigated here (Telegram's widget) goes back to the console; a script (New
    API's page binding WeChat) gets JSON.
    """
    session = request.scope.get("session")
    if not (isinstance(session, dict) and session.get("id")):
        return Response(fail("Unauthorized, not logged in"), status_code=401)
    identity = await _widget_identity(request, method_id)
    if isinstance(identity, str):
        return Response(fail(identity))
    outcome = await bind_identity(request, method_id, identity)
    if isinstance(outcome, str):
        return Response(fail(outcome))
    if "text/html" in request.headers.get("accept", ""):
        return Redirect("/console")
    return Response(ok(None, "bind"))


def bind_ticket(request: Request[Any, Any, Any], method_id: str) -> str | None:
    """A one-time ticket that links a widget account to the signed-in user, for the widget's
    callback address (``/api/oauth/{method}/bind/{ticket}``).

    Telegram's widget sends the browser back from telegram.org: a cross-site navigation, which
    arrives without the SameSite=Strict session cookie. The ticket stands in for it: signed by
    the gateway, naming the user and the session it was made in (which must still stand), good
    for ``BIND_TICKET_TTL`` seconds and once. Knowing it is what a forged link lacks: without a
    ticket (or the cookie) nobody can link their Telegram account to someone else's user.
    """
    session = request.scope.get("session")
    if not (isinstance(session, dict) and session.get("id")):
        return None
    text = f"{int(session['id'])}.{int(session['av'])}.{session['sid']}.{int(time.time()) + BIND_TICKET_TTL}"
    text += f".{secrets.token_urlsafe(9)}"
    return f"{text}.{_mac(request, f'bind:{method_id}:{text}')}"


async def _ticket_holder(request: Request[Any, Any, Any], method_id: str, ticket: str) -> int | str:
    """The user a bind ticket was made for, the ticket spent now; or why it is refused."""
    text, _, mac = ticket.rpartition(".")
    parts = text.split(".")
    expired = "This link has expired; open the security page and link again"
    if len(parts) != 5 or not secrets.compare_digest(_mac(request, f"bind:{method_id}:{text}"), mac):
        return expired
    uid, av, sid, until, nonce = parts
    if not (uid.isdigit() and av.lstrip("-").isdigit() and until.isdigit()) or int(until) < time.time():
        return expired
    if not await host_of(request.app.state).sessions.valid({"id": int(uid), "av": int(av), "sid": sid}):
        return expired
    store = host_of(request.app.state).wallets.store
    allowed, _, _ = await store.hit(f"oauth-bind-ticket:{nonce}", BIND_TICKET_TTL * 2, 1)
    return int(uid) if allowed else "This link was used already; open the security page and link again"


def _continue_page(target: str) -> Response[str]:
    """Go on to ``target`` (a path here) from a page of this site (meta refresh), not by a redirect.

    The browser came from another site (the provider's approval page, telegram.org): a redirect
    would still be part of that cross-site navigation, and the browser would leave the
    SameSite=Strict session cookie home on it, so the user would look signed out. A navigation
    this site's page starts carries it.
    """
    href = html.escape(target, quote=True)
    body = (
        f'<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url={href}">'
        f'<title>…</title><a href="{href}">Continue</a>'
    )
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    return Response(body, media_type=MediaType.HTML, headers=headers)


def _back_to_security(message: str = "") -> Response[str]:
    return _continue_page("/console/security" + ("?" + urlencode({"bind_error": message}) if message else ""))


@get("/api/oauth/{method_id:str}/bind/{ticket:str}", include_in_schema=False, exception_handlers=LIMITED)
async def widget_bind_ticket(
    request: Request[Any, Any, Any], method_id: FromPath[str], ticket: FromPath[str]
) -> Response[str]:
    """The widget's callback for linking (see :func:`bind_ticket`); back to the security page."""
    holder = await _ticket_holder(request, method_id, ticket) if _widget_method(request, method_id) else None
    if holder is None:
        return _back_to_security(MSG_UNAVAILABLE)
    if isinstance(holder, str):
        return _back_to_security(holder)
    session = request.scope.get("session")
    if isinstance(session, dict) and session.get("id") and int(session["id"]) != holder:
        return _back_to_security("This link belongs to another user")
    identity = await _widget_identity(request, method_id)
    if isinstance(identity, str):
        return _back_to_security(identity)
    outcome = await bind_identity(request, method_id, identity, holder)
    if isinstance(outcome, str):
        return _back_to_security(outcome)
    return _back_to_security()


def _json(body: dict[str, Any]) -> Response[dict[str, Any]]:
    response = Response(body)
    response.delete_cookie(STATE_COOKIE, path="/api/oauth")
    return response


async def _linked_user(method_id: str, subject: str) -> int | None:
    row = (
        await LoginIdentity.select(LoginIdentity.user_id)
        .where((LoginIdentity.method == method_id) & (LoginIdentity.subject == subject))
        .first()
    )
    if row is not None:
        return int(row["user_id"])
    column = USER_COLUMNS.get(method_id)
    if column is not None:
        user = await User.select(User.id).where((column == subject) & User.deleted_at.is_null()).first()
        if user is not None:
            return int(user["id"])
    return None


async def _link(method_id: str, subject: str, user_id: int) -> None:
    """Link, replacing the user's earlier account of this method (New API keeps one per method)."""
    await LoginIdentity.delete().where((LoginIdentity.method == method_id) & (LoginIdentity.user_id == user_id))
    await LoginIdentity.insert(
        LoginIdentity(method=method_id, subject=subject, user_id=user_id, created_at=int(time.time()))
    )
    if (column := USER_COLUMNS.get(method_id)) is not None:
        await User.update({column: subject}).where(User.id == user_id)


async def unlink(method_id: str, user_id: int) -> bool:
    """Remove the user's account of this method (the ``users`` column too); whether there was one."""
    async with write_transaction():
        had = await LoginIdentity.exists().where(
            (LoginIdentity.method == method_id) & (LoginIdentity.user_id == user_id)
        )
        await LoginIdentity.delete().where((LoginIdentity.method == method_id) & (LoginIdentity.user_id == user_id))
        if (column := USER_COLUMNS.get(method_id)) is not None:
            row = await User.select(column).where(User.id == user_id).first()
            had = had or bool(row and row[column._meta.name])
            await User.update({column: ""}).where(User.id == user_id)
    return had


async def bind_identity(
    request: Request[Any, Any, Any], method_id: str, identity: Identity, signed_in: int | None = None
) -> tuple[dict[str, Any], str] | str:
    """Bind, sign in or sign up; ``(user row, "bind" | "login" | "register" | "require_2fa")`` or
    a message.

    ``signed_in``: the user whose attempt this is when the session cookie did not come along
    (see :class:`Attempt`). On "login" and "register" the request's session is set to the user; a
    user with two-factor on gets no session but a flow (``user["flow_token"]``) to finish at
    ``POST /api/user/login/2fa``.
    """
    if not identity.subject and identity.user_id is None:
        return "The sign-in provider did not say who you are."
    session = request.scope.get("session")
    current = int(session["id"]) if isinstance(session, dict) and session.get("id") else signed_in
    action = "login"
    async with write_transaction():
        user_id = identity.user_id or await _linked_user(method_id, identity.subject)
        if current is not None:
            if user_id is not None and user_id != current:
                return "This account is already linked to another user."
            if user_id is None:
                await _link(method_id, identity.subject, current)
            user_id, action = current, "bind"
    if user_id is None:
        if not host_of(request.app.state).options.get_bool("RegisterEnabled"):
            return "New registrations are closed; ask an administrator for an account."
        created = await _insert_user(
            request,
            username=await _free_username(identity),
            password=random_key(32),
            display_name=(identity.display_name or identity.username)[:20],
            role=ROLE_COMMON,
            email=identity.email.strip().lower()[:50],
            aff_code=request.cookies.get(AFF_COOKIE, ""),
        )
        if isinstance(created, str):
            return created
        async with write_transaction():
            if await _linked_user(method_id, identity.subject) is not None:
                return "This account was linked at the same moment; please sign in again."
            await _link(method_id, identity.subject, created)
        user_id, action = created, "register"
    user = await User.select().where((User.id == user_id) & User.deleted_at.is_null()).first()
    if user is None:
        return "The linked user no longer exists."
    if user["status"] != USER_ENABLED:
        return "This user has been disabled."
    if action != "bind":
        if await twofa_flow.required(user["id"]):  # the second factor still stands between
            store = host_of(request.app.state).wallets.store
            token = await twofa_flow.begin(store, user["id"], user["auth_version"])
            return {**user, "flow_token": token}, "require_2fa"
        request.set_session(new_session(user))
        await User.update({User.last_login_at: int(time.time())}).where(User.id == user["id"])
    return user, action


def _second_factor_cookie(request: Request[Any, Any, Any], response: Response[Any], token: str) -> None:
    response.set_cookie(
        twofa_flow.FLOW_COOKIE,
        token,
        max_age=twofa_flow.FLOW_TTL,
        path="/api/user",
        httponly=True,
        samesite="lax",
        secure=host_of(request.app.state).config.session_cookie_secure,
    )


async def _free_username(identity: Identity) -> str:
    """The provider's user name made safe (New API allows 20 characters), unique among users."""
    base = re.sub(r"[^A-Za-z0-9_.-]", "", identity.username or "")[:14]
    base = base or re.sub(r"[^A-Za-z0-9_]", "", f"{identity.method}_user")[:14]
    name = base
    for _ in range(10):
        if not await User.exists().where((User.username == name) | (User.email == name)):
            return name
        name = f"{base}_{random_key(5).lower()}"
    return f"u_{random_key(12).lower()}"


ROUTES = [oauth_state, oauth_start, oauth_callback, widget_login_route, widget_bind, widget_bind_ticket]
