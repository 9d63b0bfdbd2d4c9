"""Accounts: sign-in, registration, self-service and user administration (New API's ``/api/user/*``).

Console sign-in follows New API's 2025 releases: a cookie session plus the ``New-Api-User``
header, or the personal access token (see :mod:`newapi_host.auth.users`). Login, registration
and profile changes are limited per client IP as New API's ``CriticalRateLimit`` does (20
requests per 20 minutes by default; options ``CriticalRateLimitCount`` and
``CriticalRateLimitDurationSeconds``), counted once for all workers and nodes in the shared
store; over the limit the answer is HTTP 429 with ``Retry-After``.

Administrators (role 10) list and search every user but only read or change users of a lower
role; the root user (100) may change anyone, and alone may promote or demote. Every admin
change writes a manage log row, and any change to what the relay allows (status, group, quota,
role, deletion) is announced on the ``users`` topic so every worker drops its cached API keys:
a disabled user's keys stop working within the sync interval. Disabling, promoting, demoting and
any password change also end every console session the user holds (``auth_version``, see
:mod:`newapi_host.auth.sessions`); logout ends the one session. Deletion is soft
(``deleted_at``), so a deleted username cannot be registered again, as in New API.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import time
from typing import Any

from litestar import Request, Response, delete, get, post, put
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from newapi_host.auth.guards import admin_auth, user_auth
from newapi_host.auth.passwords import hash_password_async, password_problem, verify_password_async
from newapi_host.auth.sessions import new_session, well_formed
from newapi_host.auth.users import Caller, random_key
from newapi_host.db.engine import database_label, write_transaction
from newapi_host.db.tables import (
    LOG_SYSTEM,
    ROLE_ADMIN,
    ROLE_COMMON,
    ROLE_ROOT,
    USER_DISABLED,
    USER_ENABLED,
    Log,
    User,
)
from newapi_host.host import host_of
from newapi_host.ip_limits import count_critical
from newapi_host.plugins.contracts import LoginContext, LoginFailed

from . import codes, twofa_flow
from .common import announce, manage_log, page_of, paging, validation_message, wallets
from .envelope import fail, json_object, ok
from .turnstile import turnstile_problem

MAX_INT = 2**53  # JSON-safe; far above any real quota
USERNAME_MAX = 20
DISPLAY_NAME_MAX = 20
EMAIL_MAX = 50
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LANGUAGE_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")
NOTIFY_TYPES = ("email", "webhook", "bark", "gotify")
SORT_COLUMNS = ("id", "username", "quota", "group", "created_at", "last_login_at")

MSG_PASSWORD_LOGIN_OFF = "Password login has been disabled by administrator"
MSG_INVALID = "Invalid parameters"
MSG_REGISTER_OFF = "New user registration has been disabled by administrator"
MSG_PASSWORD_REGISTER_OFF = (
    "Password registration has been disabled by administrator, please use third-party account verification"
)
MSG_EMAIL_VERIFICATION = "Email verification is enabled: the verification code is wrong or has expired"
MSG_USER_EXISTS = "Username already exists or has been deleted"
MSG_EMAIL_TAKEN = "Email address is already in use"
MSG_NOT_FOUND = "User does not exist"
MSG_SAME_LEVEL = "No permission to access users of same or higher level"
MSG_HIGHER_LEVEL = "No permission to update users of same or higher permission level"
MSG_CREATE_HIGHER = "Cannot create users with permission level equal to or higher than yourself"
MSG_ROOT_DELETE = "Cannot delete super administrator account"
MSG_ROOT_DISABLE = "Cannot disable super administrator user"
MSG_ROOT_DEMOTE = "Cannot demote super administrator user"
MSG_ALREADY_ADMIN = "This user is already an administrator"
MSG_ALREADY_COMMON = "This user is already a common user"
MSG_ADMIN_PROMOTE = "Regular administrators cannot promote other users to administrator"
MSG_ADMIN_DEMOTE = "Regular administrators cannot demote other administrators"
MSG_ORIGINAL_PASSWORD = "Original password is incorrect"
MSG_PASSWORD_UNSET = (
    "This account has no password set. Please use password reset or contact an administrator to reset it."
)
MSG_QUOTA_ZERO = "Quota change amount cannot be zero"

# Columns a user may see of their own row (never password or access_token).
SELF_FIELDS = (
    "id",
    "username",
    "display_name",
    "role",
    "status",
    "email",
    "github_id",
    "discord_id",
    "oidc_id",
    "wechat_id",
    "telegram_id",
    "linux_do_id",
    "group",
    "quota",
    "used_quota",
    "request_count",
    "aff_code",
    "aff_count",
    "aff_quota",
    "inviter_id",
    "setting",
    "stripe_customer",
)
ADMIN_FIELDS = (*SELF_FIELDS, "remark", "created_at", "last_login_at")


# -- New API's CriticalRateLimit ------------------------------------------------------------------


class RateLimited(Exception):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.message, self.retry_after = message, retry_after


async def check_critical_rate(request: Request[Any, Any, Any]) -> None:
    """Count this request against its client IP; raise :class:`RateLimited` over the limit.

    The count is shared by every worker and node (the shared store), so more workers do not
    mean more guesses; a request the per-address middleware already counted (New API's list of
    critical routes, :mod:`newapi_host.ip_limits`) is not counted again.
    """
    refused = await count_critical(host_of(request.app.state), request.scope)
    if refused is not None:
        raise RateLimited(*refused)


def _rate_limited(_: Request[Any, Any, Any], exc: RateLimited) -> Response[Any]:
    return Response(fail(exc.message), status_code=429, headers={"Retry-After": str(math.ceil(exc.retry_after))})


LIMITED = {RateLimited: _rate_limited}


# -- helpers ---------------------------------------------------------------------------------------


class Strict(BaseModel):
    """Request bodies: exact JSON types (no "5" for 5), unknown keys ignored."""

    model_config = ConfigDict(strict=True, extra="ignore")


async def _body(model: type[Strict], request: Request[Any, Any, Any]) -> Any:
    """The validated body, or a message (New API's "Invalid parameters" / "Invalid input ...")."""
    body = await json_object(request)
    if body is None:
        return MSG_INVALID
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        return f"Invalid input: {validation_message(exc)}"


def _check_password(password: str) -> str | None:
    problem = password_problem(password)
    return f"Invalid input: {problem}" if problem else None


def _check_username(username: str) -> str | None:
    if not username:
        return MSG_INVALID
    if len(username) > USERNAME_MAX:
        return f"Invalid input: username must be at most {USERNAME_MAX} characters"
    if not username.isprintable():
        return "Invalid input: username must not contain control characters"
    return None


def _check_display_name(name: str) -> str | None:
    if len(name) > DISPLAY_NAME_MAX:
        return f"Invalid input: display_name must be at most {DISPLAY_NAME_MAX} characters"
    if not name.isprintable():
        return "Invalid input: display_name must not contain control characters"
    return None


def _normal_email(email: str) -> str:
    return email.strip().lower()


def _check_email(email: str) -> str | None:
    if email and (len(email) > EMAIL_MAX or not EMAIL_RE.match(email)):
        return f"Invalid input: email must be a valid address of at most {EMAIL_MAX} characters"
    return None


MSG_EMAIL_NOT_ALLOWED = (
    "The administrator has enabled the email domain name whitelist, and your email address is not allowed "
    "due to special symbols or it's not in the whitelist."
)


def email_problem(options: Any, email: str) -> str | None:
    """Why New API's address rules refuse ``email``: format, ``EmailDomainRestrictionEnabled`` with
    ``EmailDomainWhitelist``, ``EmailAliasRestrictionEnabled`` (``+`` or ``.`` in the local part)."""
    if not email or _check_email(email):
        return "Invalid parameters"
    local, _, domain = email.rpartition("@")
    if options.get_bool("EmailDomainRestrictionEnabled"):
        allowed = {d.strip().lower() for d in options.get("EmailDomainWhitelist").split(",") if d.strip()}
        if domain not in allowed:
            return MSG_EMAIL_NOT_ALLOWED
    if options.get_bool("EmailAliasRestrictionEnabled") and ("+" in local or "." in local):
        return MSG_EMAIL_NOT_ALLOWED
    return None


async def _email_taken(email: str, except_id: int = 0) -> bool:
    """Also refuses an address that is someone's username: login accepts either."""
    return await User.exists().where(((User.email == email) | (User.username == email)) & (User.id != except_id))


def _unique_violation(exc: Exception) -> bool:
    return type(exc).__name__ in ("IntegrityError", "UniqueViolationError")


def _quota_text(request: Request[Any, Any, Any], quota: int) -> str:
    per_unit = host_of(request.app.state).options.get_float("QuotaPerUnit", 500000.0) or 500000.0
    return f"${quota / per_unit:.6f} ({quota} quota)"


def _user_json(row: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    data = {k: row[k] for k in fields}
    data["aff_history_quota"] = row["aff_history"]
    data["aff_code"] = data["aff_code"] or ""
    if "remark" in fields:
        deleted = row.get("deleted_at")
        data["DeletedAt"] = (
            (deleted.isoformat() if isinstance(deleted, dt.datetime) else str(deleted)) if deleted else None
        )
    return data


def _settings(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _permissions(role: int) -> dict[str, Any]:
    """New API's sidebar permissions for the console."""
    if role >= ROLE_ROOT:
        return {"sidebar_settings": False, "sidebar_modules": {}}
    if role >= ROLE_ADMIN:
        return {"sidebar_settings": True, "sidebar_modules": {"admin": {"setting": False}}}
    return {"sidebar_settings": True, "sidebar_modules": {"admin": False}}


async def _live_user(user_id: int) -> dict[str, Any] | None:
    return await User.select().where((User.id == user_id) & User.deleted_at.is_null()).first()


def _can_manage(caller: Caller, target_role: int) -> bool:
    return caller.role >= ROLE_ROOT or caller.role > target_role


async def _new_aff_code() -> str:
    for length in (4, 4, 4, 6, 8, 12):
        code = random_key(length)
        if not await User.exists().where(User.aff_code == code):
            return code
    return random_key(16)


async def _system_log(user_id: int, username: str, content: str) -> None:
    await Log.insert(
        Log(user_id=user_id, created_at=int(time.time()), type=LOG_SYSTEM, content=content, username=username)
    )


async def _insert_user(
    request: Request[Any, Any, Any],
    *,
    username: str,
    password: str,
    display_name: str,
    role: int,
    email: str = "",
    aff_code: str = "",
) -> int | str:
    """Create a user (New API's rules: QuotaForNewUser, invite bonuses); its id or a message."""
    options = host_of(request.app.state).options
    new_user_quota = max(0, options.get_int("QuotaForNewUser"))
    invitee_bonus = max(0, options.get_int("QuotaForInvitee"))
    inviter_bonus = max(0, options.get_int("QuotaForInviter"))
    hashed = await hash_password_async(password)
    try:
        async with write_transaction():
            # Soft-deleted rows count, and a name may not shadow anyone's e-mail (login takes both).
            if await User.exists().where((User.username == username) | (User.email == username)):
                return MSG_USER_EXISTS
            if email and await _email_taken(email):
                return MSG_EMAIL_TAKEN
            inviter = None
            if aff_code:
                inviter = (
                    await User.select(User.id, User.username)
                    .where((User.aff_code == aff_code) & User.deleted_at.is_null())
                    .first()
                )
            quota = new_user_quota + (invitee_bonus if inviter else 0)
            user = User(
                username=username,
                password=hashed,
                display_name=display_name or username,
                role=role,
                status=USER_ENABLED,
                email=email,
                quota=quota,
                group="default",
                aff_code=await _new_aff_code(),
                inviter_id=inviter["id"] if inviter else 0,
                setting="{}",
                created_at=int(time.time()),
            )
            await user.save()
            if new_user_quota:
                await _system_log(user.id, username, f"New user bonus {_quota_text(request, new_user_quota)}")
            if inviter and invitee_bonus:
                await _system_log(user.id, username, f"Invitation code bonus {_quota_text(request, invitee_bonus)}")
            if inviter:
                await User.update(
                    {
                        User.aff_count: User.aff_count + 1,
                        User.aff_quota: User.aff_quota + inviter_bonus,
                        User.aff_history: User.aff_history + inviter_bonus,
                    }
                ).where(User.id == inviter["id"])
                if inviter_bonus:
                    await _system_log(
                        inviter["id"],
                        inviter["username"],
                        f"Invited user {username}: bonus {_quota_text(request, inviter_bonus)}",
                    )
            return user.id
    except Exception as exc:
        if _unique_violation(exc):
            return MSG_USER_EXISTS
        raise


# -- sign-in ---------------------------------------------------------------------------------------


@post("/api/user/login", status_code=200, exception_handlers=LIMITED)
async def login(request: Request[Any, Any, Any]) -> dict[str, Any] | Response[dict[str, Any]]:
    await check_critical_rate(request)
    if problem := await turnstile_problem(request):
        return fail(problem)
    host = host_of(request.app.state)
    method = host.registry.login_method("password")
    if method is None or not host.options.get_bool("PasswordLoginEnabled"):
        return fail(MSG_PASSWORD_LOGIN_OFF)
    body = await json_object(request)
    if body is None:
        return fail(MSG_INVALID)
    fields = {k: v for k, v in body.items() if isinstance(v, str)}
    try:
        identity = await method.complete(
            LoginContext(redirect_uri="", state="", settings=host.states.settings("password")), fields
        )
    except LoginFailed as exc:
        return fail(str(exc))
    user = await _session_user(identity.user_id)
    if user is None:
        return fail("Username or password is incorrect, or user has been banned")
    if await twofa_flow.required(user["id"]):
        # No session yet: POST /api/user/login/2fa with a code and this flow finishes the sign-in.
        token = await twofa_flow.begin(host.wallets.store, user["id"], user["auth_version"])
        response = Response(ok({"require_2fa": True, "flow_token": token}, "Please enter the two-factor code"))
        response.set_cookie(
            twofa_flow.FLOW_COOKIE,
            token,
            max_age=twofa_flow.FLOW_TTL,
            path="/api/user",
            httponly=True,
            samesite="strict",
            secure=host.config.session_cookie_secure,
        )
        return response
    await User.update({User.last_login_at: int(time.time())}).where(User.id == user["id"])
    request.set_session(new_session(user))
    return ok({k: user[k] for k in ("id", "username", "display_name", "role", "status", "group")})


async def _session_user(user_id: int | None) -> dict[str, Any] | None:
    columns = (User.id, User.username, User.display_name, User.role, User.status, User.group, User.auth_version)
    return await User.select(*columns).where(User.id == user_id).first()


@get("/api/user/logout")
async def logout(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """End this session: its cookie stops working everywhere, copies included."""
    session = request.scope.get("session")
    if well_formed(session):
        await host_of(request.app.state).sessions.revoke(session)
        await announce(request, "sessions")
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


class RegisterIn(Strict):
    username: str = Field("", max_length=1000)
    password: str = Field("", max_length=1000)
    email: str | None = Field(None, max_length=1000)
    aff_code: str | None = Field(None, max_length=64)
    verification_code: str | None = Field(None, max_length=64)


@post("/api/user/register", status_code=200, exception_handlers=LIMITED)
async def register(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Self-registration: a common user in group "default" with QuotaForNewUser.

    ``aff_code`` is the inviter's code: the new user gets QuotaForInvitee, the inviter
    QuotaForInviter into their invitation balance (moved to the wallet with aff_transfer).
    """
    await check_critical_rate(request)
    if problem := await turnstile_problem(request):
        return fail(problem)
    options = host_of(request.app.state).options
    if not options.get_bool("RegisterEnabled"):
        return fail(MSG_REGISTER_OFF)
    if not options.get_bool("PasswordRegisterEnabled"):
        return fail(MSG_PASSWORD_REGISTER_OFF)
    data = await _body(RegisterIn, request)
    if isinstance(data, str):
        return fail(data)
    username, email = data.username.strip(), _normal_email(data.email or "")
    problem = _check_username(username) or _check_password(data.password) or _check_email(email)
    if problem:
        return fail(problem)
    if options.get_bool("EmailVerificationEnabled"):
        # New API: the address must pass its rules and carry the code GET /api/verification mailed.
        if not email or not data.verification_code:
            return fail("Email verification is enabled: enter the e-mail address and the code mailed to it")
        if problem := email_problem(options, email):
            return fail(problem)
        store = host_of(request.app.state).wallets.store
        if not await codes.take(store, codes.VERIFY, email, data.verification_code or ""):
            return fail(MSG_EMAIL_VERIFICATION)
    result = await _insert_user(
        request,
        username=username,
        password=data.password,
        display_name=username,
        role=ROLE_COMMON,
        email=email,
        aff_code=(data.aff_code or "").strip(),
    )
    if isinstance(result, str):
        return fail(result)
    return ok()


# -- self-service ----------------------------------------------------------------------------------


@get("/api/user/self", guards=[user_auth])
async def get_self(request: Request[Any, Any, Any]) -> dict[str, Any]:
    row = await _live_user(request.state.caller.id)
    if row is None:
        return fail(MSG_NOT_FOUND)
    data = _user_json(row, SELF_FIELDS)
    data["sidebar_modules"] = _settings(row["setting"]).get("sidebar_modules", "")
    data["permissions"] = _permissions(row["role"])
    return ok(data)


class SelfUpdate(Strict):
    display_name: str | None = Field(None, max_length=1000)
    password: str | None = Field(None, max_length=1000)
    original_password: str | None = Field(None, max_length=1000)
    email: str | None = Field(None, max_length=1000)
    sidebar_modules: str | None = Field(None, max_length=20_000)
    language: str | None = Field(None, max_length=1000)


async def _merge_settings(user_id: int, values: dict[str, Any]) -> None:
    async with write_transaction():
        row = await User.select(User.setting).where(User.id == user_id).first()
        merged = {**_settings(row["setting"] if row else ""), **values}
        await User.update({User.setting: json.dumps(merged, ensure_ascii=False)}).where(User.id == user_id)


@put("/api/user/self", guards=[user_auth], exception_handlers=LIMITED)
async def update_self(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Display name, e-mail, or password (``original_password`` required); or the console's
    ``sidebar_modules`` / ``language`` preference alone. The username cannot be changed here."""
    await check_critical_rate(request)
    data = await _body(SelfUpdate, request)
    if isinstance(data, str):
        return fail(data)
    user_id = request.state.caller.id
    if data.sidebar_modules is not None or data.language is not None:
        values: dict[str, Any] = {}
        if data.sidebar_modules is not None:
            values["sidebar_modules"] = data.sidebar_modules
        if data.language is not None:
            if data.language and not LANGUAGE_RE.match(data.language):
                return fail("Invalid input: language must be a language code such as en or zh-CN")
            values["language"] = data.language
        await _merge_settings(user_id, values)
        return ok(message="Update successful")
    row = await _live_user(user_id)
    if row is None:
        return fail(MSG_NOT_FOUND)
    changes: dict[Any, Any] = {}
    if data.display_name is not None:
        name = data.display_name.strip()
        if problem := _check_display_name(name):
            return fail(problem)
        changes[User.display_name] = name or row["username"]
    if data.email is not None:
        email = _normal_email(data.email)
        if problem := _check_email(email):
            return fail(problem)
        if email and email != row["email"] and await _email_taken(email, except_id=user_id):
            return fail(MSG_EMAIL_TAKEN)
        changes[User.email] = email
    if data.password:
        if problem := _check_password(data.password):
            return fail(problem)
        if not row["password"]:
            return fail(MSG_PASSWORD_UNSET)
        if not await verify_password_async(data.original_password or "", row["password"]):
            return fail(MSG_ORIGINAL_PASSWORD)
        changes[User.password] = await hash_password_async(data.password)
        changes[User.auth_version] = User.auth_version + 1  # ends every session of the user
    if changes:
        try:
            await User.update(changes).where((User.id == user_id) & User.deleted_at.is_null())
        except Exception as exc:
            if _unique_violation(exc):
                return fail(MSG_EMAIL_TAKEN)
            raise
    if User.auth_version in changes:
        await announce(request, "users", ids=[user_id])
        if not request.state.caller.by_access_token:  # this browser stays signed in, on a new session
            user = await _session_user(user_id)
            if user is not None:
                request.set_session(new_session(user))
    return ok()


@delete("/api/user/self", guards=[user_auth], status_code=200)
async def delete_self(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Close the caller's account (soft delete); the root user cannot."""
    caller = request.state.caller
    if caller.role >= ROLE_ROOT:
        return fail(MSG_ROOT_DELETE)
    await _soft_delete(caller.id)
    await announce(request, "users", ids=[caller.id])
    request.clear_session()
    return ok()


@get("/api/user/aff", guards=[user_auth])
async def get_aff_code(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The caller's invitation code, created on first request if missing."""
    user_id = request.state.caller.id
    row = await User.select(User.aff_code).where(User.id == user_id).first()
    if row and row["aff_code"]:
        return ok(row["aff_code"])
    for _ in range(5):
        try:
            await User.update({User.aff_code: await _new_aff_code()}).where(
                (User.id == user_id) & (User.aff_code.is_null() | (User.aff_code == ""))
            )
            break
        except Exception as exc:  # another user took the code in between
            if not _unique_violation(exc):
                raise
    row = await User.select(User.aff_code).where(User.id == user_id).first()
    return ok(row["aff_code"]) if row and row["aff_code"] else fail("could not create an invitation code; try again")


class AffTransfer(Strict):
    quota: int = Field(ge=0, le=MAX_INT)


@post("/api/user/aff_transfer", guards=[user_auth], status_code=200)
async def transfer_aff_quota(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Move ``quota`` from the invitation balance to the wallet (at least one unit, QuotaPerUnit)."""
    data = await _body(AffTransfer, request)
    if isinstance(data, str):
        return fail(data)
    minimum = math.ceil(host_of(request.app.state).options.get_float("QuotaPerUnit", 500000.0))
    if data.quota < minimum:
        return fail(f"Transfer failed: the minimum transfer is {_quota_text(request, minimum)}")
    user_id = request.state.caller.id
    async with wallets(request).change() as change:
        moved = (
            await User.update({User.aff_quota: User.aff_quota - data.quota, User.quota: User.quota + data.quota})
            .where((User.id == user_id) & (User.aff_quota >= data.quota) & User.deleted_at.is_null())
            .returning(User.id)
        )
        if moved:
            change.wallet(user_id, data.quota)
    if not moved:
        return fail("Transfer failed: Invitation quota is insufficient!")
    await announce(request, "users", ids=[user_id])
    return ok(message="Transfer successful")


class SettingIn(Strict):
    notify_type: str = Field("", max_length=32)
    quota_warning_threshold: float = Field(0, allow_inf_nan=False, le=1e15)
    webhook_url: str = Field("", max_length=2048)
    webhook_secret: str = Field("", max_length=512)
    notification_email: str = Field("", max_length=254)
    bark_url: str = Field("", max_length=2048)
    gotify_url: str = Field("", max_length=2048)
    gotify_token: str = Field("", max_length=512)
    gotify_priority: int = Field(5, ge=-MAX_INT, le=MAX_INT)
    upstream_model_update_notify_enabled: bool | None = None
    accept_unset_model_ratio_model: bool = False
    record_ip_log: bool = False
    language: str | None = Field(None, max_length=32)


def _http_url(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _setting_problem(s: SettingIn) -> str | None:
    if s.notify_type not in NOTIFY_TYPES:
        return "Invalid warning type"
    if s.quota_warning_threshold <= 0:
        return "Warning threshold must be greater than 0"
    if s.notify_type == "webhook":
        if not s.webhook_url:
            return "Webhook URL cannot be empty"
        if not _http_url(s.webhook_url):
            return "Invalid Webhook URL"
    if s.notify_type == "email" and s.notification_email and not EMAIL_RE.match(s.notification_email):
        return "Invalid email address"
    if s.notify_type == "bark":
        if not s.bark_url:
            return "Bark push URL cannot be empty"
        if not _http_url(s.bark_url):
            return "URL must start with http:// or https://"
    if s.notify_type == "gotify":
        if not s.gotify_url:
            return "Gotify server URL cannot be empty"
        if not s.gotify_token:
            return "Gotify token cannot be empty"
        if not _http_url(s.gotify_url):
            return "URL must start with http:// or https://"
    if s.language and not LANGUAGE_RE.match(s.language):
        return "Invalid input: language must be a language code such as en or zh-CN"
    return None


@put("/api/user/setting", guards=[user_auth])
async def update_setting(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Quota-warning notification settings and the relay preferences, kept in ``users.setting``.

    Console preferences stored in the same JSON (sidebar_modules, language, billing_preference)
    survive; the notification keys are replaced as a whole, as New API does.
    """
    s = await _body(SettingIn, request)
    if isinstance(s, str):
        return fail(s)
    if problem := _setting_problem(s):
        return fail(problem)
    caller = request.state.caller
    async with write_transaction():
        row = await User.select(User.setting).where(User.id == caller.id).first()
        old = _settings(row["setting"] if row else "")
        new: dict[str, Any] = {
            k: old[k] for k in ("sidebar_modules", "language", "billing_preference") if old.get(k) is not None
        }
        new.update(notify_type=s.notify_type, quota_warning_threshold=s.quota_warning_threshold)
        upstream = old.get("upstream_model_update_notify_enabled", False)
        if caller.role >= ROLE_ADMIN and s.upstream_model_update_notify_enabled is not None:
            upstream = s.upstream_model_update_notify_enabled
        if upstream:
            new["upstream_model_update_notify_enabled"] = True
        if s.accept_unset_model_ratio_model:
            new["accept_unset_model_ratio_model"] = True
        if s.record_ip_log:
            new["record_ip_log"] = True
        if s.language is not None:
            new["language"] = s.language
        if s.notify_type == "webhook":
            new["webhook_url"] = s.webhook_url
            if s.webhook_secret:
                new["webhook_secret"] = s.webhook_secret
        elif s.notify_type == "email" and s.notification_email:
            new["notification_email"] = s.notification_email
        elif s.notify_type == "bark":
            new["bark_url"] = s.bark_url
        elif s.notify_type == "gotify":
            new.update(
                gotify_url=s.gotify_url,
                gotify_token=s.gotify_token,
                gotify_priority=s.gotify_priority if 0 <= s.gotify_priority <= 10 else 5,
            )
        await User.update({User.setting: json.dumps(new, ensure_ascii=False)}).where(User.id == caller.id)
    return ok(message="Settings updated")


# -- administration --------------------------------------------------------------------------------


def _sorting(request: Request[Any, Any, Any]) -> tuple[Any, bool]:
    sort_by = (request.query_params.get("sort_by") or "").strip().lower()
    order = (request.query_params.get("sort_order") or "").strip().lower()
    if sort_by not in SORT_COLUMNS:
        return User.id, False
    return getattr(User, sort_by), order == "asc"


async def _user_page(request: Request[Any, Any, Any], where: Any) -> dict[str, Any]:
    page, size = paging(request)
    column, ascending = _sorting(request)
    query = User.select().order_by(column, ascending=ascending)
    if column is not User.id:
        query = query.order_by(User.id, ascending=False)
    count = User.count()
    if where is not None:
        query, count = query.where(where), count.where(where)
    rows = await query.limit(size).offset((page - 1) * size)
    return ok(page_of([_user_json(r, ADMIN_FIELDS) for r in rows], await count, page, size))


@get("/api/user/", guards=[admin_auth])
async def list_users(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Every user, deleted ones too (``DeletedAt`` set), newest first; ``sort_by``/``sort_order``."""
    return await _user_page(request, None)


def _int_query(request: Request[Any, Any, Any], name: str) -> int | None:
    try:
        return int(request.query_params.get(name, ""))
    except ValueError:
        return None


@get("/api/user/search", guards=[admin_auth])
async def search_users(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """``keyword`` (username, e-mail, display name, or exact id), ``group``, ``role``, ``status``
    (-1: deleted users only)."""
    keyword = request.query_params.get("keyword", "").strip()
    if len(keyword) > 100:
        return fail("keyword must be at most 100 characters")
    where: Any = User.id > 0
    if keyword:
        like = f"%{keyword}%"
        # Case-insensitive everywhere: SQLite's LIKE already is (and has no ILIKE).
        sqlite = database_label(User._meta.db) == "sqlite"
        by_name, by_email, by_display = (
            c.like(like) if sqlite else c.ilike(like) for c in (User.username, User.email, User.display_name)
        )
        match = by_name | by_email | by_display
        if keyword.isdigit() and int(keyword) < MAX_INT:
            match = match | (User.id == int(keyword))
        where = where & match
    if group := request.query_params.get("group", "").strip():
        where = where & (User.group == group)
    if (role := _int_query(request, "role")) is not None:
        where = where & (User.role == role)
    if (status := _int_query(request, "status")) is not None:
        if status == -1:
            where = where & User.deleted_at.is_not_null()
        else:
            where = where & User.deleted_at.is_null() & (User.status == status)
    return await _user_page(request, where)


@get("/api/user/{user_id:int}", guards=[admin_auth])
async def get_user(request: Request[Any, Any, Any], user_id: FromPath[int]) -> dict[str, Any]:
    row = await _live_user(user_id)
    if row is None:
        return fail(MSG_NOT_FOUND)
    if not _can_manage(request.state.caller, row["role"]):
        return fail(MSG_SAME_LEVEL)
    return ok(_user_json(row, ADMIN_FIELDS))


class UserCreate(Strict):
    username: str = Field("", max_length=1000)
    password: str = Field("", max_length=1000)
    display_name: str = Field("", max_length=1000)
    role: int = Field(ROLE_COMMON, ge=0, le=MAX_INT)


@post("/api/user/", guards=[admin_auth], status_code=200)
async def create_user_route(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Create a user of a lower role than the caller (admins: common users; root: also admins)."""
    data = await _body(UserCreate, request)
    if isinstance(data, str):
        return fail(data)
    caller = request.state.caller
    username, display_name = data.username.strip(), data.display_name.strip()
    role = data.role or ROLE_COMMON
    if not data.password:
        return fail(MSG_INVALID)
    problem = _check_username(username) or _check_password(data.password) or _check_display_name(display_name)
    if problem:
        return fail(problem)
    if role not in (ROLE_COMMON, ROLE_ADMIN, ROLE_ROOT):
        return fail(f"{MSG_INVALID}: role must be {ROLE_COMMON} (common) or {ROLE_ADMIN} (admin)")
    if role >= caller.role:
        return fail(MSG_CREATE_HIGHER)
    result = await _insert_user(
        request, username=username, password=data.password, display_name=display_name, role=role
    )
    if isinstance(result, str):
        return fail(result)
    await manage_log(caller, result, f"created user {username} (id {result}, role {role})")
    return ok()


class UserEdit(Strict):
    id: int = Field(ge=1, le=MAX_INT)
    display_name: str | None = Field(None, max_length=1000)
    password: str | None = Field(None, max_length=1000)
    group: str | None = Field(None, max_length=1000)
    quota: int | None = Field(None, ge=0, le=MAX_INT)
    remark: str | None = Field(None, max_length=1000)
    email: str | None = Field(None, max_length=1000)
    role: int | None = None


async def _edit_changes(request: Request[Any, Any, Any], data: UserEdit, row: dict[str, Any]) -> dict[Any, Any] | str:
    """Column -> new value for the fields sent, or what is wrong with them."""
    changes: dict[Any, Any] = {}
    if data.display_name is not None:
        name = data.display_name.strip()
        if problem := _check_display_name(name):
            return problem
        changes[User.display_name] = name or row["username"]
    if data.group is not None:
        group = data.group.strip()
        if not group or len(group) > 64:
            return "Invalid input: group must be 1 to 64 characters"
        if group != row["group"] and not host_of(request.app.state).relay.prices.group_exists(group):
            return f"group {group!r} does not exist; add it to GroupRatio first"
        changes[User.group] = group
    if data.remark is not None:
        if len(data.remark) > 255:
            return "Invalid input: remark must be at most 255 characters"
        changes[User.remark] = data.remark
    if data.email is not None:
        email = _normal_email(data.email)
        if problem := _check_email(email):
            return problem
        if email and email != row["email"] and await _email_taken(email, except_id=row["id"]):
            return MSG_EMAIL_TAKEN
        changes[User.email] = email
    if data.quota is not None:
        changes[User.quota] = data.quota
    if data.password:
        if problem := _check_password(data.password):
            return problem
        changes[User.password] = await hash_password_async(data.password)
        changes[User.auth_version] = User.auth_version + 1  # ends every session of the user
    return changes


@put("/api/user/", guards=[admin_auth])
async def update_user(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Edit another user by ``id``: display_name, password, group, quota, remark, email.

    Only the fields sent change. Roles change through ``/api/user/manage`` (promote/demote).
    """
    data = await _body(UserEdit, request)
    if isinstance(data, str):
        return fail(data)
    row = await _live_user(data.id)
    if row is None:
        return fail(MSG_NOT_FOUND)
    caller = request.state.caller
    if not _can_manage(caller, row["role"]):
        return fail(MSG_HIGHER_LEVEL)
    if data.role not in (None, 0, row["role"]):
        return fail(f"{MSG_INVALID}: change roles with /api/user/manage (promote, demote)")
    changes = await _edit_changes(request, data, row)
    if isinstance(changes, str):
        return fail(changes)
    if changes:
        try:
            async with wallets(request).change() as change:
                rest = {c: v for c, v in changes.items() if c is not User.quota}
                if rest:
                    await User.update(rest).where((User.id == data.id) & User.deleted_at.is_null())
                if User.quota in changes:  # the live balance moves by the difference
                    await change.set_wallet(data.id, changes[User.quota])
        except Exception as exc:
            if _unique_violation(exc):
                return fail(MSG_EMAIL_TAKEN)
            raise
        names = sorted(c._meta.name for c in changes if c is not User.auth_version)
        detail = ", ".join(names)
        if User.quota in changes:
            detail += f"; quota {row['quota']} -> {data.quota}"
        await manage_log(caller, data.id, f"updated user {row['username']} (id {data.id}): {detail}")
        await announce(request, "users", ids=[data.id])
    return ok()


async def _soft_delete(user_id: int) -> bool:
    done = (
        await User.update({User.deleted_at: dt.datetime.now(dt.UTC)})
        .where((User.id == user_id) & User.deleted_at.is_null())
        .returning(User.id)
    )
    return bool(done)


@delete("/api/user/{user_id:int}", guards=[admin_auth], status_code=200)
async def delete_user(request: Request[Any, Any, Any], user_id: FromPath[int]) -> dict[str, Any]:
    """Soft-delete a user of a lower role (never oneself)."""
    caller = request.state.caller
    if user_id == caller.id:
        return fail("You cannot delete your own account here; use DELETE /api/user/self")
    row = await _live_user(user_id)
    if row is None:
        return fail(MSG_NOT_FOUND)
    if caller.role <= row["role"]:
        return fail(MSG_HIGHER_LEVEL)
    if not await _soft_delete(user_id):
        return fail(MSG_NOT_FOUND)
    await manage_log(caller, user_id, f"deleted user {row['username']} (id {user_id})")
    await announce(request, "users", ids=[user_id])
    return ok()


class ManageIn(Strict):
    id: int = Field(ge=1, le=MAX_INT)
    action: str = Field(max_length=32)
    mode: str = Field("", max_length=32)
    value: int = Field(0, ge=-MAX_INT, le=MAX_INT)


async def _adjust_quota(
    request: Request[Any, Any, Any], caller: Caller, row: dict[str, Any], mode: str, value: int
) -> str | None:
    """New API's ``add_quota`` action: mode add | subtract | override; a message on refusal."""
    user_id = row["id"]
    live = (User.id == user_id) & User.deleted_at.is_null()
    if mode in ("add", "subtract"):
        if value <= 0:
            return MSG_QUOTA_ZERO if value == 0 else "Invalid input: value must be greater than 0"
        async with wallets(request).change() as change:
            if mode == "add":
                done = await User.update({User.quota: User.quota + value}).where(live).returning(User.id)
            else:
                done = (
                    await User.update({User.quota: User.quota - value})
                    .where(live & (User.quota >= value))
                    .returning(User.id)
                )
            if done:
                change.wallet(user_id, value if mode == "add" else -value)
        if not done and mode == "subtract":
            return "the user's quota is smaller than the amount to subtract"
        content = f"{'added' if mode == 'add' else 'subtracted'} {_quota_text(request, value)}"
    elif mode == "override":
        if value < 0:
            return "Invalid input: value must not be negative"
        async with wallets(request).change() as change:
            done = await User.exists().where(live) and await change.set_wallet(user_id, value)
        content = f"set quota from {_quota_text(request, row['quota'])} to {_quota_text(request, value)}"
    else:
        return f"{MSG_INVALID}: mode must be add, subtract or override"
    if not done:
        return MSG_NOT_FOUND
    await manage_log(caller, user_id, f"{content} for user {row['username']} (id {user_id})")
    return None


def _status_or_role_change(caller: Caller, row: dict[str, Any], action: str) -> dict[Any, Any] | str:
    """The columns an action sets; disabling and role changes also end the user's sessions."""
    role = row["role"]
    ends_sessions = {User.auth_version: User.auth_version + 1}
    if action == "disable":
        return MSG_ROOT_DISABLE if role >= ROLE_ROOT else {User.status: USER_DISABLED, **ends_sessions}
    if action == "enable":
        return {User.status: USER_ENABLED}
    if action == "promote":
        if caller.role < ROLE_ROOT:
            return MSG_ADMIN_PROMOTE
        return MSG_ALREADY_ADMIN if role >= ROLE_ADMIN else {User.role: ROLE_ADMIN, **ends_sessions}
    if action == "demote":
        if role >= ROLE_ROOT:
            return MSG_ROOT_DEMOTE
        if caller.role < ROLE_ROOT:
            return MSG_ADMIN_DEMOTE
        return MSG_ALREADY_COMMON if role <= ROLE_COMMON else {User.role: ROLE_COMMON, **ends_sessions}
    return f"{MSG_INVALID}: action must be disable, enable, delete, promote, demote or add_quota"


@post("/api/user/manage", guards=[admin_auth], status_code=200)
async def manage_user(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """``{"id", "action"}``: disable, enable, delete, promote, demote (root only), or add_quota
    with ``mode`` add | subtract | override and ``value``. Answers the new ``role``/``status``."""
    data = await _body(ManageIn, request)
    if isinstance(data, str):
        return fail(data)
    caller = request.state.caller
    row = await _live_user(data.id)
    if row is None:
        return fail(MSG_NOT_FOUND)
    if not _can_manage(caller, row["role"]):
        return fail(MSG_HIGHER_LEVEL)
    if data.action == "add_quota":
        if problem := await _adjust_quota(request, caller, row, data.mode, data.value):
            return fail(problem)
        await announce(request, "users", ids=[data.id])
        return ok()
    if data.action == "delete":
        if row["role"] >= ROLE_ROOT:
            return fail(MSG_ROOT_DELETE)
        if not await _soft_delete(data.id):
            return fail(MSG_NOT_FOUND)
        await manage_log(caller, data.id, f"deleted user {row['username']} (id {data.id})")
        await announce(request, "users", ids=[data.id])
        return ok()
    change = _status_or_role_change(caller, row, data.action)
    if isinstance(change, str):
        return fail(change)
    updated = (
        await User.update(change)
        .where((User.id == data.id) & User.deleted_at.is_null())
        .returning(User.role, User.status)
    )
    if not updated:
        return fail(MSG_NOT_FOUND)
    await manage_log(caller, data.id, f"{data.action}d user {row['username']} (id {data.id})")
    await announce(request, "users", ids=[data.id])
    return ok({"role": updated[0]["role"], "status": updated[0]["status"]})


ROUTES = [
    login,
    logout,
    generate_access_token,
    register,
    get_self,
    update_self,
    delete_self,
    get_aff_code,
    transfer_aff_quota,
    update_setting,
    list_users,
    search_users,
    get_user,
    create_user_route,
    update_user,
    delete_user,
    manage_user,
]
