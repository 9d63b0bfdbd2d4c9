"""Redirect sign-in (OAuth and the like) for any login plugin whose method has ``kind="redirect"``.

``GET /api/oauth/{method}`` sends the browser to the provider (``LoginMethod.start``) with a
one-time ``state`` kept in a short-lived cookie; the provider sends it back to
``GET /api/oauth/{method}/callback``, where ``LoginMethod.complete`` turns the query into an
:class:`Identity`. The host then binds that identity to a user:

- signed in already: the account is linked to the signed-in user (New API's "bind");
- a user already linked: that user is signed in (unless disabled);
- otherwise, with ``RegisterEnabled``: a new common user is created and linked.

Links live in ``login_identities``; New API's own methods also fill their ``users`` column
(``github_id``, ``oidc_id``, ...). Every outcome ends in a redirect: ``/console`` on success,
``/login?oauth_error=...`` with a readable message otherwise.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from litestar import Request, get
from litestar.params import FromPath
from litestar.response import Redirect

from newapi_host.auth.sessions import new_session
from newapi_host.auth.users import random_key
from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import ROLE_COMMON, USER_ENABLED, LoginIdentity, User
from newapi_host.host import host_of
from newapi_host.plugins.contracts import Identity, LoginContext, LoginFailed, LoginMethod

from .users import LIMITED, _insert_user, check_critical_rate

STATE_COOKIE = "oauth_state"
STATE_TTL = 600
# New API's login methods and the users column each one fills, for scripts that read them.
USER_COLUMNS = {
    "github": User.github_id,
    "discord": User.discord_id,
    "oidc": User.oidc_id,
    "wechat": User.wechat_id,
    "telegram": User.telegram_id,
    "linuxdo": User.linux_do_id,
}


def _failed(message: str) -> Redirect:
    response = Redirect("/login?" + urlencode({"oauth_error": message}))
    response.delete_cookie(STATE_COOKIE, path="/api/oauth")
    return response


def _redirect_method(request: Request[Any, Any, Any], method_id: str) -> LoginMethod | None:
    method = host_of(request.app.state).registry.login_method(method_id)
    return method if method is not None and method.kind == "redirect" and method.start is not None else None


def _context(request: Request[Any, Any, Any], method_id: str, state: str) -> LoginContext:
    host = host_of(request.app.state)
    base = (host.options.get("ServerAddress") or str(request.base_url)).rstrip("/")
    owner = host.registry.owner_of("login method", method_id)
    settings = host.states.settings(owner) if owner else None
    return LoginContext(redirect_uri=f"{base}/api/oauth/{method_id}/callback", state=state, settings=settings)


@get("/api/oauth/{method_id:str}", include_in_schema=False)
async def oauth_start(request: Request[Any, Any, Any], method_id: FromPath[str]) -> Redirect:
    method = _redirect_method(request, method_id)
    if method is None or method.start is None:
        return _failed("This sign-in method is not available.")
    state = secrets.token_urlsafe(24)
    try:
        target = await method.start(_context(request, method_id, state))
    except LoginFailed as exc:
        return _failed(str(exc))
    response = Redirect(target)
    response.set_cookie(
        STATE_COOKIE,
        f"{method_id}:{state}",
        max_age=STATE_TTL,
        path="/api/oauth",
        httponly=True,
        samesite="lax",  # the provider's redirect back is a cross-site top-level GET
        secure=host_of(request.app.state).config.session_cookie_secure,
    )
    return response


@get("/api/oauth/{method_id:str}/callback", include_in_schema=False, exception_handlers=LIMITED)
async def oauth_callback(request: Request[Any, Any, Any], method_id: FromPath[str]) -> Redirect:
    await check_critical_rate(request)
    method = _redirect_method(request, method_id)
    if method is None:
        return _failed("This sign-in method is not available.")
    params = dict(request.query_params)
    expected = request.cookies.get(STATE_COOKIE, "")
    state = params.get("state", "")
    if not state or not secrets.compare_digest(expected, f"{method_id}:{state}"):
        return _failed("The sign-in attempt expired or came from elsewhere; please try again.")
    try:
        identity = await method.complete(_context(request, method_id, state), params)
    except LoginFailed as exc:
        return _failed(str(exc))
    if not identity.subject and identity.user_id is None:
        return _failed("The sign-in provider did not say who you are.")
    outcome = await _bind(request, method_id, identity)
    if isinstance(outcome, str):
        return _failed(outcome)
    request.set_session(new_session(outcome))
    await User.update({User.last_login_at: int(time.time())}).where(User.id == outcome["id"])
    response = Redirect("/console")
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
    await LoginIdentity.insert(
        LoginIdentity(method=method_id, subject=subject, user_id=user_id, created_at=int(time.time()))
    )
    if (column := USER_COLUMNS.get(method_id)) is not None:
        await User.update({column: subject}).where(User.id == user_id)


async def _bind(request: Request[Any, Any, Any], method_id: str, identity: Identity) -> dict[str, Any] | str:
    """The user this identity signs in as (linking or creating one), or a message."""
    session = request.scope.get("session")
    current = int(session["id"]) if isinstance(session, dict) and session.get("id") else None
    async with write_transaction():
        user_id = identity.user_id or await _linked_user(method_id, identity.subject)
        if current is not None:
            if user_id is not None and user_id != current:
                return "This account is already linked to another user."
            if user_id is None:
                await _link(method_id, identity.subject, current)
            user_id = current
    if user_id is None:
        if not host_of(request.app.state).options.get_bool("RegisterEnabled"):
            return "New registrations are closed; ask an administrator for an account."
        created = await _insert_user(
            request,
            username=await _free_username(identity),
            password=random_key(32),
            display_name=(identity.display_name or identity.username)[:20],
            role=ROLE_COMMON,
            email="",
        )
        if isinstance(created, str):
            return created
        async with write_transaction():
            if await _linked_user(method_id, identity.subject) is not None:
                return "This account was linked at the same moment; please sign in again."
            await _link(method_id, identity.subject, created)
        user_id = created
    user = await User.select().where((User.id == user_id) & User.deleted_at.is_null()).first()
    if user is None:
        return "The linked user no longer exists."
    if user["status"] != USER_ENABLED:
        return "This user has been disabled."
    return user


async def _free_username(identity: Identity) -> str:
    """The provider's user name made safe (New API allows 20 characters), unique among users."""
    base = re.sub(r"[^A-Za-z0-9_.-]", "", identity.username or "")[:14] or f"{identity.method}_user"[:14]
    name = base
    for _ in range(10):
        if not await User.exists().where((User.username == name) | (User.email == name)):
            return name
        name = f"{base}_{random_key(5).lower()}"
    return f"u_{random_key(12).lower()}"


ROUTES = [oauth_start, oauth_callback]
