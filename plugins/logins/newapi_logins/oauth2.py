"""OAuth 2's authorization-code flow, shared by every method here (through ``authlib``).

The host keeps ``state`` (and a per-attempt ``secret``) in a cookie and checks the state on the
way back. From the secret come the PKCE verifier and the OIDC nonce, so nothing else needs
storing. When the attempt did not start here (New API's front end built the provider's URL
itself), the secret is empty and the exchange goes without PKCE, as New API's does.

Every failure is a :class:`LoginFailed` with a message safe to show: never the client secret,
never the provider's raw answer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from newapi_host.sdk import LoginContext, LoginFailed

TIMEOUT = 10.0


def derive(secret: str, label: str) -> str:
    """A value bound to this attempt (PKCE verifier, nonce): 43 URL-safe characters."""
    digest = hmac.new(secret.encode(), label.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_url(
    endpoint: str, client_id: str, ctx: LoginContext, scope: str, *, pkce: bool = True, **extra: str
) -> str:
    """The provider's sign-in page for this attempt (``state``, and PKCE when there is a secret)."""
    if not endpoint.startswith(("https://", "http://")):
        raise LoginFailed("the provider's authorization endpoint is not configured")
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": ctx.redirect_uri,
        "scope": scope,
        "state": ctx.state,
        **extra,
    }
    if pkce and ctx.secret:
        query["code_challenge"] = create_s256_code_challenge(derive(ctx.secret, "pkce"))
        query["code_challenge_method"] = "S256"
    separator = "&" if "?" in endpoint else "?"
    return f"{endpoint}{separator}{urlencode(query)}"


def code_of(name: str, query: Mapping[str, str]) -> str:
    """The authorization code from the callback, or the provider's refusal as LoginFailed."""
    if query.get("error"):
        raise LoginFailed(f"{name} says: {(query.get('error_description') or query['error'])[:200]}")
    code = query.get("code", "")
    if not code:
        raise LoginFailed(f"{name} sent no authorization code back")
    return code


async def exchange(
    name: str,
    token_url: str,
    client_id: str,
    client_secret: str,
    code: str,
    ctx: LoginContext,
    *,
    pkce: bool = True,
    auth_method: str = "client_secret_post",
) -> dict[str, Any]:
    """Trade the code for the provider's token answer (``access_token``, maybe ``id_token``)."""
    verifier = derive(ctx.secret, "pkce") if pkce and ctx.secret else None
    try:
        async with AsyncOAuth2Client(
            client_id, client_secret, token_endpoint_auth_method=auth_method, timeout=TIMEOUT
        ) as client:
            token = await client.fetch_token(
                token_url,
                code=code,
                redirect_uri=ctx.redirect_uri,
                code_verifier=verifier,
                headers={"Accept": "application/json"},
            )
    except OAuthError as exc:
        raise LoginFailed(f"{name} refused the sign-in code ({exc.error})") from None
    except httpx.HTTPError as exc:
        raise LoginFailed(f"{name} could not be reached ({type(exc).__name__})") from None
    except ValueError:
        raise LoginFailed(f"{name} answered the sign-in code with something that is not JSON") from None
    if not isinstance(token.get("access_token"), str) or not token["access_token"]:
        raise LoginFailed(f"{name} gave no access token; check the client id and secret")
    return dict(token)


async def get_json(name: str, url: str, access_token: str = "", what: str = "user") -> Any:
    headers = {"Accept": "application/json", "User-Agent": "newapi-logins"}
    if access_token:
        headers["Authorization"] = f"Bearer {access_token}"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            response = await client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        raise LoginFailed(f"{name} could not be reached ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise LoginFailed(f"{name} refused to tell the {what} ({response.status_code})")
    try:
        return response.json()
    except ValueError:
        raise LoginFailed(f"{name} answered with something that is not JSON") from None
