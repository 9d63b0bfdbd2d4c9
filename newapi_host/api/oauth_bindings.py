"""Sign-in accounts linked to a user: list and unlink, for the user and for admins.

New API's routes: ``GET /api/user/oauth/bindings``, ``DELETE /api/user/oauth/bindings/{provider}``,
the admin's ``GET /api/user/{id}/oauth/bindings``, ``DELETE /api/user/{id}/oauth/bindings/{provider}``
and ``DELETE /api/user/{id}/bindings/{type}``. New API numbers its custom providers, and so do we
(``provider_id`` is the row's id, ``provider_slug`` its slug); every other login method (built-in
or a plugin's) is named by its id (``github``, ``oidc``, ...) in both fields. Unlinking clears the
``users`` column as well.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get
from litestar.params import FromPath

from newapi_host.auth.guards import admin_auth, user_auth
from newapi_host.db.tables import ROLE_ROOT, LoginIdentity, User
from newapi_host.host import host_of

from . import custom_oauth
from .envelope import fail, ok
from .oauth import USER_COLUMNS, unlink

MSG_NOT_FOUND = "user does not exist"
MSG_NO_PERMISSION = "no permission"


async def bindings_of(request: Request[Any, Any, Any], user_id: int) -> list[dict[str, Any]]:
    host = host_of(request.app.state)
    names = {m.id: (m.name, m.icon) for m in host.registry.login_methods()}
    found: dict[str, dict[str, Any]] = {}
    rows = await LoginIdentity.select().where(LoginIdentity.user_id == user_id).order_by(LoginIdentity.id)
    for row in rows:
        found[row["method"]] = {"subject": row["subject"], "created_at": row["created_at"]}
    user = await User.select(*USER_COLUMNS.values()).where(User.id == user_id).first() or {}
    for method, column in USER_COLUMNS.items():  # set by New API itself, before the import
        value = user.get(column._meta.name)
        if value and method not in found:
            found[method] = {"subject": value, "created_at": 0}
    custom = await custom_oauth.providers_by_key(list(found))
    listed = []
    for method, link in found.items():
        if method.startswith(custom_oauth.PREFIX):
            provider = custom.get(method)
            if provider is None:  # its provider was deleted
                continue
            ident: int | str = provider["id"]
            slug, name, icon = provider["slug"], provider["name"], provider["icon"]
        else:
            ident, slug, (name, icon) = method, method, names.get(method, (method, ""))
        listed.append(
            {
                "provider_id": ident,
                "provider_slug": slug,
                "provider_name": name,
                "provider_icon": icon,
                "provider_user_id": link["subject"],
                "created_at": link["created_at"],
            }
        )
    return listed


@get("/api/user/oauth/bindings", guards=[user_auth])
async def my_bindings(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return ok(await bindings_of(request, request.state.caller.id))


@delete("/api/user/oauth/bindings/{provider:str}", guards=[user_auth], status_code=200)
async def unbind_mine(request: Request[Any, Any, Any], provider: FromPath[str]) -> dict[str, Any]:
    if not await unlink(custom_oauth.link_key(provider), request.state.caller.id):
        return fail("this account is not linked")
    return ok(None, "unbound")


async def _target(request: Request[Any, Any, Any], user_id: int) -> str | None:
    """None when the caller may manage this user, else why not."""
    row = await User.select(User.role).where((User.id == user_id) & User.deleted_at.is_null()).first()
    if row is None:
        return MSG_NOT_FOUND
    caller = request.state.caller
    if caller.role < ROLE_ROOT and caller.role <= row["role"]:
        return MSG_NO_PERMISSION
    return None


@get("/api/user/{user_id:int}/oauth/bindings", guards=[admin_auth])
async def user_bindings(request: Request[Any, Any, Any], user_id: FromPath[int]) -> dict[str, Any]:
    if (problem := await _target(request, user_id)) is not None:
        return fail(problem)
    return ok(await bindings_of(request, user_id))


@delete("/api/user/{user_id:int}/oauth/bindings/{provider:str}", guards=[admin_auth], status_code=200)
async def unbind_user(
    request: Request[Any, Any, Any], user_id: FromPath[int], provider: FromPath[str]
) -> dict[str, Any]:
    if (problem := await _target(request, user_id)) is not None:
        return fail(problem)
    if not await unlink(custom_oauth.link_key(provider), user_id):
        return fail("this account is not linked")
    return ok(None, "unbound")


@delete("/api/user/{user_id:int}/bindings/{binding_type:str}", guards=[admin_auth], status_code=200)
async def clear_binding(
    request: Request[Any, Any, Any], user_id: FromPath[int], binding_type: FromPath[str]
) -> dict[str, Any]:
    """New API's admin "clear binding" (github, oidc, linuxdo, telegram, wechat, discord, email)."""
    if (problem := await _target(request, user_id)) is not None:
        return fail(problem)
    if binding_type == "email":
        await User.update({User.email: ""}).where(User.id == user_id)
    elif binding_type == "linux_do":
        await unlink("linuxdo", user_id)
    else:
        await unlink(binding_type, user_id)
    return ok()


ROUTES = [my_bindings, unbind_mine, user_bindings, unbind_user, clear_binding]
