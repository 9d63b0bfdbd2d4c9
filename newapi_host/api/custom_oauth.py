"""Custom OAuth providers: OAuth 2 / OpenID Connect sign-in defined by root in the console.

New API's ``/api/custom-oauth-provider/*`` (root only): list, read, create, update, delete and
``POST /discovery`` (fetch a discovery document for the form, within the SSRF settings). Each
provider is a row of ``custom_oauth_providers``; once enabled it is a sign-in method at ``/api/oauth/<slug>`` like the
built-in ones (both the console's redirect flow and New API's front end, which builds the
authorization URL itself from ``/api/status``'s ``custom_oauth_providers``). Accounts are linked
in ``login_identities`` as method ``custom:<id>``, so bindings survive a renamed slug and show up
in ``/api/user/oauth/bindings`` with New API's numeric ``provider_id``.

The host owns this, not the logins plugin: the providers are rows that root edits through an API
and whose secrets must stay in the database, like channels; a plugin has no tables of the host's
and New API treats them as part of the core as well.

``client_secret`` is write-only: no answer carries it (``has_client_secret`` says whether one is
stored); an update that sends it empty or as ``**********`` keeps the stored one.

Claim mapping: ``user_id_field`` and the others are dotted paths into the user-info answer
(``sub``, ``data.user.id``, ``emails.0``), like the gjson paths New API takes for the simple cases.
An optional access policy (:mod:`.oauth_policy`) decides who may sign in at all. The sign-in's own
requests (token, user info) go to the addresses root configured, like relay traffic to channels,
without the SSRF guard that the discovery fetch (root typing an address and reading the answer)
goes through.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from litestar import Request, delete, get, post, put
from litestar.params import FromPath

from newapi_host.auth.guards import root_auth
from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import CustomOAuthProvider, LoginIdentity
from newapi_host.host import Host, host_of
from newapi_host.plugins.contracts import Identity, LoginContext, LoginFailed, LoginMethod, UpstreamRequest
from newapi_host.relay import fetch_guard
from newapi_host.relay.client import UpstreamError
from newapi_host.sync import bump

from . import oauth_policy
from .envelope import fail, json_object, ok

TOPIC = "custom_oauth"
MASK = "**********"
TIMEOUT = 15.0
DISCOVERY_LIMIT = 1024 * 1024
PREFIX = "custom:"
SLUG = re.compile(r"[a-z0-9-]{1,64}")
# Paths under /api/oauth/ that are not sign-in methods, and New API's built-in methods (a custom
# provider may not take their place even while their plugin is off).
RESERVED = frozenset(
    {"state", "email", "github", "discord", "oidc", "linuxdo", "telegram", "wechat", "password", "passkey"}
)
TEXT_FIELDS = {
    "name": 64,
    "slug": 64,
    "icon": 128,
    "client_id": 256,
    "authorization_endpoint": 512,
    "token_endpoint": 512,
    "user_info_endpoint": 512,
    "scopes": 256,
    "user_id_field": 128,
    "username_field": 128,
    "display_name_field": 128,
    "email_field": 128,
    "well_known": 512,
    "access_policy": oauth_policy.MAX_CHARS,
    "access_denied_message": 512,
}
BOOL_FIELDS = ("enabled", "pkce_enabled")
ENDPOINTS = {
    "authorization_endpoint": "authorization_endpoint",
    "token_endpoint": "token_endpoint",
    "user_info_endpoint": "userinfo_endpoint",
}
# A new provider's values; on create, an empty mapping field or scope means this default (as in
# New API).
NEW: dict[str, Any] = {
    **dict.fromkeys(TEXT_FIELDS, ""),
    "scopes": "openid profile email",
    "user_id_field": "sub",
    "username_field": "preferred_username",
    "display_name_field": "name",
    "email_field": "email",
    "enabled": False,
    "pkce_enabled": False,
    "auth_style": 0,
    "client_secret": "",
}
PUBLIC = [c for c in CustomOAuthProvider._meta.columns if c._meta.name != "client_secret"]


def link_key(provider: str) -> str:
    """The ``login_identities`` method for New API's numeric ``provider_id`` (else unchanged)."""
    return f"{PREFIX}{provider}" if provider.isdigit() else provider


def view(row: Mapping[str, Any], has_secret: bool) -> dict[str, Any]:
    """A provider as the API shows it: every column but the secret."""
    body = {c._meta.name: row[c._meta.name] for c in PUBLIC}
    body["enabled"], body["pkce_enabled"] = bool(row["enabled"]), bool(row["pkce_enabled"])
    body["has_client_secret"] = has_secret
    return body


# ---------------------------------------------------------------- status cache (all workers)


async def load(host: Host) -> None:
    """Refresh the enabled providers ``/api/status`` lists (it answers from memory)."""
    rows = (
        await CustomOAuthProvider.select(*PUBLIC)
        .where(CustomOAuthProvider.enabled == True)  # noqa: E712 (a SQL expression)
        .order_by(CustomOAuthProvider.id)
    )
    host.extras["custom_oauth_status"] = [
        {k: r[k] for k in ("id", "name", "slug", "icon", "client_id", "authorization_endpoint", "scopes")} for r in rows
    ]


async def start(host: Host) -> None:
    await load(host)
    host.watcher.on(TOPIC, lambda: load(host))


def status_list(host: Host) -> list[dict[str, Any]]:
    return list(host.extras.get("custom_oauth_status", []))


async def _announce(request: Request[Any, Any, Any]) -> None:
    await host_of(request.app.state).watcher.changed(TOPIC)


# ---------------------------------------------------------------- the sign-in flow


def claim(data: Any, path: str) -> str:
    """The value at a dotted path (``data.user.id``, ``emails.0``) as text; "" when absent or not
    a single value."""
    value = oauth_policy.lookup(data, path)
    return "" if isinstance(value, (dict, list)) else oauth_policy.as_text(value)


def _verifier(secret: str) -> str:
    """The attempt's PKCE verifier, derived from its secret (kept in the state cookie)."""
    digest = hmac.new(secret.encode(), b"custom-oauth-pkce", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class _Flow:
    """Authorization code flow for one provider row (the row includes the client secret)."""

    def __init__(self, row: Mapping[str, Any]) -> None:
        self.row = dict(row)
        self.name = str(row["name"])

    def method(self) -> LoginMethod:
        return LoginMethod(
            id=f"{PREFIX}{self.row['id']}",
            name=self.name,
            kind="redirect",
            start=self.start,
            complete=self.complete,
            icon=str(self.row["icon"] or ""),
        )

    async def start(self, ctx: LoginContext) -> str:
        query = {
            "response_type": "code",
            "client_id": self.row["client_id"],
            "redirect_uri": ctx.redirect_uri,
            "scope": self.row["scopes"],
            "state": ctx.state,
        }
        if self.row["pkce_enabled"] and ctx.secret:
            query["code_challenge"] = _challenge(_verifier(ctx.secret))
            query["code_challenge_method"] = "S256"
        endpoint = str(self.row["authorization_endpoint"])
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"

    async def complete(self, ctx: LoginContext, query: Mapping[str, str]) -> Identity:
        if query.get("error"):
            raise LoginFailed(f"{self.name} says: {(query.get('error_description') or query['error'])[:200]}")
        code = query.get("code", "")
        if not code:
            raise LoginFailed(f"{self.name} sent no authorization code back")
        token = await self._exchange(code, ctx)
        user = await self._user(token)
        subject = claim(user, self.row["user_id_field"])
        if not subject:
            raise LoginFailed(
                f"{self.name} did not say who you are (no '{self.row['user_id_field']}' in its user answer)"
            )
        if str(self.row["access_policy"] or "").strip():
            try:
                policy = oauth_policy.parse(self.row["access_policy"])
            except oauth_policy.PolicyError:
                raise LoginFailed(
                    f"{self.name} sign-in is misconfigured (its access policy); tell the administrator"
                ) from None
            allowed, failure = oauth_policy.evaluate(user, policy)
            if not allowed:
                message = str(self.row["access_denied_message"] or "")
                raise LoginFailed(oauth_policy.denied_message(message, self.name, user, failure))
        username = claim(user, self.row["username_field"])
        return Identity(
            method=f"{PREFIX}{self.row['id']}",
            subject=subject,
            username=username,
            display_name=claim(user, self.row["display_name_field"]) or username,
            email=claim(user, self.row["email_field"]),
        )

    async def _exchange(self, code: str, ctx: LoginContext) -> dict[str, str]:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": ctx.redirect_uri}
        headers = {"Accept": "application/json"}
        client_id, secret = str(self.row["client_id"]), str(self.row["client_secret"] or "")
        if int(self.row["auth_style"] or 0) == 2:  # New API's AuthStyleInHeader: HTTP Basic
            pair = f"{client_id}:{secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        else:  # 0 (auto) and 1: in the form, as New API does
            form["client_id"] = client_id
            if secret:
                form["client_secret"] = secret
        if self.row["pkce_enabled"] and ctx.secret:
            form["code_verifier"] = _verifier(ctx.secret)
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                response = await client.post(str(self.row["token_endpoint"]), data=form, headers=headers)
        except httpx.HTTPError as exc:
            raise LoginFailed(f"{self.name} could not be reached ({type(exc).__name__})") from None
        token = _token_answer(response.text)
        if token.get("error"):
            detail = (token.get("error_description") or token["error"])[:200]
            if secret:  # a provider that echoes what it was sent must not show the secret
                detail = detail.replace(secret, "**********")
            raise LoginFailed(f"{self.name} refused the sign-in code ({detail})")
        if not token.get("access_token"):
            raise LoginFailed(
                f"{self.name} gave no access token ({response.status_code}); check the client id and secret"
            )
        return token

    async def _user(self, token: Mapping[str, str]) -> Any:
        kind = (token.get("token_type") or "").strip()
        kind = "Bearer" if not kind or kind.lower() == "bearer" else kind
        headers = {"Authorization": f"{kind} {token['access_token']}", "Accept": "application/json"}
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as client:
                response = await client.get(str(self.row["user_info_endpoint"]), headers=headers)
        except httpx.HTTPError as exc:
            raise LoginFailed(f"{self.name} could not be reached ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise LoginFailed(f"{self.name} refused to tell who you are ({response.status_code})")
        try:
            return response.json()
        except ValueError:
            raise LoginFailed(f"{self.name} answered with something that is not JSON") from None


def _token_answer(text: str) -> dict[str, str]:
    """The token endpoint's answer: JSON, or a form-encoded body (GitHub-style servers)."""
    try:
        data = json.loads(text)
    except ValueError:
        data = dict(parse_qsl(text))
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(v, (str, int, float))}


async def method_for(slug: str, *, enabled_only: bool = True) -> LoginMethod | None:
    """The sign-in method of the provider with this slug (enabled ones only, unless told)."""
    if not SLUG.fullmatch(slug):
        return None
    query = CustomOAuthProvider.select().where(CustomOAuthProvider.slug == slug)
    if enabled_only:
        query = query.where(CustomOAuthProvider.enabled == True)  # noqa: E712
    row = await query.first()
    return _Flow(row).method() if row is not None else None


async def providers_by_key(keys: list[str]) -> dict[str, dict[str, Any]]:
    """Name, slug and icon of the providers behind ``custom:<id>`` link keys."""
    ids = [int(k[len(PREFIX) :]) for k in keys if k.startswith(PREFIX) and k[len(PREFIX) :].isdigit()]
    if not ids:
        return {}
    rows = await CustomOAuthProvider.select(
        CustomOAuthProvider.id, CustomOAuthProvider.name, CustomOAuthProvider.slug, CustomOAuthProvider.icon
    ).where(CustomOAuthProvider.id.is_in(ids))
    return {f"{PREFIX}{r['id']}": r for r in rows}


# ---------------------------------------------------------------- root's API


async def _discover(host: Host, url: str) -> dict[str, Any] | str:
    """The discovery document at ``url``, or why not. Root typed the address and sees the answer,
    so the fetch obeys the SSRF settings (``fetch_setting.*``) like the channel test."""
    if not url.startswith(("https://", "http://")):
        return "The discovery URL must start with http:// or https://"
    try:
        response = await host.relay.client.send(
            UpstreamRequest("GET", url, {"Accept": "application/json"}),
            response_timeout=TIMEOUT,
            guard=fetch_guard.policy(host.options),
        )
        try:
            body = await response.read(DISCOVERY_LIMIT)
        finally:
            await response.close()
    except UpstreamError as exc:
        return f"Could not fetch the discovery document: {exc.message}"
    if response.status != 200:
        return f"Could not fetch the discovery document ({response.status})"
    try:
        document = json.loads(body)
    except ValueError:
        return "The discovery document is not JSON"
    return document if isinstance(document, dict) else "The discovery document is not a JSON object"


def _clean(body: Mapping[str, Any], partial: bool) -> dict[str, Any] | str:
    """The body's known fields, typed and trimmed, or what is wrong with them."""
    values: dict[str, Any] = {}
    for field, length in TEXT_FIELDS.items():
        if field not in body or (partial and body[field] is None):
            continue
        value = body[field]
        if value is None:
            value = ""
        if not isinstance(value, str):
            return f"{field} must be a string"
        value = value.strip()
        if len(value) > length:
            return f"{field} is longer than {length} characters"
        values[field] = value
    for field in BOOL_FIELDS:
        if body.get(field) is not None:
            if not isinstance(body[field], bool):
                return f"{field} must be true or false"
            values[field] = body[field]
    if body.get("auth_style") is not None:
        if body["auth_style"] not in (0, 1, 2) or isinstance(body["auth_style"], bool):
            return "auth_style must be 0 (auto), 1 (in the form) or 2 (HTTP Basic)"
        values["auth_style"] = body["auth_style"]
    secret = body.get("client_secret")
    if secret is not None:
        if not isinstance(secret, str) or len(secret) > 512:
            return "client_secret must be a string of at most 512 characters"
        if secret.strip() and secret.strip() != MASK:
            values["client_secret"] = secret.strip()
    if "slug" in values:
        values["slug"] = values["slug"].lower()
    return values


async def _complete(request: Request[Any, Any, Any], row: dict[str, Any], provider_id: int) -> str | None:
    """Fill endpoints from the discovery document when missing, then check the whole row."""
    if row.get("well_known") and not all(row.get(f) for f in ENDPOINTS):
        document = await _discover(host_of(request.app.state), row["well_known"])
        if isinstance(document, str):
            return document
        for field, key in ENDPOINTS.items():
            if not row.get(field) and isinstance(document.get(key), str):
                row[field] = document[key][:512]
    if not row.get("name"):
        return "name is required"
    slug = row.get("slug", "")
    if not SLUG.fullmatch(slug):
        return "slug is required: lowercase letters, digits and hyphens"
    host = host_of(request.app.state)
    if slug in RESERVED or host.registry.login_method(slug) is not None:
        return f"The slug '{slug}' is a built-in sign-in method's"
    taken = CustomOAuthProvider.exists().where(CustomOAuthProvider.slug == slug)
    if provider_id:
        taken = taken.where(CustomOAuthProvider.id != provider_id)
    if await taken:
        return f"The slug '{slug}' is taken"
    if not row.get("client_id"):
        return "client_id is required"
    for field in ENDPOINTS:
        if not str(row.get(field, "")).startswith(("https://", "http://")):
            return f"{field} is required (an http:// or https:// URL), or a well_known URL that names it"
    if not row.get("user_id_field"):
        return "user_id_field is required"
    if row.get("access_policy"):
        try:
            oauth_policy.parse(row["access_policy"])
        except oauth_policy.PolicyError as exc:
            return f"access_policy is invalid: {exc}"
    return None


def _provider_id(value: str) -> int | None:
    return int(value) if value.isdigit() and len(value) < 10 else None


@get("/api/custom-oauth-provider", guards=[root_auth])
async def list_providers() -> dict[str, Any]:
    rows = await CustomOAuthProvider.select().order_by(CustomOAuthProvider.id)
    return ok([view(r, bool(r["client_secret"])) for r in rows])


@get("/api/custom-oauth-provider/{provider_id:str}", guards=[root_auth])
async def get_provider(provider_id: FromPath[str]) -> dict[str, Any]:
    pid = _provider_id(provider_id)
    row = await CustomOAuthProvider.select().where(CustomOAuthProvider.id == pid).first() if pid else None
    if row is None:
        return fail("OAuth provider not found")
    return ok(view(row, bool(row["client_secret"])))


@post("/api/custom-oauth-provider", guards=[root_auth], status_code=200)
async def create_provider(request: Request[Any, Any, Any]) -> dict[str, Any]:
    body = await json_object(request)
    if body is None:
        return fail("Invalid request: a JSON object is expected")
    values = _clean(body, partial=False)
    if isinstance(values, str):
        return fail(values)
    row = {**NEW, **{k: v for k, v in values.items() if v != ""}}
    if (problem := await _complete(request, row, 0)) is not None:
        return fail(problem)
    now = int(time.time())
    row.update(created_at=now, updated_at=now)
    try:
        async with write_transaction():
            inserted = await CustomOAuthProvider.insert(CustomOAuthProvider(**row)).returning(CustomOAuthProvider.id)
            await bump(TOPIC)
    except Exception as exc:  # the slug's unique index, when two saves raced past the check
        if "unique" not in str(exc).lower():
            raise
        return fail(f"The slug '{row['slug']}' is taken")
    await _announce(request)
    saved = await CustomOAuthProvider.select().where(CustomOAuthProvider.id == inserted[0]["id"]).first()
    assert saved is not None
    return ok(view(saved, bool(saved["client_secret"])), "created")


@put("/api/custom-oauth-provider/{provider_id:str}", guards=[root_auth], status_code=200)
async def update_provider(request: Request[Any, Any, Any], provider_id: FromPath[str]) -> dict[str, Any]:
    pid = _provider_id(provider_id)
    row = await CustomOAuthProvider.select().where(CustomOAuthProvider.id == pid).first() if pid else None
    if row is None:
        return fail("OAuth provider not found")
    body = await json_object(request)
    if body is None:
        return fail("Invalid request: a JSON object is expected")
    values = _clean(body, partial=True)
    if isinstance(values, str):
        return fail(values)
    row.update(values)
    if (problem := await _complete(request, row, row["id"])) is not None:
        return fail(problem)
    row["updated_at"] = int(time.time())
    changes = {getattr(CustomOAuthProvider, k): v for k, v in row.items() if k not in ("id", "created_at")}
    try:
        async with write_transaction():
            await CustomOAuthProvider.update(changes).where(CustomOAuthProvider.id == row["id"])
            await bump(TOPIC)
    except Exception as exc:  # as in create_provider
        if "unique" not in str(exc).lower():
            raise
        return fail(f"The slug '{row['slug']}' is taken")
    await _announce(request)
    return ok(view(row, bool(row["client_secret"])), "updated")


@delete("/api/custom-oauth-provider/{provider_id:str}", guards=[root_auth], status_code=200)
async def delete_provider(request: Request[Any, Any, Any], provider_id: FromPath[str]) -> dict[str, Any]:
    pid = _provider_id(provider_id)
    if pid is None or not await CustomOAuthProvider.exists().where(CustomOAuthProvider.id == pid):
        return fail("OAuth provider not found")
    async with write_transaction():
        if await LoginIdentity.exists().where(LoginIdentity.method == f"{PREFIX}{pid}"):
            return fail("Users are still linked to this provider; unlink them first (or disable the provider)")
        await CustomOAuthProvider.delete().where(CustomOAuthProvider.id == pid)
        await bump(TOPIC)
    await _announce(request)
    return ok(None, "deleted")


@post("/api/custom-oauth-provider/discovery", guards=[root_auth], status_code=200)
async def discovery(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """New API's ``FetchCustomOAuthDiscovery``: the document, for the console's form."""
    body = await json_object(request)
    if body is None:
        return fail("Invalid request: a JSON object is expected")
    url = str(body.get("well_known_url") or "").strip()
    issuer = str(body.get("issuer_url") or "").strip()
    if not url and not issuer:
        return fail("Give well_known_url or issuer_url")
    url = url or issuer.rstrip("/") + "/.well-known/openid-configuration"
    document = await _discover(host_of(request.app.state), url)
    if isinstance(document, str):
        return fail(document)
    return ok({"well_known_url": url, "discovery": document})


ROUTES = [list_providers, get_provider, create_provider, update_provider, delete_provider, discovery]
