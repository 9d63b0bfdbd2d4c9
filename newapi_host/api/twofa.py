"""Two-factor sign-in with TOTP codes (``pyotp``) and single-use backup codes, New API's routes.

- ``GET /api/user/2fa/status``: ``{enabled, locked, backup_codes_remaining}``;
- ``POST /api/user/2fa/setup``: a new secret, its ``otpauth://`` URI (``qr_code_data``) and ten
  backup codes; nothing is required until ``POST /api/user/2fa/enable`` gets a right ``code``;
- ``POST /api/user/2fa/disable`` and ``/backup_codes`` (new codes) need a code (disable also takes a
  backup code);
- ``POST /api/user/login/2fa`` finishes a password sign-in (``{code, flow_token}``);
- admins: ``GET /api/user/2fa/stats`` and ``DELETE /api/user/{id}/2fa`` (ends the user's sessions).

A TOTP code counts for its 30-second step and the one on either side, and each step works once
(``last_used_step``); five wrong codes in a row lock the factor for five minutes. Backup codes
are stored as SHA-256 hashes and each works once.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import time
from typing import Any

import pyotp
import segno
from litestar import Request, Response, delete, get, post
from litestar.params import FromPath

from newapi_host.auth.guards import admin_auth, user_auth
from newapi_host.auth.sessions import new_session
from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import ROLE_ROOT, USER_ENABLED, TwoFA, TwoFABackupCode, User
from newapi_host.host import host_of

from . import passkeys, step_up, twofa_flow
from .common import announce
from .envelope import fail, json_object, ok
from .users import LIMITED, check_critical_rate

STEP = 30
MAX_FAILURES = 5
LOCK_SECONDS = 300
BACKUP_CODES = 10
MSG_WRONG = "Verification code or backup code is wrong, please try again"
MSG_NOT_ENABLED = "Two-factor authentication is not enabled"
MSG_LOCKED = "Too many wrong codes; two-factor sign-in is locked for a few minutes"
MSG_FLOW = "The sign-in has expired; please sign in again"


def _hash(code: str) -> str:
    return hashlib.sha256(code.strip().upper().replace("-", "").encode()).hexdigest()


def _new_backup_codes() -> list[str]:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    raw = ["".join(secrets.choice(alphabet) for _ in range(10)) for _ in range(BACKUP_CODES)]
    return [f"{c[:5]}-{c[5:]}" for c in raw]


async def _replace_backup_codes(user_id: int) -> list[str]:
    codes = _new_backup_codes()
    await TwoFABackupCode.delete().where(TwoFABackupCode.user_id == user_id)
    await TwoFABackupCode.insert(*(TwoFABackupCode(user_id=user_id, code_hash=_hash(c)) for c in codes))
    return codes


async def _factor(user_id: int) -> dict[str, Any] | None:
    return await TwoFA.select().where(TwoFA.user_id == user_id).first()


async def check_totp(factor: dict[str, Any], code: str) -> bool | str:
    """Whether ``code`` is a TOTP code not used before; a message when the factor is locked."""
    now = time.time()
    if factor["locked_until"] > now:
        return MSG_LOCKED
    code = code.strip().replace(" ", "")
    step = int(now // STEP)
    totp = pyotp.TOTP(factor["secret"])
    matched = None
    if code.isdigit() and len(code) == 6:
        for candidate in (step - 1, step, step + 1):
            if secrets.compare_digest(totp.at(candidate * STEP), code):
                matched = candidate
    if matched is not None:
        # Only one request can move last_used_step past this step: a code works once.
        moved = (
            await TwoFA.update({TwoFA.last_used_step: matched, TwoFA.failed_attempts: 0})
            .where((TwoFA.id == factor["id"]) & (TwoFA.last_used_step < matched))
            .returning(TwoFA.id)
        )
        if moved:
            return True
    failures = factor["failed_attempts"] + 1
    locked = int(now) + LOCK_SECONDS if failures >= MAX_FAILURES else 0
    await TwoFA.update({TwoFA.failed_attempts: 0 if locked else failures, TwoFA.locked_until: locked}).where(
        TwoFA.id == factor["id"]
    )
    return False


async def check_backup(user_id: int, code: str) -> bool:
    used = (
        await TwoFABackupCode.update({TwoFABackupCode.is_used: True, TwoFABackupCode.used_at: int(time.time())})
        .where(
            (TwoFABackupCode.user_id == user_id)
            & (TwoFABackupCode.code_hash == _hash(code))
            & (TwoFABackupCode.is_used == False)  # noqa: E712
        )
        .returning(TwoFABackupCode.id)
    )
    return bool(used)


async def _code_from(request: Request[Any, Any, Any]) -> tuple[str, dict[str, Any]] | None:
    body = await json_object(request)
    if body is None or not isinstance(body.get("code"), str) or not body["code"].strip():
        return None
    return body["code"], body


async def _verify_any(user_id: int, factor: dict[str, Any], code: str) -> str | None:
    """None when the TOTP code or a backup code is right, else the message."""
    result = await check_totp(factor, code)
    if result is True:
        return None
    if isinstance(result, str):
        return result
    return None if await check_backup(user_id, code) else MSG_WRONG


@get("/api/user/2fa/status", guards=[user_auth])
async def status(request: Request[Any, Any, Any]) -> dict[str, Any]:
    user_id = request.state.caller.id
    factor = await _factor(user_id)
    data: dict[str, Any] = {"enabled": False, "locked": False}
    if factor is not None:
        data["enabled"] = bool(factor["is_enabled"])
        data["locked"] = factor["locked_until"] > time.time()
        if factor["is_enabled"]:
            data["backup_codes_remaining"] = await TwoFABackupCode.count().where(
                (TwoFABackupCode.user_id == user_id) & (TwoFABackupCode.is_used == False)  # noqa: E712
            )
    return ok(data)


@post("/api/user/2fa/setup", guards=[user_auth], status_code=200)
async def setup(request: Request[Any, Any, Any]) -> dict[str, Any]:
    caller = request.state.caller
    factor = await _factor(caller.id)
    if factor is not None and factor["is_enabled"]:
        return fail("Two-factor authentication is already enabled; disable it before setting it up again")
    secret = pyotp.random_base32()
    async with write_transaction():
        await TwoFA.delete().where(TwoFA.user_id == caller.id)
        await TwoFA.insert(TwoFA(user_id=caller.id, secret=secret, created_at=int(time.time())))
        codes = await _replace_backup_codes(caller.id)
    issuer = host_of(request.app.state).options.get("SystemName") or "New API"
    uri = pyotp.TOTP(secret).provisioning_uri(name=caller.username, issuer_name=issuer)
    drawn = io.BytesIO()
    segno.make(uri, error="m").save(drawn, kind="svg", scale=4, xmldecl=False, svgclass="twofa-qr")
    return ok(
        {"secret": secret, "qr_code_data": uri, "qr_code_svg": drawn.getvalue().decode(), "backup_codes": codes},
        "Scan the QR code with an authenticator app and enter a code to finish",
    )


@post("/api/user/2fa/enable", guards=[user_auth], status_code=200, exception_handlers=LIMITED)
async def enable(request: Request[Any, Any, Any]) -> dict[str, Any]:
    await check_critical_rate(request)
    got = await _code_from(request)
    if got is None:
        return fail("Invalid parameters")
    factor = await _factor(request.state.caller.id)
    if factor is None:
        return fail("Set up two-factor authentication first")
    if factor["is_enabled"]:
        return fail("Two-factor authentication is already enabled")
    result = await check_totp(factor, got[0])
    if result is not True:
        return fail(result if isinstance(result, str) else MSG_WRONG)
    await TwoFA.update({TwoFA.is_enabled: True}).where(TwoFA.id == factor["id"])
    return ok(None, "Two-factor authentication is enabled")


@post("/api/user/2fa/disable", guards=[user_auth], status_code=200, exception_handlers=LIMITED)
async def disable(request: Request[Any, Any, Any]) -> dict[str, Any]:
    await check_critical_rate(request)
    got = await _code_from(request)
    if got is None:
        return fail("Invalid parameters")
    user_id = request.state.caller.id
    factor = await _factor(user_id)
    if factor is None or not factor["is_enabled"]:
        return fail(MSG_NOT_ENABLED)
    if problem := await _verify_any(user_id, factor, got[0]):
        return fail(problem)
    await _remove(user_id)
    return ok(None, "Two-factor authentication is disabled")


@post("/api/user/2fa/backup_codes", guards=[user_auth], status_code=200, exception_handlers=LIMITED)
async def regenerate(request: Request[Any, Any, Any]) -> dict[str, Any]:
    await check_critical_rate(request)
    got = await _code_from(request)
    if got is None:
        return fail("Invalid parameters")
    user_id = request.state.caller.id
    factor = await _factor(user_id)
    if factor is None or not factor["is_enabled"]:
        return fail(MSG_NOT_ENABLED)
    result = await check_totp(factor, got[0])
    if result is not True:
        return fail(result if isinstance(result, str) else MSG_WRONG)
    async with write_transaction():
        codes = await _replace_backup_codes(user_id)
    return ok({"backup_codes": codes}, "New backup codes made; the old ones no longer work")


async def _remove(user_id: int) -> bool:
    async with write_transaction():
        had = await TwoFA.exists().where(TwoFA.user_id == user_id)
        await TwoFA.delete().where(TwoFA.user_id == user_id)
        await TwoFABackupCode.delete().where(TwoFABackupCode.user_id == user_id)
    return had


@post("/api/user/login/2fa", status_code=200, exception_handlers=LIMITED)
async def login_second_factor(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    await check_critical_rate(request)
    got = await _code_from(request)
    if got is None:
        return Response(fail("Invalid parameters"))
    code, body = got
    token = body.get("flow_token") if isinstance(body.get("flow_token"), str) else ""
    token = token or request.cookies.get(twofa_flow.FLOW_COOKIE, "")
    store = host_of(request.app.state).wallets.store
    flow = await twofa_flow.pending(store, token)
    if flow is None:
        return Response(fail(MSG_FLOW))
    user_id, version = flow
    user = await User.select().where((User.id == user_id) & User.deleted_at.is_null()).first()
    if user is None or user["status"] != USER_ENABLED or user["auth_version"] != version:
        return Response(fail(MSG_FLOW))
    factor = await _factor(user_id)
    if factor is None or not factor["is_enabled"]:
        return Response(fail(MSG_NOT_ENABLED))
    if problem := await _verify_any(user_id, factor, code):
        return Response(fail(problem))
    if not await twofa_flow.finish(store, token):
        return Response(fail(MSG_FLOW))
    await User.update({User.last_login_at: int(time.time())}).where(User.id == user_id)
    request.set_session(new_session(user))
    response = Response(ok({k: user[k] for k in ("id", "username", "display_name", "role", "status", "group")}))
    response.delete_cookie(twofa_flow.FLOW_COOKIE, path="/api/user")
    return response


MSG_STEP_UP = "Security verification required: confirm with your two-factor code or a passkey first (POST /api/verify)"


async def step_up_missing(request: Request[Any, Any, Any]) -> str | None:
    """None when the caller has neither a second factor nor a passkey, or confirmed one within
    ``step_up.VERIFIED_FOR`` seconds."""
    user_id = request.state.caller.id
    if not await twofa_flow.required(user_id) and not await passkeys.has_passkey(user_id):
        return None
    return None if step_up.verified(request) else MSG_STEP_UP


@post("/api/verify", guards=[user_auth], status_code=200, exception_handlers=LIMITED)
async def verify(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """New API's step-up: a right code, or a passkey just proven (``/api/user/passkey/verify/*``),
    marks the session verified for five minutes (channel keys)."""
    await check_critical_rate(request)
    session = request.scope.get("session")
    if not isinstance(session, dict) or not session.get("id"):
        return fail("The current authentication method does not support security verification")
    body = await json_object(request) or {}
    method = body.get("method", "2fa")
    user_id = request.state.caller.id
    if method == "passkey":
        if not await passkeys.has_passkey(user_id):
            return fail(passkeys.MSG_NO_PASSKEY)
        if not await passkeys.take_ready_mark(request):
            return fail("Verify with the passkey first (POST /api/user/passkey/verify/begin and finish)")
    elif method == "2fa":
        got = await _code_from(request)
        if got is None:
            return fail("Invalid parameters: the code is missing")
        factor = await _factor(user_id)
        if factor is None or not factor["is_enabled"]:
            return fail(MSG_NOT_ENABLED)
        if problem := await _verify_any(user_id, factor, got[0]):
            return fail(problem)
    else:
        return fail("Invalid parameters: method must be 2fa or passkey")
    return ok({"verified": True, "expires_at": step_up.mark(request, method)})


@get("/api/user/2fa/stats", guards=[admin_auth])
async def stats(request: Request[Any, Any, Any]) -> dict[str, Any]:
    total = await User.count().where(User.deleted_at.is_null())
    enabled = await TwoFA.count().where(TwoFA.is_enabled == True)  # noqa: E712
    return ok({"total_users": total, "enabled_users": enabled, "enabled_rate": enabled / total if total else 0})


@delete("/api/user/{user_id:int}/2fa", guards=[admin_auth], status_code=200)
async def admin_disable(request: Request[Any, Any, Any], user_id: FromPath[int]) -> dict[str, Any]:
    target = await User.select(User.role).where((User.id == user_id) & User.deleted_at.is_null()).first()
    if target is None:
        return fail("User does not exist")
    caller = request.state.caller
    if caller.role < ROLE_ROOT and caller.role <= target["role"]:
        return fail("No permission to change two-factor settings of users of the same or a higher level")
    if not await _remove(user_id):
        return fail(MSG_NOT_ENABLED)
    await User.update({User.auth_version: User.auth_version + 1}).where(User.id == user_id)
    await announce(request, "users", ids=[user_id])
    return ok(None, "Two-factor authentication of the user is disabled")


ROUTES = [status, setup, enable, disable, regenerate, login_second_factor, verify, stats, admin_disable]
