"""New API's per-address rate limits: the global API limit, the global web limit, critical routes.

New API counts requests per client address in three buckets, each a sliding window:

- **global API** (``GLOBAL_API_RATE_LIMIT*``, 180 per 180 s): the management API under ``/api``
  and the OpenAI dashboard routes (``/dashboard/billing/...``, ``/v1/dashboard/billing/...``,
  ``/v1/credits``). The relay itself (``/v1/chat/completions`` and the rest) is not under it:
  New API limits relay traffic per user (``ModelRequestRateLimit*``), never per address.
- **global web** (``GLOBAL_WEB_RATE_LIMIT*``, 60 per 180 s): the console's pages (New API: its
  web app). The console's static files are not counted here (they are cached by the browser).
- **critical** (``CRITICAL_RATE_LIMIT*``, 20 per 20 minutes): sign-in, sign-up, password reset,
  OAuth, top-ups and payments, key reveals, token-key log look-ups (:data:`CRITICAL_ROUTES`).
  A critical route counts against the global API budget as well, as in New API.

The counts live in the shared store (:mod:`newapi_host.store`): the counter file every worker of
a node maps, or Redis for every node, so an address gets the same budget however many workers
and nodes answer it. The address is the one :mod:`newapi_host.proxy_headers` resolved (the
client's, behind a trusted proxy). Refusals are 429 with ``Retry-After``; New API sends no body,
this gateway says why: ``{"success": false, "message": ...}`` under ``/api``, OpenAI's error
shape on the dashboard routes, plain text on console pages.

Requests on no limited route (the relay above all) pay for a dictionary look-up (the budgets of
each method and path are remembered), no store operation; with every limit off the middleware is
not installed at all.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from litestar.types import ASGIApp, Receive, Scope, Send

from newapi_host.store import StoreUnavailable

if TYPE_CHECKING:
    from newapi_host.config import Config
    from newapi_host.host import Host

API, WEB, CRITICAL = "api", "web", "critical"
COUNTED = "critical_counted"  # scope state flag: this request already counted against the critical budget

# New API's CriticalRateLimit routes (router/api-router.go). Exact paths, without a trailing slash.
CRITICAL_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/api/user/register"),
        ("POST", "/api/user/login"),
        ("POST", "/api/user/login/2fa"),
        ("POST", "/api/user/passkey/login/begin"),
        ("POST", "/api/user/passkey/login/finish"),
        ("GET", "/api/reset_password"),
        ("POST", "/api/user/reset"),
        ("GET", "/api/oauth/state"),
        ("POST", "/api/oauth/email/bind"),
        ("POST", "/api/oauth/wechat/bind"),
        ("GET", "/api/ratio_config"),
        ("POST", "/api/verify"),
        ("POST", "/api/user/topup"),
        ("POST", "/api/user/pay"),
        ("POST", "/api/user/stripe/pay"),
        ("POST", "/api/user/creem/pay"),
        ("POST", "/api/user/waffo/pay"),
        ("POST", "/api/subscription/epay/pay"),
        ("POST", "/api/subscription/stripe/pay"),
        ("POST", "/api/subscription/creem/pay"),
        ("POST", "/api/token/batch/keys"),
        ("GET", "/api/log/token"),
    }
)
CRITICAL_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("GET", re.compile(r"/api/oauth/[^/]+")),  # /api/oauth/:provider, wechat, telegram/login and bind
    ("GET", re.compile(r"/api/oauth/telegram/(login|bind)")),
    ("POST", re.compile(r"/api/auth/external/[^/]+/(jwt|header)/login")),
    ("POST", re.compile(r"/api/channel/\d+/key")),
    ("POST", re.compile(r"/api/token/\d+/key")),
    ("*", re.compile(r"/api/usage(/.*)?")),  # /api/usage/token: the whole group
)
DASHBOARD_PREFIXES = ("/dashboard/billing/", "/v1/dashboard/billing/")
STATIC_SEGMENTS = frozenset({"console-static"})


@dataclass(frozen=True, slots=True)
class IpLimits:
    api: tuple[int, int] | None  # (requests, seconds) per address, None: off
    web: tuple[int, int] | None
    critical: bool  # counts come from the options CriticalRateLimitCount / ...DurationSeconds
    web_prefixes: frozenset[str]  # first path segments of the console's pages ("" for "/")

    @classmethod
    def from_config(cls, config: Config, web_paths: Iterable[str]) -> IpLimits:
        return cls(
            api=(config.api_rate_limit, config.api_rate_limit_duration) if config.api_rate_limit > 0 else None,
            web=(config.web_rate_limit, config.web_rate_limit_duration) if config.web_rate_limit > 0 else None,
            critical=config.critical_rate_limit_enabled,
            web_prefixes=web_prefixes(web_paths),
        )

    @property
    def active(self) -> bool:
        return self.api is not None or self.web is not None or self.critical


def web_prefixes(paths: Iterable[str]) -> frozenset[str]:
    """The first segment of every console page path, static files left out."""
    return frozenset(p.strip("/").split("/", 1)[0] for p in paths) - STATIC_SEGMENTS


def is_critical(method: str, path: str) -> bool:
    path = path.rstrip("/") or "/"
    if (method, path) in CRITICAL_ROUTES:
        return True
    return any((m == "*" or m == method) and pattern.fullmatch(path) for m, pattern in CRITICAL_PATTERNS)


def kinds_of(limits: IpLimits, method: str, path: str) -> tuple[str, ...]:
    """Which budgets a request counts against, in the order they are checked."""
    if path.startswith("/v1"):  # the relay: nothing, unless it is one of the dashboard routes
        if limits.api is not None and (path.startswith(DASHBOARD_PREFIXES[1]) or path == "/v1/credits"):
            return (API,)
        return ()
    if path.startswith("/api/") or path == "/api":
        kinds: tuple[str, ...] = (API,) if limits.api is not None else ()
        if limits.critical and is_critical(method, path):
            kinds += (CRITICAL,)
        return kinds
    if path.startswith(DASHBOARD_PREFIXES[0]):
        return (API,) if limits.api is not None else ()
    if limits.web is not None and path[1:].split("/", 1)[0] in limits.web_prefixes:
        return (WEB,)
    return ()


def period(seconds: int) -> str:
    if seconds % 60 == 0:
        return f"{seconds // 60} minutes"
    return f"{seconds} seconds"


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else ""


async def count_critical(host: Host, scope: Scope) -> tuple[str, float] | None:
    """Count a critical request of this address once; (message, seconds to wait) when over the limit.

    Route handlers call this too (sign-in, 2FA, password changes...); a request the middleware
    has already counted is not counted twice. Raises :class:`StoreUnavailable` when the count
    cannot be kept.
    """
    state = scope.setdefault("state", {})
    if state.get(COUNTED) or not host.config.critical_rate_limit_enabled:
        return None
    limit = host.options.get_int("CriticalRateLimitCount", host.config.critical_rate_limit)
    window = host.options.get_int("CriticalRateLimitDurationSeconds", host.config.critical_rate_limit_duration)
    if limit <= 0 or window <= 0:
        return None
    state[COUNTED] = True
    allowed, _, wait = await host.wallets.store.hit(f"critical:{client_ip(scope)}", window, limit)
    if allowed:
        return None
    return f"You have reached the request limit: maximum {limit} requests in {period(window)}; try again later", wait


class IpRateLimitMiddleware:
    """Pure ASGI, after the proxy-header middleware (so the address is the client's)."""

    MAX_MEMO = 4096

    def __init__(self, app: ASGIApp, host: Host, limits: IpLimits) -> None:
        self.app = app
        self.host = host
        self.limits = limits
        # (method, path) -> budgets: relay paths are few, so the relay pays one dict look-up
        self._memo: dict[tuple[str, str], tuple[str, ...]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = (scope["method"], scope["path"])
            kinds = self._memo.get(route)
            if kinds is None:
                if len(self._memo) >= self.MAX_MEMO:  # paths with ids in them: start over now and then
                    self._memo.clear()
                kinds = self._memo[route] = kinds_of(self.limits, *route)
            if kinds and self.host.wallets is not None:
                refusal = await self._refusal(scope, kinds)
                if refusal is not None:
                    await _answer(send, *refusal)
                    return
        await self.app(scope, receive, send)

    async def _refusal(self, scope: Scope, kinds: tuple[str, ...]) -> tuple[int, str, bytes, float] | None:
        """(status, content type, body, retry after) of a refusal, or None to go on."""
        path = scope["path"]
        try:
            for kind in kinds:
                if kind == CRITICAL:
                    refused = await count_critical(self.host, scope)
                    if refused is not None:
                        return _envelope(429, refused[0], refused[1])
                    continue
                limit, window = self.limits.api if kind == API else self.limits.web  # type: ignore[misc]
                ip = client_ip(scope)
                allowed, _, wait = await self.host.wallets.store.hit(f"ip:{kind}:{ip}", window, limit)
                if not allowed:
                    message = (
                        f"Too many requests from your address: at most {limit} requests in {period(window)}; "
                        f"try again in {math.ceil(wait)} seconds"
                    )
                    if kind == WEB:
                        return 429, "text/plain; charset=utf-8", message.encode(), wait
                    if path.startswith("/api"):
                        return _envelope(429, message, wait)
                    return _openai(429, message, wait)
        except StoreUnavailable:
            message = "the rate limit could not be checked; try again shortly"
            if path.startswith("/api"):
                return _envelope(503, message, 1)
            if path.startswith(DASHBOARD_PREFIXES):
                return _openai(503, message, 1, code="rate_limit_check_failed")
            return 503, "text/plain; charset=utf-8", message.encode(), 1
        return None


def _envelope(status: int, message: str, wait: float) -> tuple[int, str, bytes, float]:
    return status, "application/json", json.dumps({"success": False, "message": message}).encode(), wait


def _openai(status: int, message: str, wait: float, code: str = "rate_limit_exceeded") -> tuple[int, str, bytes, float]:
    error: dict[str, Any] = {"message": message, "type": "new_api_error", "param": None, "code": code}
    return status, "application/json", json.dumps({"error": error}).encode(), wait


async def _answer(send: Send, status: int, content_type: str, body: bytes, wait: float) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(max(1, math.ceil(wait))).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
