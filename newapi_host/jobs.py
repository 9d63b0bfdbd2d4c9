"""Runs plugins' background jobs, once per cluster where asked, paused while a plugin is off.

A once-per-cluster job runs only in the worker holding its lease in ``job_leases``. Taking or
renewing the lease is one conditional UPDATE, so it works the same on SQLite shared by local
workers and on PostgreSQL shared by many nodes. A worker that dies simply stops renewing and
another takes over when the lease runs out. On PostgreSQL leases are timed by the database's
clock: nodes' clocks may disagree, and a node running ahead would otherwise see every lease as
expired and run the job beside its holder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from typing import Any

from piccolo.engine.postgres import PostgresEngine

from newapi_host.db.tables import JobLease
from newapi_host.plugins.contracts import BackgroundJob, JobContext
from newapi_host.plugins.registry import Registry
from newapi_host.plugins.state import PluginStates

log = logging.getLogger(__name__)


def lease_seconds(job: BackgroundJob) -> float:
    """Long enough to survive one slow run, short enough to hand over quickly after a crash."""
    return max(job.interval * 3, 10.0)


class JobRunner:
    CORE = "core"  # owner name of the host's own jobs, which no plugin switch pauses

    def __init__(
        self,
        registry: Registry,
        states: PluginStates,
        app_state: Any,
        core_jobs: tuple[BackgroundJob, ...] = (),
    ) -> None:
        self.registry = registry
        self.core_jobs = core_jobs
        self.states = states
        self.app_state = app_state
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._tasks: list[asyncio.Task[None]] = []
        self.runs: dict[str, int] = {}  # completed runs per job, for tests and diagnostics
        self.turns: dict[str, int] = {}  # scheduler turns per job, run or skipped (paused, not the holder)

    @staticmethod
    def lease_name(plugin: str, job: BackgroundJob) -> str:
        return f"{plugin}:{job.name}"

    @staticmethod
    async def now() -> float:
        """Seconds since the epoch by the clock every node shares: the database's (PostgreSQL),
        else this machine's (SQLite serves one machine)."""
        if isinstance(JobLease._meta.db, PostgresEngine):
            rows = await JobLease.raw("SELECT extract(epoch FROM clock_timestamp())::float8 AS now")
            return float(rows[0]["now"])
        return time.time()

    async def acquire(self, name: str, seconds: float) -> bool:
        now = await self.now()
        await JobLease.insert(JobLease(name=name, holder="", expires_at=0.0)).on_conflict(action="DO NOTHING")
        taken = (
            await JobLease.update({JobLease.holder: self.holder, JobLease.expires_at: now + seconds})
            .where((JobLease.name == name) & ((JobLease.expires_at < now) | (JobLease.holder == self.holder)))
            .returning(JobLease.name)
        )
        return bool(taken)

    async def release(self) -> None:
        with contextlib.suppress(Exception):
            await JobLease.update({JobLease.expires_at: 0.0}).where(JobLease.holder == self.holder)

    async def _loop(self, plugin: str, job: BackgroundJob) -> None:
        name = self.lease_name(plugin, job)
        while True:
            await asyncio.sleep(job.interval)
            self.turns[name] = self.turns.get(name, 0) + 1
            if plugin != self.CORE and not self.registry.is_enabled(plugin):
                continue
            if job.active is not None and not job.active():
                continue  # switched off on this node: the lease stays free for the others
            try:
                if job.once_per_cluster and not await self.acquire(name, lease_seconds(job)):
                    continue
                await job.run(JobContext(plugin=plugin, settings=self.states.settings(plugin), state=self.app_state))
                self.runs[name] = self.runs.get(name, 0) + 1
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background job %s failed", name)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        jobs = [*((self.CORE, job) for job in self.core_jobs), *self.registry.jobs()]
        for plugin, job in jobs:
            self._tasks.append(loop.create_task(self._loop(plugin, job), name=f"job {plugin}:{job.name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.release()
