"""Passkeys (WebAuthn, through the ``webauthn`` library), New API's routes.

- ``POST /api/user/passkey/register/begin`` / ``finish``: add a passkey to the signed-in user;
- ``GET /api/user/passkey``: whether the user has one; ``DELETE /api/user/passkey`` removes them;
- ``POST /api/user/passkey/login/begin`` / ``finish``: sign in with one (no password, and no
  second factor: the passkey is one already);
- ``POST /api/user/passkey/verify/begin`` / ``finish``: the signed-in user proves a passkey again
  (New API's step-up): it leaves a mark in the session, good for ``READY_FOR`` seconds, that
  ``POST /api/verify`` with ``{"method": "passkey"}`` turns into a verified session (channel keys);
- ``DELETE /api/user/{id}/reset_passkey``: an admin removes a lower-ranked user's passkeys.

The relying party is the site at ``ServerAddress`` (else the address the request came to). Each
ceremony's challenge is an HMAC of a random nonce kept in a short-lived http-only cookie with
the purpose, the user and the time; a challenge works once (the shared store counts it) and for
two minutes, so no server-side session is needed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from litestar import Request, Response, delete, get, post
from litestar.params import FromPath
from webauthn import (
    base64url_to_bytes,
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from newapi_host.auth.guards import admin_auth, user_auth
from newapi_host.auth.sessions import new_session
from newapi_host.db.tables import ROLE_ROOT, USER_ENABLED, PasskeyCredential, User
from newapi_host.host import host_of

from . import step_up, twofa_flow
from .common import announce
from .envelope import fail, json_object, ok
from .users import LIMITED, check_critical_rate

COOKIE = "passkey_flow"
FLOW_TTL = 120
REGISTER, LOGIN, VERIFY = "register", "login", "verify"
READY_FOR = 60  # seconds between a passkey step-up and the POST /api/verify that uses it
READY_KEY = "passkey_ready_at"
MSG_NO_PASSKEY = "This user has no passkey"
MSG_STEP_UP_2FA = "Security verification required: confirm your two-factor code first (POST /api/verify, method 2fa)"
MSG_STEP_UP_PASSKEY = (
    "Security verification required: confirm with a passkey first (POST /api/user/passkey/verify/begin and "
    "finish, then POST /api/verify with method passkey)"
)
MSG_FLOW = "The passkey request expired; please try again"
MSG_FAILED = "The passkey could not be verified"


def _relying_party(request: Request[Any, Any, Any]) -> tuple[str, str, str]:
    """(rp id, origin, name) of this site."""
    options = host_of(request.app.state).options
    origin = (options.get("ServerAddress") or str(request.base_url)).rstrip("/")
    parts = urlsplit(origin)
    return parts.hostname or "localhost", f"{parts.scheme}://{parts.netloc}", options.get("SystemName") or "New API"


def _key(request: Request[Any, Any, Any]) -> bytes:
    host = host_of(request.app.state)
    key = host.extras.get("passkey_key")
    if key is None:
        key = hashlib.sha256(b"passkey\n" + host.config.resolved_session_secret().encode()).digest()
        host.extras["passkey_key"] = key
    return key


def _challenge(request: Request[Any, Any, Any], text: str) -> bytes:
    return hmac.new(_key(request), text.encode(), hashlib.sha256).digest()


def _begin(request: Request[Any, Any, Any], purpose: str, user_id: int) -> tuple[bytes, str]:
    """A challenge for this ceremony and the cookie value that brings it back."""
    text = f"{purpose}:{user_id}:{int(time.time())}:{secrets.token_urlsafe(16)}"
    return _challenge(request, text), text


async def _finish(request: Request[Any, Any, Any], purpose: str) -> tuple[bytes, int] | None:
    """(challenge, user id) of this browser's pending ceremony, spent now; None when there is none."""
    text = request.cookies.get(COOKIE, "")
    parts = text.split(":")
    if len(parts) != 4 or parts[0] != purpose or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    if time.time() - int(parts[2]) > FLOW_TTL:
        return None
    store = host_of(request.app.state).wallets.store
    allowed, _, _ = await store.hit(f"passkey-flow:{parts[3]}", FLOW_TTL * 2, 1)
    return (_challenge(request, text), int(parts[1])) if allowed else None


def _with_cookie(request: Request[Any, Any, Any], body: dict[str, Any], value: str) -> Response[dict[str, Any]]:
    response = Response(body)
    response.set_cookie(
        COOKIE,
        value,
        max_age=FLOW_TTL,
        path="/api/user/passkey",
        httponly=True,
        samesite="strict",
        secure=host_of(request.app.state).config.session_cookie_secure,
    )
    return response


@post("/api/user/passkey/register/begin", guards=[user_auth], status_code=200)
async def register_begin(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """With two-factor on, only after a code (New API): a stolen session alone adds no passkey."""
    caller = request.state.caller
    if await twofa_flow.required(caller.id) and not step_up.verified(request, "2fa"):
        return Response(fail(MSG_STEP_UP_2FA))
    rp_id, _, rp_name = _relying_party(request)
    existing = await PasskeyCredential.select(PasskeyCredential.credential_id).where(
        PasskeyCredential.user_id == caller.id
    )
    challenge, flow = _begin(request, REGISTER, caller.id)
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=rp_name,
        user_name=caller.username,
        user_id=str(caller.id).encode(),
        challenge=challenge,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED, user_verification=UserVerificationRequirement.PREFERRED
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(row["credential_id"])) for row in existing
        ],
    )
    return _with_cookie(request, ok({"options": json.loads(options_to_json(options))}), flow)


@post("/api/user/passkey/register/finish", guards=[user_auth], status_code=200)
async def register_finish(request: Request[Any, Any, Any]) -> dict[str, Any]:
    flow = await _finish(request, REGISTER)
    caller = request.state.caller
    if flow is None or flow[1] != caller.id:
        return fail(MSG_FLOW)
    credential = await json_object(request)
    if credential is None:
        return fail("Invalid parameters")
    rp_id, origin, _ = _relying_party(request)
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=flow[0], expected_rp_id=rp_id, expected_origin=origin
        )
    except (WebAuthnException, ValueError, KeyError, TypeError):
        return fail(MSG_FAILED)
    credential_id = bytes_to_base64url(verified.credential_id)
    if await PasskeyCredential.exists().where(PasskeyCredential.credential_id == credential_id):
        return fail("This passkey is registered already")
    now = int(time.time())
    await PasskeyCredential.insert(
        PasskeyCredential(
            user_id=caller.id,
            credential_id=credential_id,
            public_key=bytes_to_base64url(verified.credential_public_key),
            sign_count=verified.sign_count,
            created_at=now,
        )
    )
    return ok(None, "Passkey registered")


@get("/api/user/passkey", guards=[user_auth])
async def passkey_status(request: Request[Any, Any, Any]) -> dict[str, Any]:
    rows = await PasskeyCredential.select(PasskeyCredential.created_at, PasskeyCredential.last_used_at).where(
        PasskeyCredential.user_id == request.state.caller.id
    )
    last = max((r["last_used_at"] for r in rows), default=0)
    return ok({"enabled": bool(rows), "count": len(rows), "last_used_at": last})


@delete("/api/user/passkey", guards=[user_auth], status_code=200)
async def passkey_delete(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """After a step-up, as New API: the two-factor code when it is on, else a passkey."""
    user_id = request.state.caller.id
    if await twofa_flow.required(user_id):
        if not step_up.verified(request, "2fa"):
            return fail(MSG_STEP_UP_2FA)
    elif not await has_passkey(user_id):
        return fail(MSG_NO_PASSKEY)
    elif not step_up.verified(request, "passkey"):
        return fail(MSG_STEP_UP_PASSKEY)
    await PasskeyCredential.delete().where(PasskeyCredential.user_id == user_id)
    return ok(None, "Passkeys removed")


@post("/api/user/passkey/login/begin", status_code=200, exception_handlers=LIMITED)
async def login_begin(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    await check_critical_rate(request)
    rp_id, _, _ = _relying_party(request)
    challenge, flow = _begin(request, LOGIN, 0)
    options = generate_authentication_options(
        rp_id=rp_id, challenge=challenge, user_verification=UserVerificationRequirement.PREFERRED
    )
    return _with_cookie(request, ok({"options": json.loads(options_to_json(options))}), flow)


def _verified(
    request: Request[Any, Any, Any], credential: dict[str, Any], challenge: bytes, row: dict[str, Any]
) -> int | None:
    """The authenticator's new signature count when ``credential`` is a valid assertion of the
    stored passkey ``row`` for ``challenge``; None when it is not."""
    rp_id, origin, _ = _relying_party(request)
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=base64url_to_bytes(row["public_key"]),
            credential_current_sign_count=row["sign_count"],
        )
    except (WebAuthnException, ValueError, KeyError, TypeError):
        return None
    return int(verified.new_sign_count)


async def _record_use(row: dict[str, Any], sign_count: int) -> int:
    """Store a used passkey's signature count and the time of use; answers that time."""
    now = int(time.time())
    await PasskeyCredential.update(
        {PasskeyCredential.sign_count: sign_count, PasskeyCredential.last_used_at: now}
    ).where(PasskeyCredential.id == row["id"])
    return now


@post("/api/user/passkey/login/finish", status_code=200, exception_handlers=LIMITED)
async def login_finish(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    await check_critical_rate(request)
    flow = await _finish(request, LOGIN)
    if flow is None:
        return Response(fail(MSG_FLOW))
    credential = await json_object(request)
    if credential is None or not isinstance(credential.get("id"), str):
        return Response(fail("Invalid parameters"))
    row = await PasskeyCredential.select().where(PasskeyCredential.credential_id == credential["id"]).first()
    if row is None:
        return Response(fail(MSG_FAILED))
    sign_count = _verified(request, credential, flow[0], row)
    if sign_count is None:
        return Response(fail(MSG_FAILED))
    user = await User.select().where((User.id == row["user_id"]) & User.deleted_at.is_null()).first()
    if user is None or user["status"] != USER_ENABLED:
        return Response(fail("This user has been disabled"))
    now = await _record_use(row, sign_count)
    await User.update({User.last_login_at: now}).where(User.id == user["id"])
    request.set_session(new_session(user))
    response = Response(ok({k: user[k] for k in ("id", "username", "display_name", "role", "status", "group")}))
    response.delete_cookie(COOKIE, path="/api/user/passkey")
    return response


def _session_user(request: Request[Any, Any, Any]) -> dict[str, Any] | None:
    """The console session, when the caller has one (a step-up is a mark in it)."""
    session = request.scope.get("session")
    return session if isinstance(session, dict) and session.get("id") else None


@post("/api/user/passkey/verify/begin", guards=[user_auth], status_code=200)
async def verify_begin(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    caller = request.state.caller
    if _session_user(request) is None:
        return Response(fail("The current authentication method does not support security verification"))
    rows = await PasskeyCredential.select(PasskeyCredential.credential_id).where(PasskeyCredential.user_id == caller.id)
    if not rows:
        return Response(fail(MSG_NO_PASSKEY))
    rp_id, _, _ = _relying_party(request)
    challenge, flow = _begin(request, VERIFY, caller.id)
    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=challenge,
        allow_credentials=[PublicKeyCredentialDescriptor(id=base64url_to_bytes(r["credential_id"])) for r in rows],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return _with_cookie(request, ok({"options": json.loads(options_to_json(options))}), flow)


@post("/api/user/passkey/verify/finish", guards=[user_auth], status_code=200, exception_handlers=LIMITED)
async def verify_finish(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """One of the caller's own passkeys answered this session's challenge: mark the session."""
    await check_critical_rate(request)
    caller = request.state.caller
    session = _session_user(request)
    flow = await _finish(request, VERIFY)
    if session is None or flow is None or flow[1] != caller.id:
        return Response(fail(MSG_FLOW))
    credential = await json_object(request)
    if credential is None or not isinstance(credential.get("id"), str):
        return Response(fail("Invalid parameters"))
    row = (
        await PasskeyCredential.select()
        .where((PasskeyCredential.credential_id == credential["id"]) & (PasskeyCredential.user_id == caller.id))
        .first()
    )
    if row is None:
        return Response(fail(MSG_FAILED))
    sign_count = _verified(request, credential, flow[0], row)
    if sign_count is None:
        return Response(fail(MSG_FAILED))
    now = await _record_use(row, sign_count)
    marked = {k: v for k, v in session.items() if k not in (step_up.AT, step_up.METHOD)}
    request.set_session({**marked, READY_KEY: now})
    response = Response(ok(None, "Passkey verified"))
    response.delete_cookie(COOKIE, path="/api/user/passkey")
    return response


async def take_ready_mark(request: Request[Any, Any, Any]) -> bool:
    """Spend the session's passkey mark; whether it was there, fresh (``READY_FOR`` seconds) and
    not spent before (the shared store counts it: an older copy of the cookie does not bring it back)."""
    session = _session_user(request)
    if session is None or READY_KEY not in session:
        return False
    marked = session[READY_KEY]
    request.set_session({k: v for k, v in session.items() if k != READY_KEY})
    if not isinstance(marked, int) or not 0 <= time.time() - marked < READY_FOR:
        return False
    store = host_of(request.app.state).wallets.store
    allowed, _, _ = await store.hit(f"passkey-ready:{session.get('sid', '')}:{marked}", READY_FOR * 2, 1)
    return allowed


async def has_passkey(user_id: int) -> bool:
    return await PasskeyCredential.exists().where(PasskeyCredential.user_id == user_id)


@delete("/api/user/{user_id:int}/reset_passkey", guards=[admin_auth], status_code=200)
async def admin_reset(request: Request[Any, Any, Any], user_id: FromPath[int]) -> dict[str, Any]:
    target = await User.select(User.role).where((User.id == user_id) & User.deleted_at.is_null()).first()
    if target is None:
        return fail("User does not exist")
    caller = request.state.caller
    if caller.role < ROLE_ROOT and caller.role <= target["role"]:
        return fail("No permission to change passkeys of users of the same or a higher level")
    await PasskeyCredential.delete().where(PasskeyCredential.user_id == user_id)
    await announce(request, "users", ids=[user_id])
    return ok(None, "Passkeys of the user removed")


ROUTES = [
    register_begin,
    register_finish,
    passkey_status,
    passkey_delete,
    login_begin,
    login_finish,
    verify_begin,
    verify_finish,
    admin_reset,
]
