"""The ``newapi`` command: serve, migrate, plugins, plugin check|new, create-root."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import shutil
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from newapi_host import __version__
from newapi_host.config import Config


def _setup_logging(config: Config) -> None:
    from newapi_host import server_log

    server_log.setup(config.log_level, config.log_format)


async def _with_database(config: Config, migrate: bool, plugins=None):
    """Connect (and optionally migrate) the database of ``config``; returns the engine."""
    from newapi_host.app import load_plugins
    from newapi_host.db import engine as db

    plugins = plugins or load_plugins(config)
    engine = db.make_engine(config)
    db.configure(engine, plugins.piccolo_apps())
    await db.start(engine)
    if migrate:
        await db.migrate()
    return engine, plugins


def _alive(pid: str) -> bool:
    """Whether the process ``pid`` (a counter file's owner) still runs."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def port_taken(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be served, or None when it is free.

    granian binds its workers' sockets with ``SO_REUSEPORT``, so a second server on a port that
    another one (started the same way) listens on would bind too and silently share the traffic.
    A plain bind with only ``SO_REUSEADDR`` (which lets a restart reuse a port whose old
    connections linger in TIME_WAIT) fails when anything listens there.
    """
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot resolve {host!r}: {exc}"
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
                probe.listen(1)
            except OSError as exc:
                return f"{address[0]}:{port} is already in use ({exc.strerror}); is another newapi serve running?"
    return None


def _one_stop_per_worker() -> None:
    """Make a granian worker stop promptly however many stop signals reach it, and whenever.

    Two granian behaviours combine into a worker that ignores a stop until the parent kills it
    after ``--shutdown-timeout``: a worker forked from this process keeps the parent's signal
    handlers until its event loop starts, so a stop that arrives while it imports the app is
    lost; and its loop handler passes each signal through a channel that holds one message and
    is read only once the worker serves, so a second signal during start-up blocks the loop for
    good. A stop sent to the whole process group (Ctrl-C, systemd's default, ``kill -- -PGID``)
    reaches each worker twice: directly and from the granian parent. Here a forked worker
    remembers a stop from its first moment and hands one, at most, to granian once its loop
    handler exists.
    """
    import signal

    from granian import _signals

    install = getattr(_signals, "set_loop_signals", None)
    if install is None or getattr(install, "once", False):
        return
    stops = (signal.SIGINT, signal.SIGTERM)
    early: list[int] = []  # stop signals a worker got before its event loop handled them

    def remember(signum: int, frame: object) -> None:
        early.append(signum)

    def in_worker() -> None:
        early.clear()
        for sig in stops:
            signal.signal(sig, remember)

    def set_loop_signals(loop):  # type: ignore[no-untyped-def]
        event = install(loop)
        stopping = False

        def handler(signum: int, frame: object) -> None:
            nonlocal stopping
            if not stopping:
                stopping = True
                event.set()

        try:
            for sig in stops:
                loop.add_signal_handler(sig, handler, sig, None)
        except (NotImplementedError, AttributeError):
            return event  # no loop signal handlers here (Windows): granian's own handling stands
        if early:
            handler(early[0], None)
        return event

    set_loop_signals.once = True  # type: ignore[attr-defined]
    _signals.set_loop_signals = set_loop_signals
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=in_worker)


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from granian.constants import Interfaces, Loops
    from granian.server import Server

    host = args.host or config.host
    port = args.port or config.port
    if problem := port_taken(host, port):
        print(f"error: {problem}", file=sys.stderr)
        return 1

    from newapi_host import server_log
    from newapi_host.billing.journal import recover_all
    from newapi_host.db import engine as db
    from newapi_host.store import mmap as shared

    async def prepare() -> None:
        engine, _ = await _with_database(config, migrate=config.run_migrations)
        try:
            store = None
            if config.redis_url:  # a fresh counter file needs no holds back; Redis outlives us
                from newapi_host.billing.wallets import cluster_id
                from newapi_host.store.redis import RedisStore

                store = RedisStore(config.redis_url, await cluster_id())
            try:
                await recover_all(config.data_dir, store)
            finally:
                if store is not None:
                    await store.close()
        finally:
            await db.stop(engine)

    # Migrate once here, not in every worker; charge what the last run's journals hold; settle the
    # session secret before workers race for it.
    asyncio.run(prepare())
    config.resolved_session_secret()
    os.environ["NEWAPI_SKIP_MIGRATIONS"] = "1"
    os.environ["NEWAPI_GC_FREEZE"] = "1"  # a worker's start-up objects live as long as it does
    state = None
    if not config.redis_url:  # without Redis, this machine's workers share balances through a file
        state = config.data_dir / "run" / f"counters-{os.getpid()}.bin"
        for stale in state.parent.glob("counters-*.bin"):
            if not _alive(stale.stem.removeprefix("counters-")):
                stale.unlink(missing_ok=True)
        shared.create(state, int(os.environ.get("NEWAPI_SHARED_SLOTS") or shared.DEFAULT_SLOTS))
        os.environ["NEWAPI_SHARED_STATE"] = str(state)
    if config.metrics:  # every worker writes its series here; a scrape on any worker adds them up
        metrics_dir = config.data_dir / "run" / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)  # the last run's workers are gone
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    workers = args.workers or config.workers
    _one_stop_per_worker()
    logging.getLogger("newapi").info("serving on http://%s:%s with %s worker(s)", host, port, workers)
    try:
        Server(
            "newapi_host.app:create_app",
            factory=True,
            address=host,
            port=port,
            interface=Interfaces.ASGI,
            workers=workers,
            loop=Loops.uvloop if sys.platform != "win32" else Loops.asyncio,
            backlog=2048,
            # Open streams count against backpressure; leave room for many concurrent SSE responses.
            backpressure=max(1024, 4096 // workers),
            workers_kill_timeout=args.shutdown_timeout,
            # A worker that dies is replaced; the others keep serving meanwhile, and the new one
            # replays the dead one's journal.
            respawn_failed_workers=True,
            respawn_interval=0.5,
            log_access=args.access_log,
            # JSON lines: granian's own loggers and every worker's root logger (NEWAPI_LOG_FORMAT)
            log_dictconfig=server_log.granian_config(config.log_level) if config.log_format == "json" else None,
        ).serve()
    finally:
        if state is not None:
            state.unlink(missing_ok=True)
    return 0


def cmd_migrate(args: argparse.Namespace, config: Config) -> int:
    from newapi_host.db import engine as db

    async def run() -> str:
        engine, _ = await _with_database(config, migrate=False)
        try:
            return await db.migrate()
        finally:
            await db.stop(engine)

    report = asyncio.run(run())
    print(report.strip() or "migrations applied")
    return 0


def cmd_plugins(args: argparse.Namespace, config: Config) -> int:
    from newapi_host.app import load_plugins
    from newapi_host.db import engine as db
    from newapi_host.plugins.state import PluginStates

    plugins = load_plugins(config)

    async def states() -> None:
        engine, _ = await _with_database(config, migrate=config.run_migrations, plugins=plugins)
        try:
            await PluginStates(plugins.registry).load()
        finally:
            await db.stop(engine)

    asyncio.run(states())
    rows = []
    for info in plugins.plugins():
        c = plugins.registry.contributions(info.name)
        provides = c.provides() if c else {}
        summary = "; ".join(
            f"{k.replace('_', ' ')}: {', '.join(str(x['id']) if isinstance(x, dict) else str(x) for x in v)}"
            for k, v in provides.items()
            if v and k != "priced_models"
        )
        if provides.get("priced_models"):
            summary += ("; " if summary else "") + f"prices for {len(provides['priced_models'])} models"
        state = (
            "blocked"
            if info.blocked
            else "error"
            if info.load_error
            else ("on" if plugins.registry.is_enabled(info.name) else "off")
        )
        rows.append(
            {
                "name": info.name,
                "distribution": f"{info.distribution or '-'} {info.version or ''}".strip(),
                "state": state,
                "provides": summary or "-",
                "error": info.load_error or "",
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    headers = ["name", "distribution", "state", "provides"]
    widths = {h: max(len(h), *(len(r[h]) for r in rows)) if rows else len(h) for h in headers}
    print("  ".join(h.upper().ljust(widths[h]) for h in headers))
    for r in rows:
        print("  ".join(r[h].ljust(widths[h]) for h in headers))
        if r["error"]:
            print(f"    error: {r['error']}")
    return 0


def cmd_create_root(args: argparse.Namespace, config: Config) -> int:
    from newapi_host.api.system import ROOT_INITIAL_QUOTA, mark_setup_done
    from newapi_host.auth.passwords import password_problem
    from newapi_host.auth.users import create_user, root_exists
    from newapi_host.db import engine as db
    from newapi_host.db.tables import ROLE_ROOT, User

    password = args.password or os.environ.get("NEWAPI_ROOT_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("Password for the root user: ")
            if getpass.getpass("Repeat it: ") != password:
                print("error: the passwords differ", file=sys.stderr)
                return 2
    if problem := password_problem(password):
        print(f"error: {problem}", file=sys.stderr)
        return 2

    async def run() -> int:
        engine, _ = await _with_database(config, migrate=config.run_migrations)
        try:
            if await root_exists():
                print("error: a root user already exists", file=sys.stderr)
                return 1
            if await User.exists().where(User.username == args.username):
                print(f"error: the username {args.username!r} is taken", file=sys.stderr)
                return 1
            user = await create_user(
                args.username, password, role=ROLE_ROOT, display_name="Root User", quota=ROOT_INITIAL_QUOTA
            )
            await mark_setup_done()
            print(f"created root user {args.username!r} (id {user['id']})")
            return 0
        finally:
            await db.stop(engine)

    return asyncio.run(run())


def cmd_plugin_check(args: argparse.Namespace, config: Config) -> int:
    """Exit 0 when every check passes, 1 with a report of what to fix, 2 for a plugin not installed."""
    from newapi_host.sdk.testing.conformance import ConformanceRun

    if not args.verbose:  # the report says it all; the gateway's own log would only repeat it
        logging.disable(logging.CRITICAL)
    try:
        with ConformanceRun(live=not args.offline) as run:
            missing = [name for name in args.names if name not in run.host.infos]
            if missing:
                installed = ", ".join(sorted(run.host.infos)) or "none"
                print(f"error: not installed: {', '.join(missing)} (installed plugins: {installed})", file=sys.stderr)
                return 2
            reports = [run.check(name) for name in args.names]
    finally:
        logging.disable(logging.NOTSET)
    if args.json:
        print(json.dumps([r.as_json() for r in reports], indent=2))
    else:
        print("\n\n".join(r.text(verbose=args.verbose) for r in reports))
    return 0 if all(r.ok for r in reports) else 1


def cmd_plugin_new(args: argparse.Namespace, config: Config) -> int:
    from newapi_host.sdk.skeleton import SkeletonError, write_skeleton

    try:
        root, files = write_skeleton(args.name, args.kind, args.dir)
    except SkeletonError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote a {args.kind} plugin '{args.name}' in {root}:")
    for path in files:
        print(f"  {path.relative_to(root)}")
    print(f"\nnext: pip install -e '{root}[test]' && newapi plugin check {args.name} && pytest {root}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newapi", description="Self-hosted LLM gateway compatible with New API.")
    parser.add_argument("--version", action="version", version=f"newapi {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway (granian, ASGI)")
    serve.add_argument("--host", help="address to bind (env HOST, default 0.0.0.0)")
    serve.add_argument("--port", type=int, help="port (env PORT, default 3000)")
    serve.add_argument("--workers", type=int, help="worker processes (env NEWAPI_WORKERS, default: one per core)")
    serve.add_argument("--shutdown-timeout", type=int, default=30, help="seconds to let requests finish on shutdown")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply database migrations of the host and its plugins")
    migrate.set_defaults(func=cmd_migrate)

    plugins = sub.add_parser("plugins", help="list installed plugins and what each provides")
    plugins.add_argument("--json", action="store_true", help="print JSON instead of a table")
    plugins.set_defaults(func=cmd_plugins)

    plugin = sub.add_parser("plugin", help="check a plugin against the SDK's contracts, or start a new one")
    plugin_sub = plugin.add_subparsers(dest="plugin_command", required=True)
    check = plugin_sub.add_parser(
        "check",
        help="run the conformance suite against installed plugins (exit 1 if a check fails, 2 if not installed)",
    )
    check.add_argument("names", nargs="+", metavar="NAME", help="plugin (entry point) name")
    check.add_argument("--json", action="store_true", help="print the findings as JSON")
    check.add_argument("--offline", action="store_true", help="only the checks that need no gateway")
    check.add_argument("--verbose", action="store_true", help="list passed checks too, and show the gateway's log")
    check.set_defaults(func=cmd_plugin_check)
    new = plugin_sub.add_parser("new", help="write a plugin distribution whose tests pass as generated")
    new.add_argument("name", metavar="NAME", help="the plugin's name (entry point), e.g. hello")
    new.add_argument("--kind", choices=["provider", "payment", "login"], default="provider")
    new.add_argument("--dir", type=Path, help="where to write it (default: ./newapi-plugin-NAME)")
    new.set_defaults(func=cmd_plugin_new)

    root = sub.add_parser("create-root", help="create the first root (super-admin) user")
    root.add_argument("--username", default="root")
    root.add_argument("--password", help="password (else NEWAPI_ROOT_PASSWORD, standard input or a prompt)")
    root.set_defaults(func=cmd_create_root)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = Config.from_env()
    except ValueError as exc:  # a malformed environment variable: say which, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _setup_logging(config)
    return args.func(args, config)


if __name__ == "__main__":
    raise SystemExit(main())
