"""Prometheus metrics, off unless ``NEWAPI_METRICS=true``.

``newapi serve`` points ``PROMETHEUS_MULTIPROC_DIR`` at a directory under the data dir (emptied at
each start), so every granian worker writes its series to files there and a scrape of ``/metrics``
on any worker adds them all up (prometheus-client's multiprocess mode). Without that variable (a
single process: tests, ``newapi_host.app:create_app`` under another server) the series are this
process's own.

The relay calls :data:`METRICS` only when it is set. Label children are looked up in a dict kept
here, not created per request: an increment costs about a microsecond. Models become labels only
once the gateway knows them (a channel serves them), so a client cannot grow the series with
invented names.
"""

from __future__ import annotations

import os
from typing import Any

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    """The gateway's series. Built with no registry: :meth:`render` collects them."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.requests = Counter(
            "newapi_relay_requests", "Relay requests answered", ["dialect", "model", "status"], registry=None
        )
        self.latency = Histogram(
            "newapi_relay_request_seconds",
            "Time from a relay request's arrival to its answer starting (headers of a stream)",
            ["dialect"],
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
        self.upstream_errors = Counter(
            "newapi_upstream_errors",
            "Upstream error answers, by channel and status",
            ["channel", "status"],
            registry=None,
        )
        self.tokens = Counter("newapi_relay_tokens", "Tokens charged", ["model", "kind"], registry=None)
        self.quota = Counter("newapi_relay_quota", "Quota charged (New API units)", ["model"], registry=None)
        self.ledger_queue = Gauge(
            "newapi_ledger_queue",
            "Settled charges waiting for the database",
            multiprocess_mode="livesum",
            registry=None,
        )
        self.key_cache = Gauge(
            "newapi_key_cache_entries",
            "API keys held in the workers' caches",
            multiprocess_mode="livesum",
            registry=None,
        )
        self._metrics = (
            self.requests,
            self.latency,
            self.upstream_errors,
            self.tokens,
            self.quota,
            self.ledger_queue,
            self.key_cache,
        )
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def request(self, dialect: str, model: str, status: int, seconds: float) -> None:
        self._child(self.requests, dialect, model, str(status)).inc()
        self._child(self.latency, dialect).observe(seconds)

    def upstream_error(self, channel_id: int, status: int) -> None:
        self._child(self.upstream_errors, str(channel_id), str(status)).inc()

    def charged(self, model: str, prompt_tokens: int, completion_tokens: int, quota: int) -> None:
        self._child(self.tokens, model, "prompt").inc(prompt_tokens)
        self._child(self.tokens, model, "completion").inc(completion_tokens)
        self._child(self.quota, model).inc(quota)

    def gauges(self, ledger_queue: int, key_cache: int) -> None:
        self.ledger_queue.set(ledger_queue)
        self.key_cache.set(key_cache)

    def render(self) -> tuple[bytes, str]:
        """The exposition text of every worker's series (this process's without multiprocess mode)."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.MultiProcessCollector(registry)
        else:
            for metric in self._metrics:
                registry.register(metric)
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def worker_stopped(self) -> None:
        """Drop this worker's live gauges from the sum (its counters keep counting toward totals)."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())


METRICS: Metrics | None = None


def setup(enabled: bool) -> Metrics | None:
    """Create the series when ``NEWAPI_METRICS`` is on (one app per process; :func:`stop` undoes it)."""
    global METRICS
    if enabled:
        METRICS = Metrics()
        return METRICS
    return None


def stop(series: Metrics) -> None:
    global METRICS
    series.worker_stopped()
    if METRICS is series:
        METRICS = None
