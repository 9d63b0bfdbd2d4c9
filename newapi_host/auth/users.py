"""Creating users and finding the caller of a management request.

The console authenticates as New API's 2025 releases do: a cookie session set by login (which
the server can end, see :mod:`newapi_host.auth.sessions`), or the user's personal access token
in ``Authorization`` (``Bearer`` optional); either way the ``New-Api-User`` header must carry the
same user id, which stops a cross-site request from riding the cookie.
"""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection

from newapi_host.db.tables import ROLE_COMMON, ROLE_ROOT, USER_ENABLED, User

from .passwords import hash_password_async

_ALNUM = string.ascii_letters + string.digits


class AuthError(Exception):
    """Rejects a management request; ``status`` is the HTTP status New API uses for the case."""

    def __init__(self, message: str, status: int = 401) -> None:
        self.message, self.status = message, status
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class Caller:
    id: int
    username: str
    role: int
    status: int
    group: str
    by_access_token: bool = False


def random_key(length: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


async def create_user(
    username: str,
    password: str,
    *,
    role: int = ROLE_COMMON,
    display_name: str = "",
    quota: int = 0,
    group: str = "default",
) -> dict[str, Any]:
    user = User(
        username=username,
        password=await hash_password_async(password),
        display_name=display_name or username,
        role=role,
        status=USER_ENABLED,
        quota=quota,
        group=group,
        aff_code=random_key(4),
        created_at=int(time.time()),
    )
    await user.save()
    return user.to_dict()


async def root_exists() -> bool:
    return await User.exists().where((User.role == ROLE_ROOT) & User.deleted_at.is_null())


async def _load(**where: Any) -> dict[str, Any] | None:
    query = User.select(User.id, User.username, User.role, User.status, User.group, User.auth_version).where(
        User.deleted_at.is_null()
    )
    for column, value in where.items():
        query = query.where(getattr(User, column) == value)
    return await query.first()


async def session_user(connection: ASGIConnection[Any, Any, Any, Any]) -> tuple[int, int] | None:
    """(id, role) of the enabled user whose live session cookie came with the request, else None."""
    session = connection.scope.get("session") or {}
    if not session.get("id"):
        return None
    user = await _load(id=int(session["id"]))
    if user is None or user["auth_version"] != session.get("av") or user["status"] != USER_ENABLED:
        return None
    return int(user["id"]), int(user["role"])


async def caller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    """Authenticate a management request or raise :class:`AuthError`."""
    session = connection.scope.get("session") or {}
    user: dict[str, Any] | None = None
    by_token = False
    if session.get("id"):
        user = await _load(id=int(session["id"]))
        # The cookie backend already refused ended sessions by its per-worker cache; the row read
        # here makes a password change or role change exact at once, on every worker.
        if user is None or user["auth_version"] != session.get("av"):
            raise AuthError("Unauthorized, not logged in and no access token provided")
    else:
        auth = connection.headers.get("authorization", "")
        if not auth:
            raise AuthError("Unauthorized, not logged in and no access token provided")
        token = auth[7:] if auth.startswith("Bearer ") else auth
        user = await _load(access_token=token.strip()) if token.strip() else None
        if user is None:
            raise AuthError("Unauthorized, invalid access token", status=401)
        by_token = True
    header = connection.headers.get("new-api-user")
    if header is None:
        raise AuthError("Unauthorized, New-Api-User header not provided")
    try:
        header_id = int(header)
    except ValueError:
        raise AuthError("Unauthorized, New-Api-User header format error") from None
    if header_id != user["id"]:
        raise AuthError("Unauthorized, New-Api-User does not match logged in user")
    if user["status"] != USER_ENABLED:
        raise AuthError("User has been banned", status=403)
    return Caller(
        id=user["id"],
        username=user["username"],
        role=user["role"],
        status=user["status"],
        group=user["group"],
        by_access_token=by_token,
    )
