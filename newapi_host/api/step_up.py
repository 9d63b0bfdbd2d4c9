"""Step-up ("secure verification", New API's ``POST /api/verify``): the console session proves a
second factor again before something sensitive, and the proof lasts ``VERIFIED_FOR`` seconds.

The session records when and with what (``2fa`` or ``passkey``); some actions accept either
(a channel key), others only one (with two-factor on, adding or removing passkeys wants the
code, as New API does).
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Request

VERIFIED_FOR = 300
AT, METHOD = "verified_at", "verified_method"


def verified(request: Request[Any, Any, Any], method: str | None = None) -> bool:
    """The session stepped up within ``VERIFIED_FOR`` seconds (with ``method``, when given)."""
    session = request.scope.get("session")
    if not isinstance(session, dict):
        return False
    at = session.get(AT)
    if not isinstance(at, int) or not 0 <= time.time() - at <= VERIFIED_FOR:
        return False
    return method is None or session.get(METHOD) == method


def mark(request: Request[Any, Any, Any], method: str) -> int:
    """Record a step-up in the session; when it ends."""
    session = request.scope.get("session")
    now = int(time.time())
    request.set_session({**(session if isinstance(session, dict) else {}), AT: now, METHOD: method})
    return now + VERIFIED_FOR
