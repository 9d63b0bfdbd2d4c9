"""Console sessions: encrypted client-side cookies that the server can still end.

A session holds the user's id, a random session id (``sid``) and the user's ``auth_version``
when they signed in (``av``). A cookie counts as signed in only while

* its ``sid`` is not revoked: logout records it in ``revoked_sessions`` (shared by every worker
  and node through the database; each worker keeps the set in memory and reads new rows when the
  ``sessions`` topic moves), and
* its ``av`` is the user's current ``auth_version``: a password change or reset, a role change
  or disabling the user bumps it, which ends every session the user holds. Each worker caches
  versions per user and drops the cache when the ``users`` topic moves; the management API
  compares against the user row it reads anyway, so there the change takes effect at once.

Anything the cookie backend cannot decode, and any cookie from before these fields existed,
is no session at all.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from litestar.connection import ASGIConnection
from litestar.exceptions import SerializationException
from litestar.middleware.session.client_side import ClientSideSessionBackend, CookieBackendConfig

from newapi_host.db.tables import RevokedSession, User

log = logging.getLogger(__name__)

SESSION_FIELDS = ("id", "username", "role", "status", "group")
MAX_AGE = 30 * 24 * 3600
RELOAD_OVERLAP = 300  # seconds of logouts every reload reads again


def new_session(user: Mapping[str, Any]) -> dict[str, Any]:
    """The cookie content for a user row that has just signed in (``auth_version`` included)."""
    session = {k: user[k] for k in SESSION_FIELDS}
    session["sid"] = secrets.token_urlsafe(18)
    session["av"] = int(user["auth_version"])
    return session


def well_formed(session: Any) -> bool:
    return (
        isinstance(session, dict)
        and type(session.get("id")) is int
        and type(session.get("av")) is int
        and isinstance(session.get("sid"), str)
    )


class SessionBook:
    """One worker's view of which sessions are still good (revoked ids, users' auth versions)."""

    MAX_CACHED_USERS = 50_000

    def __init__(self) -> None:
        self._revoked: dict[str, int] = {}  # sid -> when its cookie would have expired anyway
        self._horizon = 0  # rows expiring after this are (re)read on the next load
        self._next_prune = 0.0
        self._versions: dict[int, int] = {}  # user id -> auth_version (-1: no such live user)

    async def load_revoked(self) -> None:
        """Read the logouts recorded lately (by any worker); hourly, forget expired ones.

        Each load re-reads the last few minutes of logouts: inserts may commit out of order,
        and nodes' clocks differ a little, so "rows after the newest one seen" could miss one.
        """
        now = int(time.time())
        rows = await RevokedSession.select(RevokedSession.sid, RevokedSession.expires_at).where(
            RevokedSession.expires_at > max(now, self._horizon)
        )
        for row in rows:
            self._revoked[row["sid"]] = row["expires_at"]
            self._horizon = max(self._horizon, row["expires_at"] - RELOAD_OVERLAP)
        if now >= self._next_prune:
            self._revoked = {sid: expires for sid, expires in self._revoked.items() if expires > now}
            self._next_prune = now + 3600

    async def users_changed(self) -> None:
        self._versions.clear()

    async def revoke(self, session: Mapping[str, Any], max_age: int = MAX_AGE) -> None:
        """Record a logout; announce the ``sessions`` topic afterwards so every worker reads it."""
        now = int(time.time())
        await RevokedSession.delete().where(RevokedSession.expires_at <= now)
        await RevokedSession.insert(
            RevokedSession(sid=session["sid"], user_id=session["id"], expires_at=now + max_age)
        ).on_conflict(action="DO NOTHING")
        self._revoked[session["sid"]] = now + max_age

    async def auth_version(self, user_id: int) -> int:
        version = self._versions.get(user_id)
        if version is None:
            row = await User.select(User.auth_version).where((User.id == user_id) & User.deleted_at.is_null()).first()
            version = row["auth_version"] if row else -1
            if len(self._versions) >= self.MAX_CACHED_USERS:
                self._versions.clear()
            self._versions[user_id] = version
        return version

    async def valid(self, session: Mapping[str, Any]) -> bool:
        if session["sid"] in self._revoked:
            return False
        return await self.auth_version(session["id"]) == session["av"]


class SessionCookieBackend(ClientSideSessionBackend):
    """Litestar's encrypted cookie backend, with undecodable and ended sessions read as none."""

    def load_data(self, data: list[bytes]) -> dict[str, Any]:
        try:
            session = super().load_data(data)
        # Bad base64 or JSON, forged metadata (no or a non-numeric ``expires_at``), a wrong tag.
        except (ValueError, KeyError, TypeError, InvalidTag, SerializationException, RecursionError):
            return {}
        return session if isinstance(session, dict) else {}

    async def load_from_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
        session = await super().load_from_connection(connection)
        if not session:
            return {}
        book: SessionBook | None = getattr(connection.app.state.host, "sessions", None)
        if not well_formed(session) or book is None or not await book.valid(session):
            return {}
        return session


class SessionCookieConfig(CookieBackendConfig):
    _backend_class = SessionCookieBackend
