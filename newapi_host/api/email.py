"""E-mail: verification codes, password reset and binding an address, as New API does.

- ``GET /api/verification?email=`` mails a six-digit code (for registration when
  ``EmailVerificationEnabled``, and for binding an address);
- ``GET /api/reset_password?email=`` mails a reset link to ``<ServerAddress>/user/reset``
  (New API's page); ``POST /api/user/reset`` with ``{email, token}`` sets a new random password and
  answers it, ending every session the user had;
- ``GET /api/oauth/email/bind?email=&code=`` gives the signed-in user that address.

Addresses are checked against ``EmailDomainRestrictionEnabled`` / ``EmailDomainWhitelist`` and,
with ``EmailAliasRestrictionEnabled``, refused when the local part has ``+`` or ``.`` (aliases of
one mailbox). Sending is limited per address (one mail a minute) and per client address
(``MAIL_PER_IP`` an hour), on every worker. Mails are in English and Chinese.
"""

from __future__ import annotations

import html
import logging
from typing import Any
from urllib.parse import urlencode

from litestar import Request, get, post, route

from newapi_host.auth.guards import user_auth
from newapi_host.auth.passwords import hash_password_async
from newapi_host.auth.users import random_key
from newapi_host.db.tables import USER_ENABLED, User
from newapi_host.host import host_of

from . import codes
from .common import announce
from .envelope import fail, json_object, ok
from .smtp import MailError, send_mail
from .turnstile import turnstile_problem
from .users import (
    LIMITED,
    MSG_EMAIL_TAKEN,
    _check_email,
    _email_taken,
    _normal_email,
    check_critical_rate,
    email_problem,
)

log = logging.getLogger(__name__)

MAIL_PER_IP = 10
MSG_INVALID = "Invalid parameters"
MSG_TOO_SOON = "Mail was sent to this address a moment ago; please wait a minute before asking again"
MSG_TOO_MANY = "Too many mails from your address; please try again later"
MSG_BAD_CODE = "Verification code is wrong or has expired"


async def _may_send(request: Request[Any, Any, Any], email: str) -> str | None:
    store = host_of(request.app.state).wallets.store
    ip = request.client.host if request.client else ""
    allowed, _, _ = await store.hit(f"mail:ip:{ip}", 3600, MAIL_PER_IP)
    if not allowed:
        return MSG_TOO_MANY
    allowed, _, _ = await store.hit(f"mail:to:{codes._key('any', email)}", 60, 1)
    return None if allowed else MSG_TOO_SOON


def _mail(system: str, lines_en: list[str], lines_zh: list[str]) -> tuple[str, str]:
    text = "\n".join([*lines_en, "", *lines_zh])
    body = "".join(f"<p>{line}</p>" for line in [*lines_en, "<hr>", *lines_zh])
    return text, f"<html><body>{body}</body></html>"


async def _deliver(request: Request[Any, Any, Any], email: str, subject: str, text: str, html_body: str) -> str | None:
    try:
        await send_mail(host_of(request.app.state).options, email, subject, text, html_body)
    except MailError as exc:
        log.warning("mail to a user could not be sent: %s", exc)
        return f"The mail could not be sent: {exc}"
    return None


@get("/api/verification", exception_handlers=LIMITED)
async def send_verification(request: Request[Any, Any, Any]) -> dict[str, Any]:
    await check_critical_rate(request)
    if problem := await turnstile_problem(request):
        return fail(problem)
    email = _normal_email(request.query_params.get("email", ""))
    if problem := email_problem(host_of(request.app.state).options, email):
        return fail(problem)
    if await _email_taken(email):
        return fail(MSG_EMAIL_TAKEN)
    if problem := await _may_send(request, email):
        return fail(problem)
    host = host_of(request.app.state)
    code = await codes.issue(host.wallets.store, codes.VERIFY, email)
    system = html.escape(host.options.get("SystemName") or "New API")
    minutes = codes.CODE_TTL // 60
    text, body = _mail(
        system,
        [f"You are verifying your e-mail address for {system}.", f"Your code is {code}, valid for {minutes} minutes."],
        [f"您正在验证 {system} 的邮箱地址。", f"验证码为 {code}，{minutes} 分钟内有效。"],
    )
    if problem := await _deliver(request, email, f"{system}: e-mail verification / 邮箱验证", text, body):
        return fail(problem)
    return ok()


@get("/api/reset_password", exception_handlers=LIMITED)
async def send_reset(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Mail a reset link when a user has this address; the answer is the same either way."""
    await check_critical_rate(request)
    if problem := await turnstile_problem(request):
        return fail(problem)
    email = _normal_email(request.query_params.get("email", ""))
    if not email or _check_email(email):
        return fail(MSG_INVALID)
    user = await User.select(User.id).where((User.email == email) & User.deleted_at.is_null()).first()
    if user is None:
        return ok()
    if problem := await _may_send(request, email):
        return fail(problem)
    host = host_of(request.app.state)
    token = await codes.issue(host.wallets.store, codes.RESET, email, digits=15)
    base = (host.options.get("ServerAddress") or str(request.base_url)).rstrip("/")
    link = html.escape(f"{base}/user/reset?{urlencode({'email': email, 'token': token})}")
    system = html.escape(host.options.get("SystemName") or "New API")
    minutes = codes.CODE_TTL // 60
    text, body = _mail(
        system,
        [f"Someone asked to reset the password of your {system} account.", f"Open {link} within {minutes} minutes."],
        [f"有人请求重置您在 {system} 的密码。", f"请在 {minutes} 分钟内打开 {link}。"],
    )
    if problem := await _deliver(request, email, f"{system}: password reset / 密码重置", text, body):
        return fail(problem)
    return ok()


@post("/api/user/reset", status_code=200, exception_handlers=LIMITED)
async def reset_password(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """New API's answer: the new password, in ``data``; every session of the user ends."""
    await check_critical_rate(request)
    body = await json_object(request)
    if body is None or not isinstance(body.get("email"), str) or not isinstance(body.get("token"), str):
        return fail(MSG_INVALID)
    email = _normal_email(body["email"])
    host = host_of(request.app.state)
    if not await codes.take(host.wallets.store, codes.RESET, email, body["token"]):
        return fail("The reset link is wrong or has expired")
    password = random_key(12)
    hashed = await hash_password_async(password)
    updated = (
        await User.update({User.password: hashed, User.auth_version: User.auth_version + 1})
        .where((User.email == email) & User.deleted_at.is_null() & (User.status == USER_ENABLED))
        .returning(User.id)
    )
    if not updated:
        return fail("The reset link is wrong or has expired")
    await announce(request, "users", ids=[row["id"] for row in updated])
    return ok(password)


@route(
    "/api/oauth/email/bind",
    http_method=["GET", "POST"],
    guards=[user_auth],
    exception_handlers=LIMITED,
    status_code=200,
)
async def bind_email(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """New API's e-mail binding: ``?email=&code=`` (older) or a JSON body with both (newer)."""
    await check_critical_rate(request)
    fields: dict[str, Any] = dict(request.query_params)
    if request.method == "POST":
        fields = await json_object(request) or {}
    email = _normal_email(str(fields.get("email") or ""))
    code = str(fields.get("code") or "")
    if problem := email_problem(host_of(request.app.state).options, email):
        return fail(problem)
    caller = request.state.caller
    if await _email_taken(email, caller.id):
        return fail(MSG_EMAIL_TAKEN)
    if not await codes.take(host_of(request.app.state).wallets.store, codes.VERIFY, email, code):
        return fail(MSG_BAD_CODE)
    await User.update({User.email: email}).where(User.id == caller.id)
    return ok()


ROUTES = [send_verification, send_reset, reset_password, bind_email]
