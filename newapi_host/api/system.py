"""Public system routes: ``/api/status``, first-run ``/api/setup`` and ``/healthz``."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from litestar import Request, Response, get, post
from pydantic import BaseModel, ValidationError

from newapi_host import __version__
from newapi_host.auth.passwords import password_problem
from newapi_host.auth.users import create_user, root_exists
from newapi_host.db.engine import database_label, write_transaction
from newapi_host.db.tables import ROLE_ROOT, Setup, User
from newapi_host.host import Host, host_of
from newapi_host.sync import bump

from . import custom_oauth
from .envelope import fail, ok
from .oauth import available_methods

ROOT_INITIAL_QUOTA = 100_000_000  # what New API gives the root account at setup


async def mark_setup_done() -> None:
    """Record that first-run setup happened (once) and tell the other workers."""
    async with write_transaction():
        if not await Setup.exists():
            await Setup.insert(Setup(version=__version__, initialized_at=int(time.time())))
        await bump("setup")


async def refresh_setup(host: Host) -> None:
    """Setup is done once a ``setups`` row exists, or (databases from New API) a root user does."""
    if await Setup.exists():
        host.setup_done = True
    elif await root_exists():
        await Setup.insert(Setup(version=__version__, initialized_at=int(time.time())))
        host.setup_done = True
    else:
        host.setup_done = False


def _login_flags(host: Host) -> dict[str, Any]:
    methods = available_methods(host)
    ids = {m.id for m in methods}
    o = host.options
    return {
        "github_oauth": "github" in ids,
        "github_client_id": o.get("GitHubClientId"),
        "discord_oauth": "discord" in ids,
        "discord_client_id": o.get("discord.client_id"),
        "linuxdo_oauth": "linuxdo" in ids,
        "linuxdo_client_id": o.get("LinuxDOClientId"),
        "linuxdo_minimum_trust_level": o.get_int("LinuxDOMinimumTrustLevel"),
        "telegram_oauth": "telegram" in ids,
        "telegram_bot_name": o.get("TelegramBotName"),
        "oidc_enabled": "oidc" in ids,
        "oidc_client_id": o.get("oidc.client_id"),
        "oidc_authorization_endpoint": o.get("oidc.authorization_endpoint"),
        "wechat_login": "wechat" in ids,
        "wechat_qrcode": o.get("WeChatAccountQRCodeImageURL"),
        "password_login_enabled": "password" in ids and o.get_bool("PasswordLoginEnabled"),
        "login_methods": [{"id": m.id, "name": m.name, "kind": m.kind, "icon": m.icon} for m in methods],
        # New API's front end builds each one's authorization URL from these fields.
        "custom_oauth_providers": custom_oauth.status_list(host),
    }


@get("/api/status", sync_to_thread=False)
def status(request: Request[Any, Any, Any]) -> dict[str, Any]:
    host = host_of(request.app.state)
    o = host.options
    display_type = o.get("general_setting.quota_display_type", "USD")
    data: dict[str, Any] = {
        "version": __version__,
        "start_time": host.started_at,
        "system_name": o.get("SystemName"),
        "logo": o.get("Logo"),
        "footer_html": o.get("Footer"),
        "server_address": o.get("ServerAddress") or f"http://localhost:{host.config.port}",
        "docs_link": o.get("general_setting.docs_link"),
        "quota_per_unit": o.get_float("QuotaPerUnit", 500000.0),
        "display_in_currency": display_type != "TOKENS",
        "quota_display_type": display_type,
        "custom_currency_symbol": o.get("general_setting.custom_currency_symbol"),
        "custom_currency_exchange_rate": o.get_float("general_setting.custom_currency_exchange_rate", 1.0),
        "usd_exchange_rate": o.get_float("USDExchangeRate", 7.3),
        "price": o.get_float("Price", 7.3),
        "stripe_unit_price": o.get_float("StripeUnitPrice", 8.0),
        "email_verification": o.get_bool("EmailVerificationEnabled"),
        "turnstile_check": o.get_bool("TurnstileCheckEnabled"),
        "turnstile_site_key": o.get("TurnstileSiteKey"),
        "register_enabled": o.get_bool("RegisterEnabled"),
        "password_register_enabled": o.get_bool("PasswordRegisterEnabled"),
        "enable_batch_update": True,
        "enable_drawing": o.get_bool("DrawingEnabled"),
        "enable_task": o.get_bool("TaskEnabled"),
        "enable_data_export": o.get_bool("DataExportEnabled"),
        "data_export_default_time": o.get("DataExportDefaultTime"),
        "default_collapse_sidebar": o.get_bool("DefaultCollapseSidebar"),
        "mj_notify_enabled": o.get_bool("MjNotifyEnabled"),
        "demo_site_enabled": o.get_bool("DemoSiteEnabled"),
        "self_use_mode_enabled": o.get_bool("SelfUseModeEnabled"),
        "default_use_auto_group": o.get_bool("DefaultUseAutoGroup"),
        "chats": o.get_json("Chats", []),
        "setup": host.setup_done,
        "theme": "default",
    }
    data.update(_login_flags(host))
    return ok(data)


@get("/api/setup")
async def get_setup(request: Request[Any, Any, Any]) -> dict[str, Any]:
    host = host_of(request.app.state)
    if host.setup_done:
        return {"success": True, "data": {"status": True, "root_init": False, "database_type": ""}}
    return {
        "success": True,
        "data": {"status": False, "root_init": await root_exists(), "database_type": database_label(host.engine)},
    }


class SetupRequest(BaseModel):
    username: str = ""
    password: str = ""
    confirmPassword: str = ""  # noqa: N815 - New API's field name
    SelfUseModeEnabled: bool = False  # noqa: N815
    DemoSiteEnabled: bool = False  # noqa: N815


_setup_lock = asyncio.Lock()


@post("/api/setup", status_code=200)
async def post_setup(request: Request[Any, Any, Any]) -> dict[str, Any]:
    async with _setup_lock:
        return await _post_setup(request)


async def _post_setup(request: Request[Any, Any, Any]) -> dict[str, Any]:
    host = host_of(request.app.state)
    await refresh_setup(host)
    if host.setup_done:
        return fail("The system has already been initialized")
    try:
        body = SetupRequest.model_validate_json(await request.body())
    except ValidationError:
        return fail("Invalid request parameters")
    if not await root_exists():
        username = body.username.strip()
        if not username:
            return fail("Username must not be empty")
        if len(username) > 12:
            return fail("Username must be at most 12 characters")
        if body.password != body.confirmPassword:
            return fail("The two passwords do not match")
        if problem := password_problem(body.password):
            return fail(problem)
        if await User.exists().where(User.username == username):
            return fail("Username already exists")
        await create_user(username, body.password, role=ROLE_ROOT, display_name="Root User", quota=ROOT_INITIAL_QUOTA)
    await host.options.set_many(
        {
            "SelfUseModeEnabled": "true" if body.SelfUseModeEnabled else "false",
            "DemoSiteEnabled": "true" if body.DemoSiteEnabled else "false",
        }
    )
    await mark_setup_done()
    host.setup_done = True
    await host.watcher.changed("setup")
    return ok(message="System initialized successfully")


@get("/healthz")
async def health(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Liveness and readiness: answers 200 when the database answers."""
    try:
        await Setup.count()
    except Exception as exc:
        return Response({"status": "error", "database": f"{type(exc).__name__}"}, status_code=503)
    return Response({"status": "ok", "database": "ok", "version": __version__, "pid": os.getpid()}, status_code=200)


ROUTES = [status, get_setup, post_setup, health]
