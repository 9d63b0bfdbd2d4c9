"""The half-signed-in state between a right password and the second factor.

A password sign-in of a user with two-factor on ends in a *flow token* instead of a session:
``POST /api/user/login/2fa`` with that token (in the body as New API's current front end sends
it, or the http-only cookie for its older one) and a right code finishes it. The flow lives in
the shared store for five minutes, works once, and dies when the user's ``auth_version`` moves
(a password change meanwhile). One flow per user: a new sign-in replaces the last, so abandoned
flows never pile up in the store (its entries do not expire by themselves).
"""

from __future__ import annotations

import hashlib
import secrets
import time

from newapi_host.db.tables import TwoFA
from newapi_host.store import SharedStore

FLOW_TTL = 300
FLOW_COOKIE = "twofa_flow"


def _digest(token: str) -> int:
    return int.from_bytes(hashlib.sha256(token.encode()).digest()[:7], "big")  # fits the store's integers


async def required(user_id: int) -> bool:
    return await TwoFA.exists().where((TwoFA.user_id == user_id) & (TwoFA.is_enabled == True))  # noqa: E712


async def begin(store: SharedStore, user_id: int, auth_version: int) -> str:
    token = f"{user_id}.{secrets.token_urlsafe(24)}"
    key = f"twofa-flow:{user_id}"
    for part in (key, f"{key}:av", f"{key}:exp"):
        await store.forget(part)
    await store.seed(key, _digest(token), ttl=FLOW_TTL)
    await store.seed(f"{key}:av", auth_version, ttl=FLOW_TTL)
    await store.seed(f"{key}:exp", int(time.time()) + FLOW_TTL, ttl=FLOW_TTL)
    return token


async def pending(store: SharedStore, token: str) -> tuple[int, int] | None:
    """(user id, auth_version at sign-in) of a live flow, without spending it."""
    user, _, _ = token.partition(".")
    if not user.isdigit():
        return None
    key = f"twofa-flow:{user}"
    digest, version, expires = await store.get(key), await store.get(f"{key}:av"), await store.get(f"{key}:exp")
    if digest is None or version is None or expires is None or expires < time.time():
        return None
    if not secrets.compare_digest(str(digest), str(_digest(token))):
        return None
    return int(user), version


async def finish(store: SharedStore, token: str) -> bool:
    """Spend the flow; False when another request spent it first."""
    user = token.partition(".")[0]
    key = f"twofa-flow:{user}"
    won, _, _ = await store.hit(f"twofa-flow-done:{_digest(token)}", FLOW_TTL * 2, 1)
    for part in (key, f"{key}:av", f"{key}:exp"):
        await store.forget(part)
    return won
