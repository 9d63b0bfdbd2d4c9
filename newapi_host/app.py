"""The application factory: plugins -> registry -> Litestar app with a lifespan.

``create_app()`` is what granian imports in every worker (``newapi_host.app:create_app``,
factory mode). Tests call it with their own :class:`~newapi_host.config.Config` and fixture
plugins.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import importlib.metadata as md
import logging
import os
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar, Router
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin

from newapi_host import __version__, server_log
from newapi_host.api import billing_compat as billing_compat_api
from newapi_host.api import channels as channels_api
from newapi_host.api import custom_oauth as custom_oauth_api
from newapi_host.api import data as data_api
from newapi_host.api import email as email_api
from newapi_host.api import groups as groups_api
from newapi_host.api import logs as logs_api
from newapi_host.api import metrics as metrics_api
from newapi_host.api import oauth as oauth_api
from newapi_host.api import oauth_bindings as oauth_bindings_api
from newapi_host.api import options as options_api
from newapi_host.api import passkeys as passkeys_api
from newapi_host.api import payments as payments_api
from newapi_host.api import plugins as plugins_api
from newapi_host.api import redemptions as redemptions_api
from newapi_host.api import system as system_api
from newapi_host.api import tasks as tasks_api
from newapi_host.api import tokens as tokens_api
from newapi_host.api import twofa as twofa_api
from newapi_host.api import users as users_api
from newapi_host.api.envelope import EXCEPTION_HANDLERS
from newapi_host.auth.sessions import MAX_AGE as SESSION_MAX_AGE
from newapi_host.auth.sessions import SessionCookieConfig
from newapi_host.billing.journal import Journal
from newapi_host.billing.ledger import Ledger
from newapi_host.billing.pricing import PriceBook
from newapi_host.billing.wallets import Wallets, cluster_id
from newapi_host.body_depth import BodyDepthMiddleware
from newapi_host.config import Config
from newapi_host.db import engine as db
from newapi_host.host import Host
from newapi_host.ip_limits import IpLimits, IpRateLimitMiddleware
from newapi_host.jobs import JobRunner
from newapi_host.notify import RedisNotifier, channel_for
from newapi_host.options import Options
from newapi_host.plugins.contracts import BackgroundJob
from newapi_host.plugins.loading import build_plugin_host
from newapi_host.plugins.manager import PluginHost
from newapi_host.plugins.registry import routes_of
from newapi_host.plugins.state import PluginStates
from newapi_host.proxy_headers import ProxyHeadersMiddleware, parse_networks
from newapi_host.relay import metrics, tracing
from newapi_host.relay.asgi import MAX_BODY
from newapi_host.relay.channels import ChannelIndex
from newapi_host.relay.client import UpstreamClient
from newapi_host.relay.keys import KeyCache
from newapi_host.relay.pipeline import Relay
from newapi_host.relay.recovery import recovery_job
from newapi_host.relay.request_id import RequestIdMiddleware
from newapi_host.relay.routes import MODEL_ROUTES, RelayFront, dialect_handlers, direct_routes, document_relay_routes
from newapi_host.store import SharedStore
from newapi_host.store.memory import MemoryStore
from newapi_host.sync import RevisionWatcher, ensure_topics
from newapi_host.web import ROUTES as WEB_ROUTES

log = logging.getLogger(__name__)

CORE_ROUTES: list[Any] = [
    *system_api.ROUTES,
    *users_api.ROUTES,
    *plugins_api.ROUTES,
    *channels_api.ROUTES,
    *tokens_api.ROUTES,
    *redemptions_api.ROUTES,
    *payments_api.ROUTES,
    *oauth_api.ROUTES,
    *oauth_bindings_api.ROUTES,
    *custom_oauth_api.ROUTES,
    *email_api.ROUTES,
    *twofa_api.ROUTES,
    *passkeys_api.ROUTES,
    *billing_compat_api.ROUTES,
    *options_api.ROUTES,
    *logs_api.ROUTES,
    *tasks_api.ROUTES,
    *data_api.ROUTES,
    *groups_api.ROUTES,
    *MODEL_ROUTES,
    *metrics_api.ROUTES,
]


def _enabled_guard(plugin: str):
    """Plugin routes answer 404 while their plugin is switched off (a dict lookup per request)."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if not connection.app.state.host.registry.is_enabled(plugin):
            raise NotFoundException()

    return guard


def load_plugins(
    config: Config,
    entry_points: Iterable[md.EntryPoint] | None = None,
    extra_plugins: Mapping[str, object] | None = None,
) -> PluginHost:
    """The gateway's plugins, none of them allowed to shadow a route of the host's own API."""
    return build_plugin_host(config, entry_points, extra_plugins, reserved_routes=routes_of(CORE_ROUTES))


async def open_store(config: Config) -> SharedStore:
    """The balances' home: Redis when configured, else the file ``newapi serve`` shares, else memory."""
    if config.redis_url:
        from newapi_host.store.redis import RedisStore

        store: SharedStore = RedisStore(config.redis_url, await cluster_id())
    elif config.shared_state:
        from newapi_host.store.mmap import MmapStore

        store = MmapStore(Path(config.shared_state))
    else:
        store = MemoryStore()
    await store.start()
    return store


async def start_relay(host: Host) -> Relay:
    """Build this worker's relay: caches loaded, ledger flushing, upstream client open."""
    import anyio.to_thread

    from newapi_host.tokenizer import encoding_for

    keys = KeyCache()
    index = ChannelIndex(host.registry)
    await index.load()
    prices = PriceBook(host.options, host.registry)
    prices.reload()
    journal = await Journal.open(host.config.data_dir, host.wallets.store)
    ledger = Ledger(host.wallets, journal, options=host.options, interval=host.config.ledger_interval)
    ledger.start()
    client = UpstreamClient(
        response_timeout=host.config.relay_timeout or host.config.streaming_timeout,
        idle_timeout=host.config.streaming_timeout,
    )
    await client.start()

    async def options_changed() -> None:
        await host.options.load()
        prices.reload()

    async def plugins_changed() -> None:
        await host.states.load()
        prices.reload()
        if host.relay is not None:
            host.relay.forget_routes()
        await index.load()

    async def channels_changed() -> None:
        await host.watcher.changed("channels")

    host.watcher.on("options", options_changed)
    host.watcher.on("plugins", plugins_changed)
    host.watcher.on("channels", index.refresh)
    host.watcher.on("tokens", keys.tokens_changed, subjects=True)
    host.watcher.on("users", keys.users_changed, subjects=True)
    host.relay = Relay(
        registry=host.registry,
        options=host.options,
        keys=keys,
        index=index,
        prices=prices,
        ledger=ledger,
        client=client,
        streaming_timeout=host.config.streaming_timeout,
        on_channels_changed=channels_changed,
        error_logs=host.config.error_log_enabled,
        settings_of=host.states.settings,
    )
    # Load the token vocabularies now rather than inside the first request that needs them.
    await anyio.to_thread.run_sync(encoding_for, "gpt-4o")
    await anyio.to_thread.run_sync(encoding_for, "gpt-3.5-turbo")
    return host.relay


async def stop_relay(relay: Relay, grace: float = 20.0) -> None:
    """Let requests in flight finish (streams included), then write every charge and close."""
    await relay.drain(grace)
    await relay.ledger.stop()
    await relay.client.close()


def core_jobs(host: Host) -> tuple[BackgroundJob, ...]:
    """The host's own once-per-cluster jobs: log retention, expiry of unpaid top-up orders and
    automatic channel re-enable."""
    return (
        logs_api.LOG_CLEANUP_JOB,
        payments_api.TOPUP_EXPIRY_JOB,
        recovery_job(lambda: host.relay, host.config.channel_test_interval),
    )


async def _gauges(host: Host, series: metrics.Metrics) -> None:
    """Keep this worker's gauges current: a scrape sums every worker's last values."""
    while True:
        if host.relay is not None:
            series.gauges(host.relay.ledger.queued, host.relay.keys.size)
        await asyncio.sleep(1.0)


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    host: Host = app.state.host
    db.configure(host.engine, host.plugins.piccolo_apps())
    await db.start(host.engine)
    try:
        if host.config.run_migrations:
            await db.migrate()
        await ensure_topics()
        # Counters first, caches second: a change committed while the caches load has a newer
        # counter than the one recorded, so the first poll reloads it.
        await host.watcher.prime()
        host.wallets = Wallets(await open_store(host.config))
        await host.options.load()
        await host.states.load()
        await system_api.refresh_setup(host)
        await host.sessions.load_revoked()
        await custom_oauth_api.start(host)
        await start_relay(host)
        host.watcher.on("setup", lambda: system_api.refresh_setup(host))
        host.watcher.on("sessions", host.sessions.load_revoked)
        host.watcher.on("users", host.sessions.users_changed)
        host.watcher.start()
        if host.config.redis_url:
            channel = channel_for(await cluster_id())
            notifier = RedisNotifier(host.config.redis_url, on_message=host.watcher.wake, channel=channel)
            await notifier.start()
            host.watcher.publish = notifier.publish
            host.extras["notifier"] = notifier
        if os.environ.get("NEWAPI_GC_FREEZE") == "1":  # set by `newapi serve` for its workers
            # Everything built so far lives as long as the process: keep it out of the cyclic
            # GC's full collections, which otherwise stall requests for tens of milliseconds.
            gc.collect()
            gc.freeze()
        if (series := metrics.setup(host.config.metrics)) is not None:
            host.extras["metrics"] = (series, asyncio.get_running_loop().create_task(_gauges(host, series)))
        if (tracer := tracing.setup(host.config.tracing)) is not None:
            host.extras["tracing"] = tracer
        host.jobs = JobRunner(host.registry, host.states, app.state, core_jobs=core_jobs(host))
        host.jobs.start()
        yield
    finally:
        if "metrics" in host.extras:
            series, task = host.extras.pop("metrics")
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            metrics.stop(series)
        if host.relay is not None:
            await stop_relay(host.relay)
        if "tracing" in host.extras:  # after the drain: the last streams' spans are sent too
            await asyncio.to_thread(tracing.stop, host.extras.pop("tracing"))
        if host.jobs is not None:
            await host.jobs.stop()
        await host.watcher.stop()
        if host.wallets is not None:
            await host.wallets.store.close()
        if "notifier" in host.extras:
            await host.extras.pop("notifier").stop()
        await db.stop(host.engine)


CORE_JOBS = (logs_api.LOG_CLEANUP_JOB, payments_api.TOPUP_EXPIRY_JOB)  # run whatever plugins are on


def create_app(
    config: Config | None = None,
    *,
    entry_points: Iterable[md.EntryPoint] | None = None,
    extra_plugins: Mapping[str, object] | None = None,
) -> Litestar:
    """Build the gateway. ``entry_points``/``extra_plugins`` replace/extend discovery (tests)."""
    config = config or Config.from_env()
    if config.log_format == "json":
        server_log.setup(config.log_level, "json")
    plugins = load_plugins(config, entry_points, extra_plugins)
    host = Host(
        config=config,
        engine=db.make_engine(config),
        plugins=plugins,
        options=Options(defaults=config.option_defaults()),
        states=PluginStates(plugins.registry),
        watcher=RevisionWatcher(config.sync_interval),
    )
    host.states.options = host.options  # option-backed plugin settings (New API's option keys)
    relay_routes = dialect_handlers(plugins.registry)
    plugin_routers = [
        Router(path="/", route_handlers=c.route_handlers, guards=[_enabled_guard(c.plugin)])
        for c in plugins.registry.plugins()
        if c.route_handlers
    ]
    session = SessionCookieConfig(
        secret=hashlib.sha256(config.resolved_session_secret().encode()).digest(),
        key="session",
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="strict",
        secure=config.session_cookie_secure,
        # API-key routes never read the console cookie, except a video's content (New API's video
        # proxy answers the console session too, for the console's players).
        exclude=["^/v1(?!/videos/[^/]+/content$)", "^/v1beta", "^/healthz", "^/metrics"],
    )
    middleware: list[Any] = [
        RequestIdMiddleware,
        DefineMiddleware(BodyDepthMiddleware, max_body=MAX_BODY),
        session.middleware,
    ]
    ip_limits = IpLimits.from_config(config, (path for route in WEB_ROUTES for path in route.paths))
    if ip_limits.active:  # after the request id, so a refusal carries one too
        middleware.insert(1, DefineMiddleware(IpRateLimitMiddleware, host=host, limits=ip_limits))
    app = Litestar(
        route_handlers=[*CORE_ROUTES, *WEB_ROUTES, *relay_routes, *plugin_routers],
        state=State({"host": host}),
        lifespan=[lifespan],
        middleware=middleware,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=OpenAPIConfig(
            title="New API (Python)",
            version=__version__,
            path="/schema",
            # Only machine-readable renderings: the HTML viewers load scripts from a CDN.
            render_plugins=[JsonRenderPlugin(path=["/", "/openapi.json"]), YamlRenderPlugin()],
        ),
        request_max_body_size=MAX_BODY,
        debug=False,
        # NEWAPI_LOG_FORMAT=json: the root logger writes JSON lines (server_log), Litestar leaves it be
        **({"logging_config": None} if config.log_format == "json" else {}),
    )
    document_relay_routes(app, plugins.registry)
    app.asgi_handler = RelayFront(app.asgi_handler, direct_routes(app))
    if config.trusted_proxies:  # first of all: every route, the relay's too, sees the real client
        app.asgi_handler = ProxyHeadersMiddleware(app.asgi_handler, parse_networks(sorted(config.trusted_proxies)))
    return app
