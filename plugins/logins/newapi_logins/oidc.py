"""Generic OpenID Connect sign-in: discovery, PKCE, state and nonce, and a verified id_token.

The provider is described by its discovery document (``oidc.well_known``); the three endpoints
New API keeps as options (``oidc.authorization_endpoint`` ...) win when set. The id_token must be
signed by a key of the provider's JWKS, issued by the discovered issuer, for this client, unexpired,
and (when the attempt started here) carry this attempt's nonce; its ``sub`` is the account. The
user-info endpoint adds the name and e-mail, and must agree on ``sub``.

New API's own front end builds the provider's URL itself, without PKCE or nonce; such an attempt
(``ctx.secret`` empty) is completed like New API does, the id_token still checked when there is one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import BaseModel

from newapi_host.sdk import Identity, LoginContext, LoginFailed

from .oauth2 import authorize_url, code_of, derive, exchange, get_json
from .settings import OIDCSettings

NAME = "OIDC"
CACHE_SECONDS = 300
LEEWAY = 60  # seconds of clock difference allowed on exp / iat / nbf
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]

_documents: dict[str, tuple[float, Any]] = {}  # url -> (fetched at, JSON): discovery and JWKS


def available(settings: BaseModel | None) -> bool:
    s = settings if isinstance(settings, OIDCSettings) else None
    return bool(s and s.enabled and s.client_id and (s.well_known or s.authorization_endpoint))


def _settings(ctx: LoginContext) -> OIDCSettings:
    if not isinstance(ctx.settings, OIDCSettings) or not available(ctx.settings):
        raise LoginFailed("OIDC sign-in is not configured")
    return ctx.settings


async def _document(url: str, what: str, *, fresh: bool = False) -> Any:
    cached = _documents.get(url)
    if cached and not fresh and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    data = await get_json(NAME, url, what=what)
    _documents[url] = (time.monotonic(), data)
    return data


async def discovery(settings: OIDCSettings) -> dict[str, Any]:
    """The provider's metadata, with the endpoints set as options taking precedence."""
    found: dict[str, Any] = {}
    if settings.well_known:
        doc = await _document(settings.well_known, "discovery document")
        if not isinstance(doc, dict):
            raise LoginFailed("the OIDC discovery document is not a JSON object")
        found.update(doc)
    for key, value in (
        ("authorization_endpoint", settings.authorization_endpoint),
        ("token_endpoint", settings.token_endpoint),
        ("userinfo_endpoint", settings.user_info_endpoint),
        ("issuer", settings.issuer),
        ("jwks_uri", settings.jwks_uri),
    ):
        if value:
            found[key] = value
    return found


async def start(ctx: LoginContext) -> str:
    settings = _settings(ctx)
    meta = await discovery(settings)
    extra = {"nonce": derive(ctx.secret, "nonce")} if ctx.secret else {}
    return authorize_url(str(meta.get("authorization_endpoint", "")), settings.client_id, ctx, settings.scope, **extra)


async def _keys(jwks_uri: str, kid: str | None) -> KeySet:
    doc = await _document(jwks_uri, "signing keys")
    known = {k.get("kid") for k in doc.get("keys", []) if isinstance(k, dict)} if isinstance(doc, dict) else set()
    if kid and kid not in known:  # the provider rotated its keys: read them again, once
        doc = await _document(jwks_uri, "signing keys", fresh=True)
    try:
        return KeySet.import_key_set(doc)
    except (JoseError, ValueError, TypeError, KeyError):
        raise LoginFailed("the OIDC provider's signing keys could not be read") from None


async def verify_id_token(id_token: str, meta: Mapping[str, Any], settings: OIDCSettings, nonce: str) -> dict[str, Any]:
    """The id_token's claims once signature, issuer, audience, expiry and nonce are right."""
    issuer, jwks_uri = meta.get("issuer"), meta.get("jwks_uri")
    if not issuer or not jwks_uri:
        raise LoginFailed("the OIDC provider's issuer and signing keys are unknown; set oidc.well_known")
    try:
        header = jws.extract_compact(id_token.encode()).protected
    except (JoseError, ValueError):
        raise LoginFailed("the OIDC provider sent an id_token that is not a JWT") from None
    keys = await _keys(str(jwks_uri), header.get("kid"))
    try:
        token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
    except (JoseError, ValueError):
        raise LoginFailed("the OIDC id_token's signature is not valid") from None
    claims = dict(token.claims)
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY,
        iss={"essential": True, "value": issuer},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise LoginFailed(f"the OIDC id_token was refused ({exc.description or exc.error})") from None
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if settings.client_id not in audiences:
        raise LoginFailed("the OIDC id_token was issued for another client")
    if len(audiences) > 1 and claims.get("azp") not in (None, settings.client_id):
        raise LoginFailed("the OIDC id_token was issued for another client")
    if nonce and claims.get("nonce") != nonce:
        raise LoginFailed("the OIDC id_token does not belong to this sign-in attempt")
    return claims


async def complete(ctx: LoginContext, query: Mapping[str, str]) -> Identity:
    code = code_of(NAME, query)
    settings = _settings(ctx)
    meta = await discovery(settings)
    token_endpoint = str(meta.get("token_endpoint", ""))
    if not token_endpoint:
        raise LoginFailed("the OIDC token endpoint is not configured")
    methods = meta.get("token_endpoint_auth_methods_supported") or []
    auth = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
    token = await exchange(
        NAME, token_endpoint, settings.client_id, settings.client_secret.get_secret_value(), code, ctx, auth_method=auth
    )
    claims: dict[str, Any] = {}
    if isinstance(token.get("id_token"), str):
        nonce = derive(ctx.secret, "nonce") if ctx.secret else ""
        claims = await verify_id_token(token["id_token"], meta, settings, nonce)
    elif ctx.secret:  # we asked for openid: a provider that gives no id_token is not speaking OIDC
        raise LoginFailed("the OIDC provider sent no id_token")
    info: dict[str, Any] = {}
    if meta.get("userinfo_endpoint"):
        answer = await get_json(NAME, str(meta["userinfo_endpoint"]), token["access_token"])
        info = answer if isinstance(answer, dict) else {}
        if claims and info.get("sub") not in (None, claims["sub"]):
            raise LoginFailed("the OIDC user info belongs to someone else than the id_token")
    subject = claims.get("sub") or info.get("sub")
    if not subject:
        raise LoginFailed("the OIDC provider did not say who you are")
    merged = {**claims, **info}
    return Identity(
        method="oidc",
        subject=str(subject),
        username=str(merged.get("preferred_username") or ""),
        display_name=str(merged.get("name") or ""),
        email=str(merged.get("email") or "") if merged.get("email_verified", True) is not False else "",
    )
