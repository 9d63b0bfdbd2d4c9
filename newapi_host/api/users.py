"""Console sign-in: ``/api/user/login``, ``/api/user/logout`` and the personal access token.

The rest of the user API (registration, self-service, admin management) is built on these.
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import HTTPException

from newapi_host.auth.guards import user_auth
from newapi_host.auth.users import random_key
from newapi_host.db.tables import User
from newapi_host.host import host_of
from newapi_host.plugins.contracts import LoginContext, LoginFailed

from .envelope import fail, json_object, ok

MSG_PASSWORD_LOGIN_OFF = "Password login has been disabled by administrator"


@post("/api/user/login", status_code=200)
async def login(request: Request[Any, Any, Any]) -> dict[str, Any]:
    host = host_of(request.app.state)
    method = host.registry.login_method("password")
    if method is None or not host.options.get_bool("PasswordLoginEnabled"):
        return fail(MSG_PASSWORD_LOGIN_OFF)
    body = await json_object(request)
    if body is None:
        return fail("Invalid parameters")
    fields = {k: v for k, v in body.items() if isinstance(v, str)}
    try:
        identity = await method.complete(
            LoginContext(redirect_uri="", state="", settings=host.states.settings("password")), fields
        )
    except LoginFailed as exc:
        return fail(str(exc))
    user = (
        await User.select(User.id, User.username, User.display_name, User.role, User.status, User.group)
        .where(User.id == identity.user_id)
        .first()
    )
    if user is None:
        return fail("Username or password is incorrect, or user has been banned")
    await User.update({User.last_login_at: int(time.time())}).where(User.id == user["id"])
    request.set_session({k: user[k] for k in ("id", "username", "role", "status", "group")})
    return ok({k: user[k] for k in ("id", "username", "display_name", "role", "status", "group")})


@get("/api/user/logout")
async def logout(request: Request[Any, Any, Any]) -> dict[str, Any]:
    request.clear_session()
    return ok()


@get("/api/user/token", guards=[user_auth])
async def generate_access_token(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Issue a new personal access token for scripts (replaces the previous one)."""
    caller = request.state.caller
    for _ in range(5):
        token = random_key(32)
        if not await User.exists().where(User.access_token == token):
            await User.update({User.access_token: token}).where(User.id == caller.id)
            return ok(token)
    raise HTTPException(status_code=500, detail="could not generate a unique access token")


ROUTES = [login, logout, generate_access_token]
