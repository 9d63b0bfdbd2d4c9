"""OpenAI's old billing endpoints, which key-balance tools call with an API key.

``GET [/v1]/dashboard/billing/subscription`` and ``.../usage`` answer as New API does: the
limit is remaining + used quota and the usage is the used quota, both in the site's display unit
(USD by default: quota / QuotaPerUnit; CNY: times USDExchangeRate; TOKENS: raw quota), usage in
hundredths. With option ``DisplayTokenStatEnabled`` (the default) the numbers are the key's own,
otherwise its owner's wallet. The key is checked exactly as the relay checks it; the numbers are
read from the database, not the relay's cache, so they are current.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from newapi_host.db.tables import Token, User
from newapi_host.host import host_of
from newapi_host.relay.errors import RelayError
from newapi_host.relay.keys import TokenEntry, authenticate

UNLIMITED_AMOUNT = 100_000_000


def _error(status: int, message: str, type_: str, code: str | None) -> Response[Any]:
    return Response({"error": {"message": message, "type": type_, "param": None, "code": code}}, status_code=status)


async def _entry(request: Request[Any, Any, Any]) -> TokenEntry:
    raw = request.headers.get("authorization") or request.headers.get("x-api-key") or ""
    client_ip = request.client.host if request.client else ""
    entry, _ = await authenticate(host_of(request.app.state).relay.keys, raw, client_ip)
    return entry


def _amount(request: Request[Any, Any, Any], quota: int) -> float:
    """Quota in the site's display unit, as New API's billing endpoints report it."""
    options = host_of(request.app.state).options
    per_unit = options.get_float("QuotaPerUnit", 500000.0) or 500000.0
    display = options.get("general_setting.quota_display_type", "USD")
    if display == "TOKENS":
        return float(quota)
    if display == "CNY":
        return quota / per_unit * options.get_float("USDExchangeRate", 7.3)
    return quota / per_unit


async def _figures(request: Request[Any, Any, Any], entry: TokenEntry) -> tuple[int, int, int, bool] | None:
    """(remaining, used, expired_time, unlimited) of the key, or of its owner when token stats are off."""
    if host_of(request.app.state).options.get("DisplayTokenStatEnabled", "true") == "true":
        token = (
            await Token.select(Token.remain_quota, Token.used_quota, Token.expired_time, Token.unlimited_quota)
            .where((Token.id == entry.id) & Token.deleted_at.is_null())
            .first()
        )
        if token is None:
            return None
        return token["remain_quota"], token["used_quota"], token["expired_time"], bool(token["unlimited_quota"])
    user = await User.select(User.quota, User.used_quota).where(User.id == entry.user_id).first()
    if user is None:
        return None
    return user["quota"], user["used_quota"], 0, False


async def _load(request: Request[Any, Any, Any]) -> tuple[int, int, int, bool] | Response[Any]:
    try:
        entry = await _entry(request)
    except RelayError as exc:
        return _error(exc.status, exc.message, exc.type, exc.code)
    figures = await _figures(request, entry)
    if figures is None:
        return _error(401, "invalid API key", "new_api_error", "invalid_api_key")
    return figures


@get(["/v1/dashboard/billing/subscription", "/dashboard/billing/subscription"], opt={"skip_session": True})
async def billing_subscription(request: Request[Any, Any, Any]) -> Response[Any]:
    figures = await _load(request)
    if isinstance(figures, Response):
        return figures
    remaining, used, expired_time, unlimited = figures
    amount = UNLIMITED_AMOUNT if unlimited else _amount(request, remaining + used)
    return Response(
        {
            "object": "billing_subscription",
            "has_payment_method": True,
            "soft_limit_usd": amount,
            "hard_limit_usd": amount,
            "system_hard_limit_usd": amount,
            "access_until": max(expired_time, 0),
        }
    )


@get(["/v1/dashboard/billing/usage", "/dashboard/billing/usage"], opt={"skip_session": True})
async def billing_usage(request: Request[Any, Any, Any]) -> Response[Any]:
    figures = await _load(request)
    if isinstance(figures, Response):
        return figures
    _, used, _, _ = figures
    return Response({"object": "list", "total_usage": _amount(request, used) * 100})


ROUTES = [billing_subscription, billing_usage]
