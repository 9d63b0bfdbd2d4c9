"""Litestar guards for the management API's three roles (1 common, 10 admin, 100 root)."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from newapi_host.db.tables import ROLE_ADMIN, ROLE_COMMON, ROLE_ROOT

from .users import AuthError, caller_of


def _guard(minimum: int):
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        caller = await caller_of(connection)
        if caller.role < minimum:
            raise AuthError("Unauthorized, insufficient privileges", status=403)
        connection.state.caller = caller

    guard.__name__ = f"requires_role_{minimum}"
    return guard


user_auth = _guard(ROLE_COMMON)
admin_auth = _guard(ROLE_ADMIN)
root_auth = _guard(ROLE_ROOT)
