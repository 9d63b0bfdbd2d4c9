"""Process configuration, read once from environment variables.

Runtime settings that admins change while the gateway runs live in the ``options`` table
instead (see :mod:`newapi_host.options`); this module holds only what is fixed for the life of
a process: where the data is, which database and cache to use, how to serve.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _csv(value: str | None) -> frozenset[str]:
    return frozenset(p.strip() for p in (value or "").split(",") if p.strip())


def _minutes(value: str | None, default: float) -> float:
    """Minutes (fractions allowed) to seconds; empty, zero or negative keeps the default."""
    minutes = float(value) if value and value.strip() else 0.0
    return minutes * 60 if minutes > 0 else default


# -- tracing (newapi_host/relay/tracing.py): which exporter the standard OTEL_* variables ask for

EXPORTERS = ("otlp", "console")
PROTOCOL = "http/protobuf"


def exporter_from_env(env: Mapping[str, str]) -> str:
    """The span exporter the environment asks for: ``"otlp"``, ``"console"`` or ``""`` (off).

    Unlike OpenTelemetry's own default (OTLP to localhost), nothing is exported unless asked:
    ``OTEL_TRACES_EXPORTER=otlp|console``, or an OTLP endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT``
    or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) with ``OTEL_TRACES_EXPORTER`` unset.
    ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none`` turns it off.
    """
    if (env.get("OTEL_SDK_DISABLED") or "").strip().lower() == "true":
        return ""
    names = [n.strip().lower() for n in (env.get("OTEL_TRACES_EXPORTER") or "").split(",") if n.strip()]
    if not names:
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        names = ["otlp"] if (endpoint or "").strip() else []
    if not names or names == ["none"]:
        return ""
    unknown = [n for n in names if n not in EXPORTERS]
    if unknown or len(names) > 1:
        raise ValueError(
            f"OTEL_TRACES_EXPORTER={env.get('OTEL_TRACES_EXPORTER')!r}: the gateway exports spans with one of "
            f"{', '.join(EXPORTERS)} (or none)"
        )
    if names[0] == "otlp":
        protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or PROTOCOL
        if protocol.strip().lower() != PROTOCOL:
            raise ValueError(
                f"OTLP protocol {protocol!r} is not supported: the gateway sends traces as {PROTOCOL} "
                "(an OpenTelemetry Collector accepts it on port 4318)"
            )
    needed = ["opentelemetry.sdk.trace"] + (["opentelemetry.exporter.otlp.proto.http"] if names[0] == "otlp" else [])
    for module in needed:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise ValueError(
                f"tracing is configured but {module} is not installed; install the otel extra: "
                "pip install 'newapi-host[otel]'"
            )
    return names[0]


LOG_FORMATS = ("text", "json")


def _log_format(value: str | None) -> str:
    name = (value or "text").strip().lower()
    if name not in LOG_FORMATS:
        raise ValueError(f"NEWAPI_LOG_FORMAT={value!r}: use one of {', '.join(LOG_FORMATS)}")
    return name


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number of at least 1 from ``name``, the default when unset; anything else is refused."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be at least 1 (turn the limit off with its _ENABLE variable instead)")
    return value


def _address_limit(env: Mapping[str, str], prefix: str, count: int, seconds: int) -> tuple[int, int]:
    """(requests, seconds) of one of New API's per-address limits; (0, seconds) when switched off."""
    enabled = _bool(env.get(f"{prefix}_ENABLE"), True)
    limit = _count(env, prefix, count)
    duration = _count(env, f"{prefix}_DURATION", seconds)
    return (limit if enabled else 0), duration


def default_workers() -> int:
    """One worker per core, at least one and at most eight (each worker holds its own caches)."""
    return max(1, min(os.cpu_count() or 1, 8))


@dataclass(frozen=True, slots=True)
class Config:
    data_dir: Path = Path("data")
    sql_dsn: str = ""  # empty: SQLite under data_dir
    sqlite_path: Path | None = None
    redis_url: str = ""  # empty: in-memory cache, single node
    host: str = "0.0.0.0"
    port: int = 3000
    workers: int = field(default_factory=default_workers)
    session_secret: str = ""
    session_cookie_secure: bool = False
    disabled_plugins: frozenset[str] = frozenset()
    sync_interval: float = 0.5
    streaming_timeout: float = 300.0
    relay_timeout: float = 0.0  # 0: no limit on waiting for response headers beyond streaming_timeout
    error_log_enabled: bool = False  # ERROR_LOG_ENABLED: failed relay requests leave a type-5 log row
    trusted_proxies: frozenset[str] = frozenset()  # TRUSTED_PROXIES: addresses whose X-Forwarded-For is believed
    run_migrations: bool = True
    log_level: str = "INFO"
    ledger_interval: float = 1.0  # NEWAPI_LEDGER_INTERVAL: seconds between a worker's writes of settled charges
    shared_state: str = ""  # NEWAPI_SHARED_STATE: the counter file `newapi serve` shares with its workers
    # CHANNEL_TEST_FREQUENCY (minutes, as New API): how often auto-disabled channels are re-tested
    channel_test_interval: float = 600.0
    metrics: bool = False  # NEWAPI_METRICS: serve Prometheus series at /metrics
    metrics_token: str = field(default="", repr=False)  # NEWAPI_METRICS_TOKEN: the bearer token /metrics asks for
    # The span exporter the standard OTEL_* variables configure ("otlp", "console"; "" = no tracing)
    tracing: str = ""
    log_format: str = "text"  # NEWAPI_LOG_FORMAT: "text" (for people) or "json" (one object per line)
    # New API's per-address limits (see newapi_host.ip_limits). Off in a Config built in code (tests,
    # the plugin kit); from_env turns them on with New API's defaults unless the environment says otherwise.
    api_rate_limit: int = 0  # GLOBAL_API_RATE_LIMIT (0: off, GLOBAL_API_RATE_LIMIT_ENABLE=false)
    api_rate_limit_duration: int = 180  # GLOBAL_API_RATE_LIMIT_DURATION, seconds
    web_rate_limit: int = 0  # GLOBAL_WEB_RATE_LIMIT (0: off)
    web_rate_limit_duration: int = 180  # GLOBAL_WEB_RATE_LIMIT_DURATION, seconds
    critical_rate_limit_enabled: bool = True  # CRITICAL_RATE_LIMIT_ENABLE
    critical_rate_limit: int = 20  # CRITICAL_RATE_LIMIT: the default of the option CriticalRateLimitCount
    critical_rate_limit_duration: int = 1200  # CRITICAL_RATE_LIMIT_DURATION: ... of CriticalRateLimitDurationSeconds

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        sqlite_path = env.get("SQLITE_PATH")
        api_limit, api_duration = _address_limit(env, "GLOBAL_API_RATE_LIMIT", 180, 180)
        web_limit, web_duration = _address_limit(env, "GLOBAL_WEB_RATE_LIMIT", 60, 180)
        return cls(
            data_dir=Path(env.get("NEWAPI_DATA_DIR") or "data"),
            sql_dsn=env.get("SQL_DSN", "").strip(),
            sqlite_path=Path(sqlite_path) if sqlite_path else None,
            redis_url=env.get("REDIS_CONN_STRING", "").strip(),
            host=env.get("HOST") or "0.0.0.0",
            port=int(env.get("PORT") or 3000),
            workers=int(env.get("NEWAPI_WORKERS") or default_workers()),
            session_secret=env.get("SESSION_SECRET", ""),
            session_cookie_secure=_bool(env.get("SESSION_COOKIE_SECURE")),
            disabled_plugins=_csv(env.get("NEWAPI_DISABLED_PLUGINS")),
            sync_interval=float(env.get("NEWAPI_SYNC_INTERVAL") or 0.5),
            streaming_timeout=float(env.get("STREAMING_TIMEOUT") or 300),
            relay_timeout=float(env.get("RELAY_TIMEOUT") or 0),
            error_log_enabled=_bool(env.get("ERROR_LOG_ENABLED")),
            trusted_proxies=_csv(env.get("TRUSTED_PROXIES")),
            run_migrations=not _bool(env.get("NEWAPI_SKIP_MIGRATIONS")),
            log_level=(env.get("NEWAPI_LOG_LEVEL") or ("DEBUG" if _bool(env.get("DEBUG")) else "INFO")).upper(),
            ledger_interval=float(env.get("NEWAPI_LEDGER_INTERVAL") or 1.0),
            shared_state=env.get("NEWAPI_SHARED_STATE", ""),
            channel_test_interval=_minutes(env.get("CHANNEL_TEST_FREQUENCY"), 600.0),
            metrics=_bool(env.get("NEWAPI_METRICS")),
            metrics_token=env.get("NEWAPI_METRICS_TOKEN", "").strip(),
            tracing=exporter_from_env(env),
            log_format=_log_format(env.get("NEWAPI_LOG_FORMAT")),
            api_rate_limit=api_limit,
            api_rate_limit_duration=api_duration,
            web_rate_limit=web_limit,
            web_rate_limit_duration=web_duration,
            critical_rate_limit_enabled=_bool(env.get("CRITICAL_RATE_LIMIT_ENABLE"), True),
            critical_rate_limit=_count(env, "CRITICAL_RATE_LIMIT", 20),
            critical_rate_limit_duration=_count(env, "CRITICAL_RATE_LIMIT_DURATION", 1200),
        )

    def option_defaults(self) -> dict[str, str]:
        """Option defaults the environment sets: the critical limit, which admins may also change live."""
        return {
            "CriticalRateLimitCount": str(self.critical_rate_limit),
            "CriticalRateLimitDurationSeconds": str(self.critical_rate_limit_duration),
        }

    @property
    def database_type(self) -> str:
        """``postgres`` or ``sqlite``, in the words New API's ``/api/setup`` uses."""
        return "postgres" if self.sql_dsn.startswith(("postgres://", "postgresql://")) else "sqlite"

    @property
    def database_path(self) -> Path:
        return self.sqlite_path or self.data_dir / "newapi.db"

    def resolved_session_secret(self) -> str:
        """The cookie-signing secret: ``SESSION_SECRET``, else one generated once and kept in the data dir.

        Keeping the generated secret on disk means every worker and every restart signs cookies
        the same way, so sessions survive both.
        """
        if self.session_secret:
            return self.session_secret
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / ".session_secret"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            for _ in range(50):  # another worker may be writing it right now
                secret = path.read_text().strip()
                if secret:
                    return secret
                time.sleep(0.02)
            raise RuntimeError(f"{path} is empty; delete it or set SESSION_SECRET") from None
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        return path.read_text().strip()
