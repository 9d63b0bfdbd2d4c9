"""Telegram's login widget: the browser hands over what Telegram signed with the bot's token.

Telegram's rule: the ``hash`` is HMAC-SHA256 of the other fields (``key=value`` lines, sorted)
under the SHA-256 of the bot token. A payload is also refused when its ``auth_date`` is older
than the configured age (or from the future), so a leaked link does not work for long; the host
lets each payload work once besides.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from pydantic import BaseModel

from newapi_host.sdk import Identity, LoginContext, LoginFailed, LoginMethod

from .settings import TelegramSettings

CLOCK_SKEW = 60
INVALID = "Invalid Telegram sign-in"


def available(settings: BaseModel | None) -> bool:
    return isinstance(settings, TelegramSettings) and settings.enabled and bool(settings.bot_token.get_secret_value())


def signature(fields: Mapping[str, str], bot_token: str) -> str:
    """What Telegram puts in ``hash`` for these fields."""
    check = "\n".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "hash")
    key = hashlib.sha256(bot_token.encode()).digest()
    return hmac.new(key, check.encode(), hashlib.sha256).hexdigest()


async def complete(ctx: LoginContext, fields: Mapping[str, str]) -> Identity:
    settings = ctx.settings
    if not isinstance(settings, TelegramSettings) or not available(settings):
        raise LoginFailed("Telegram sign-in is not configured")
    given = fields.get("hash", "")
    if not given or not fields.get("id") or not fields.get("auth_date"):
        raise LoginFailed(INVALID)
    if not hmac.compare_digest(signature(fields, settings.bot_token.get_secret_value()), given):
        raise LoginFailed(INVALID)
    try:
        age = time.time() - int(fields["auth_date"])
    except ValueError:
        raise LoginFailed(INVALID) from None
    if age > settings.max_age_seconds or age < -CLOCK_SKEW:
        raise LoginFailed("This Telegram sign-in has expired; please sign in again")
    name = " ".join(x for x in (fields.get("first_name", ""), fields.get("last_name", "")) if x)
    return Identity(
        method="telegram",
        subject=str(fields["id"]),
        username=fields.get("username", ""),
        display_name=name or fields.get("username", ""),
    )


METHOD = LoginMethod(id="telegram", name="Telegram", kind="widget", complete=complete, available=available)
