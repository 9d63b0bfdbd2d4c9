"""Once-per-cluster background jobs: one lease holder at a time, hand-over after it stops."""

from __future__ import annotations

import time

import pytest

from newapi_host.app import load_plugins
from newapi_host.config import Config
from newapi_host.db import engine as db
from newapi_host.jobs import JobRunner
from newapi_host.plugins.contracts import BackgroundJob
from newapi_host.plugins.state import PluginStates

from .conftest import HOST_EPS, eventually


async def test_only_the_lease_holder_runs_and_another_takes_over(db_config):
    plugins = load_plugins(db_config, HOST_EPS)

    async def sweep(ctx) -> None:
        pass

    class Plugin:
        from newapi_host.plugins import hookimpl

        @hookimpl
        def newapi_jobs(self):
            return [BackgroundJob(name="sweep", interval=0.05, run=sweep)]

    assert plugins.add("sweeper", Plugin())
    engine = db.make_engine(db_config)
    db.configure(engine)
    await db.start(engine)
    await db.migrate()
    states = PluginStates(plugins.registry)
    await states.load()

    a, b = JobRunner(plugins.registry, states, None), JobRunner(plugins.registry, states, None)
    name = "sweeper:sweep"
    assert await a.acquire(name, 10) is True
    assert await b.acquire(name, 10) is False  # a holds it
    assert await a.acquire(name, 10) is True  # renewal by the holder

    # Both runners loop; only the holder's job bodies run.
    a.start()
    b.start()
    await eventually(lambda: a.runs.get(name, 0) >= 3, what="three runs by the lease holder")
    assert b.runs.get(name, 0) == 0
    await a.stop()  # releases the lease on the way out
    await eventually(lambda: b.runs.get(name, 0) >= 1, what="the other worker taking over")
    await b.stop()
    await db.stop(engine)


async def test_expired_lease_can_be_taken(db_config):
    engine = db.make_engine(db_config)
    db.configure(engine)
    await db.start(engine)
    await db.migrate()
    plugins = load_plugins(db_config, HOST_EPS)
    states = PluginStates(plugins.registry)
    a, b = JobRunner(plugins.registry, states, None), JobRunner(plugins.registry, states, None)
    assert await a.acquire("x:y", 0.5)
    assert not await b.acquire("x:y", 5)
    # a crashed and never renewed: once its lease runs out, b gets it
    await eventually(lambda: b.acquire("x:y", 5), what="b taking the expired lease")
    assert not await a.acquire("x:y", 5)
    await db.stop(engine)


async def test_host_jobs_run_without_a_plugin_and_the_app_schedules_log_cleanup(sqlite_config):
    from .conftest import running

    ran: list[str] = []

    async def tick(ctx) -> None:
        ran.append(ctx.plugin)

    async with running(sqlite_config) as client:
        host = client.app.state.host
        assert [j.name for j in host.jobs.core_jobs] == ["log-cleanup", "topup-expiry", "channel-recovery"]
        runner = JobRunner(host.registry, host.states, client.app.state, core_jobs=(BackgroundJob("t", 0.05, tick),))
        runner.start()
        await eventually(lambda: ran, what="a run of the host job")
        await runner.stop()
    assert ran and set(ran) == {"core"}


async def test_an_inactive_job_leaves_the_lease_to_others(sqlite_config, monkeypatch):
    """``active`` False (``UPDATE_TASK=false`` for the task pollers) skips turns without taking the lease."""
    from newapi_host.sdk import task_poll_job

    engine = db.make_engine(sqlite_config)
    db.configure(engine)
    await db.start(engine)
    await db.migrate()
    switch = {"on": False}

    async def poll(ctx) -> None:
        pass

    class Plugin:
        from newapi_host.plugins import hookimpl

        @hookimpl
        def newapi_jobs(self):
            return [BackgroundJob(name="poll", interval=0.05, run=poll, active=lambda: switch["on"])]

    plugins = load_plugins(sqlite_config, HOST_EPS)
    assert plugins.add("poller", Plugin())
    states = PluginStates(plugins.registry)
    await states.load()
    runner = JobRunner(plugins.registry, states, None)
    runner.start()
    await eventually(lambda: runner.turns.get("poller:poll", 0) >= 3, what="three turns")
    assert runner.runs.get("poller:poll", 0) == 0
    other = JobRunner(plugins.registry, states, None)
    assert await other.acquire("poller:poll", 10)  # nobody took the lease meanwhile
    await other.release()
    switch["on"] = True
    await eventually(lambda: runner.runs.get("poller:poll", 0) >= 1, what="a run once active")
    await runner.stop()
    await db.stop(engine)

    monkeypatch.setenv("UPDATE_TASK", "false")
    job = task_poll_job("poll", "tasks", poll)
    assert job.active is not None and job.active() is False
    monkeypatch.setenv("UPDATE_TASK", "true")
    assert job.active() is True


@pytest.mark.postgres
async def test_a_node_whose_clock_runs_ahead_cannot_take_a_live_lease(pg_dsn, tmp_path, monkeypatch):
    """Leases are timed by the database's clock, not each node's: a node an hour ahead (a clock
    nobody synchronised) must still wait for the holder's lease to run out. (PostgreSQL only: one
    SQLite file serves one machine, whose processes share one clock.)"""
    db_config = Config(data_dir=tmp_path, sql_dsn=pg_dsn, session_secret="test-secret")
    engine = db.make_engine(db_config)
    db.configure(engine)
    await db.start(engine)
    await db.migrate()
    plugins = load_plugins(db_config, HOST_EPS)
    states = PluginStates(plugins.registry)
    a, b = JobRunner(plugins.registry, states, None), JobRunner(plugins.registry, states, None)
    assert await a.acquire("x:clock", 30)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)  # this process's clock, as node b sees it
    assert not await b.acquire("x:clock", 30)
    monkeypatch.setattr(time, "time", lambda: real() - 3600)  # and a node an hour behind renews fine
    assert await a.acquire("x:clock", 30)
    assert not await b.acquire("x:clock", 30)
    await db.stop(engine)
