"""WeChat sign-in through a WeChat helper server, as New API does.

The user follows the site's official account (its QR code is ``WeChatAccountQRCodeImageURL``),
gets a short code from it and types it in; the gateway asks the helper server
(``GET <WeChatServerAddress>/api/wechat/user?code=``, ``Authorization: <WeChatServerToken>``) whose
WeChat account the code belongs to. The answer's ``data`` is the user's openid.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from newapi_host.sdk import Identity, LoginContext, LoginFailed, LoginMethod

from .settings import WeChatSettings

TIMEOUT = 10.0


def available(settings: BaseModel | None) -> bool:
    return isinstance(settings, WeChatSettings) and settings.enabled and bool(settings.server_address)


async def complete(ctx: LoginContext, query: Mapping[str, str]) -> Identity:
    settings = ctx.settings
    if not isinstance(settings, WeChatSettings) or not available(settings):
        raise LoginFailed("WeChat sign-in is not configured")
    code = query.get("code", "").strip()
    if not code or len(code) > 64:
        raise LoginFailed("Invalid parameters")
    url = f"{settings.server_address.rstrip('/')}/api/wechat/user?code={quote(code)}"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            response = await client.get(url, headers={"Authorization": settings.server_token.get_secret_value()})
        answer = response.json()
    except httpx.HTTPError as exc:
        raise LoginFailed(f"The WeChat server could not be reached ({type(exc).__name__})") from None
    except ValueError:
        raise LoginFailed("The WeChat server answered with something that is not JSON") from None
    if not isinstance(answer, dict) or answer.get("success") is not True or not answer.get("data"):
        message = answer.get("message") if isinstance(answer, dict) else ""
        raise LoginFailed(str(message)[:200] or "The verification code is wrong or has expired")
    openid = str(answer["data"])
    return Identity(method="wechat", subject=openid, username=f"wechat_{openid[-8:]}", display_name="WeChat User")


METHOD = LoginMethod(id="wechat", name="WeChat", kind="widget", complete=complete, available=available)
