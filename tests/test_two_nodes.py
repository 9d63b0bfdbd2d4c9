"""Two ``newapi serve`` nodes sharing PostgreSQL and Redis agree within a second, and run jobs once.

Each node is a real server (two granian workers) on its own port and data directory. An admin
change is made on node A; then both nodes are asked, on a new connection each time (so every
worker answers some of them), until each has given the new answer :data:`STREAK` times in a row.
No request sent more than :data:`LIMIT` after the admin call's answer may get the old answer.
The nodes poll the revisions only every 30 s here, so anything that arrives sooner came through
the Redis notification every node listens to (a default installation polls every 0.5 s as well).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .conftest import LOCAL_UPSTREAMS, PG_DSN, REDIS_URL, unavailable
from .servers import Console, Served, redis_subscriptions, serve, stop_group
from .upstreams import FakeUpstream, start_fake_openai

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

LIMIT = 1.0  # seconds from the admin's answer until every worker of both nodes agrees
STREAK = 12  # new answers in a row per node: with two workers, each is missed with p = 2**-12
JOB_INTERVAL = 0.6  # seconds: CHANNEL_TEST_FREQUENCY=0.01 minutes
PRICE = 0.01  # USD per call: 5,000 quota


@dataclass
class Cluster:
    a: Served
    b: Served
    console: Console  # root, signed in on node A
    dsn: str
    up: FakeUpstream
    redis_url: str
    env: dict[str, str]  # what every node of the cluster is started with

    @property
    def bases(self) -> list[str]:
        return [self.a.base, self.b.base]


def _run(coro):
    return asyncio.run(coro)


async def _create_database() -> str:
    """A new PostgreSQL database for the module's two nodes (as ``fresh_pg_database``, but shared)."""
    import asyncpg

    try:
        conn = await asyncpg.connect(PG_DSN, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        unavailable("PostgreSQL", f"{PG_DSN}: {exc}")
    name = f"newapi_test_{uuid.uuid4().hex[:12]}"
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{PG_DSN.rpartition('/')[0]}/{name}"


async def _drop_database(dsn: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_DSN, timeout=3)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{dsn.rpartition("/")[2]}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, redis_url_module: str) -> Iterator[Cluster]:
    dsn = _run(_create_database())
    up = start_fake_openai()
    env = {
        "SQL_DSN": dsn,
        "REDIS_CONN_STRING": redis_url_module,
        "NEWAPI_SYNC_INTERVAL": "30",  # only Redis can bring a change within a second
        "CHANNEL_TEST_FREQUENCY": str(JOB_INTERVAL / 60),
        "SESSION_SECRET": uuid.uuid4().hex,  # the same on every node, as docs/operations.md says
    }
    nodes: list[Served] = []
    try:
        root = tmp_path_factory.mktemp("nodes")
        for name in ("a", "b"):
            nodes.append(serve(root / name, 2, **env))
        with contextlib.closing(Console(nodes[0].base)) as console:
            console.option("ModelPrice", {})  # set per test below, starting from none
            yield Cluster(nodes[0], nodes[1], console, dsn, up, redis_url_module, env)
    finally:
        for node in nodes:
            stop_group(node.proc)
            print(f"last lines of the node on {node.base}:", *node.output().splitlines()[-50:], sep="\n")
        up.stop()
        _run(_drop_database(dsn))


@pytest.fixture(scope="module")
def redis_url_module() -> str:
    """The test Redis, checked once for the module (each node keys its data by its database's id)."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping()
    except redis.RedisError as exc:
        unavailable("Redis", f"{REDIS_URL}: {exc}")
    return REDIS_URL


# -- measuring agreement ---------------------------------------------------------------------------


def agreed_after(since: float, bases: list[str], answer: Callable[[str], bool], what: str) -> float:
    """Seconds from ``since`` until the last old answer was asked for, on any worker of any node.

    Asks the nodes in turn until each has answered yes :data:`STREAK` times in a row; a no
    restarts that node's streak. A request sent :data:`LIMIT` after ``since`` or later must get
    the new answer: the test fails on an old answer to such a request (or if nothing settles
    within 10 s). The time is measured when a request is sent, not when its answer comes back, so
    a slow answer on a busy machine does not count as disagreement.
    """
    last_old = since  # when the newest request that still got the old answer was sent (none yet)
    run = dict.fromkeys(bases, 0)
    while min(run.values()) < STREAK:
        for base in bases:
            if run[base] >= STREAK:
                continue
            sent = time.monotonic()
            if answer(base):
                run[base] += 1
            else:
                run[base], last_old = 0, sent
                assert sent - since <= LIMIT, f"{what}: a node still disagreed {sent - since:.2f} s after the change"
            assert time.monotonic() - since < 10, f"{what}: the nodes never agreed"
    settled = last_old - since
    seen = f"the last old answer was asked for at {settled * 1000:.0f} ms" if settled else "no old answer"
    print(f"{what}: {seen}, then {STREAK} new ones in a row from each node")
    return settled


def chat(base: str, key: str, model: str, *, path: str = "/v1/chat/completions", **body) -> httpx.Response:
    """A chat request on a new connection (so that requests spread over the workers)."""
    payload = {"model": model, "messages": [{"role": "user", "content": "hi"}], **body}
    if path == "/v1/messages":
        payload.setdefault("max_tokens", 16)
    return httpx.post(
        f"{base}{path}",
        json=payload,
        headers={"Authorization": f"Bearer {key}", "x-api-key": key, "Connection": "close"},
        timeout=30,
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def user_with_key(console: Console, quota: int = 10**9) -> tuple[int, str]:
    name = unique("u").replace("-", "")[:12]
    user_id = console.user(name, quota)
    return user_id, console.key_for(name)


def channel_id(console: Console, name: str) -> int:
    found = console.ok("GET", "/api/channel/search", params={"keyword": name})
    return next(c["id"] for c in found["items"] if c["name"] == name)


def priced(cluster: Cluster, *models: str) -> None:
    """Give ``models`` a per-call price, keeping the others' (one ModelPrice table for the cluster)."""
    table = cluster.console.ok("GET", "/api/option/")
    current = next((o["value"] for o in table if o["key"] == "ModelPrice"), "{}")
    prices = json.loads(current or "{}")
    prices.update(dict.fromkeys(models, PRICE))
    cluster.console.option("ModelPrice", prices)


def routed(cluster: Cluster, model: str, **fields) -> int:
    """A channel serving ``model`` on the fake upstream, known to both nodes; returns its id."""
    name = unique("ch")
    cluster.console.channel(cluster.up.url, [model], name=name, **fields)
    return channel_id(cluster.console, name)


# -- keys ------------------------------------------------------------------------------------------


def test_a_key_made_on_one_node_works_on_the_other_and_a_disabled_one_stops(cluster: Cluster):
    model = unique("keys")
    priced(cluster, model)
    routed(cluster, model)
    name = unique("k").replace("-", "")[:12]
    cluster.console.user(name, 10**9)
    key = cluster.console.key_for(name)
    since = time.monotonic()
    agreed_after(since, cluster.bases, lambda base: chat(base, key, model).status_code == 200, "a new key")

    with httpx.Client(base_url=cluster.a.base, timeout=30) as user:
        r = user.post("/api/user/login", json={"username": name, "password": "user-password-1"})
        user.headers["New-Api-User"] = str(r.json()["data"]["id"])
        (token,) = user.get("/api/token/").json()["data"]["items"]  # the user's only key
        r = user.put("/api/token/", params={"status_only": "true"}, json={"id": token["id"], "status": 2})
        assert r.json()["success"], r.text
    since = time.monotonic()
    agreed_after(since, cluster.bases, lambda base: chat(base, key, model).status_code == 401, "a disabled key")

    # the owner disabled by an admin: every key of theirs stops
    user_id, other_key = user_with_key(cluster.console)
    agreed_after(time.monotonic(), cluster.bases, lambda base: chat(base, other_key, model).status_code == 200, "a key")
    cluster.console.ok("POST", "/api/user/manage", json={"id": user_id, "action": "disable"})
    since = time.monotonic()
    agreed_after(
        since, cluster.bases, lambda base: chat(base, other_key, model).status_code in (401, 403), "a disabled user"
    )


# -- channels --------------------------------------------------------------------------------------


def test_a_new_channel_is_routed_and_a_disabled_one_is_not_used(cluster: Cluster):
    model = unique("chan")
    priced(cluster, model)
    _, key = user_with_key(cluster.console)
    assert chat(cluster.b.base, key, model).status_code == 404  # nothing serves it yet

    first = routed(cluster, model, model_mapping=f'{{"{model}": "{model}-first"}}')
    since = time.monotonic()
    agreed_after(since, cluster.bases, lambda base: chat(base, key, model).status_code == 200, "a new channel")

    # A second channel: the fake upstream echoes the mapped model, so each answer names its channel.
    routed(cluster, model, model_mapping=f'{{"{model}": "{model}-second"}}')
    seen: set[str] = set()
    deadline = time.monotonic() + 10
    while seen != {f"{model}-first", f"{model}-second"}:
        seen.add(chat(cluster.b.base, key, model).json()["model"])
        assert time.monotonic() < deadline, f"node B never used both channels: {seen}"

    cluster.console.ok("POST", f"/api/channel/{first}/status", json={"status": 2})
    since = time.monotonic()

    def second_only(base: str) -> bool:
        r = chat(base, key, model)
        return r.status_code == 200 and r.json()["model"] == f"{model}-second"

    agreed_after(since, cluster.bases, second_only, "a disabled channel")


# -- options ---------------------------------------------------------------------------------------


def test_an_option_change_is_in_force_on_both_nodes(cluster: Cluster):
    model = unique("opt")
    routed(cluster, model)
    _, key = user_with_key(cluster.console)

    def unpriced(base: str) -> bool:  # self-use mode off: a model without a price is refused
        r = chat(base, key, model)
        return r.status_code == 403 and r.json()["error"]["code"] == "model_price_error"

    assert unpriced(cluster.b.base)
    priced(cluster, model)
    since = time.monotonic()
    agreed_after(since, cluster.bases, lambda base: chat(base, key, model).status_code == 200, "a model price")

    table = cluster.console.ok("GET", "/api/option/")
    prices = json.loads(next(o["value"] for o in table if o["key"] == "ModelPrice"))
    del prices[model]
    cluster.console.option("ModelPrice", prices)
    since = time.monotonic()
    agreed_after(since, cluster.bases, unpriced, "a removed price")


# -- balances --------------------------------------------------------------------------------------


def test_top_ups_and_an_emptied_wallet_are_seen_by_both_nodes(cluster: Cluster):
    model = unique("bal")
    priced(cluster, model)
    routed(cluster, model)
    user_id, key = user_with_key(cluster.console, quota=0)
    assert chat(cluster.b.base, key, model).status_code == 403  # an empty wallet
    paid = lambda base: chat(base, key, model).status_code == 200  # noqa: E731
    refused = lambda base: chat(base, key, model).status_code == 403  # noqa: E731

    # the console's "add quota" on node A
    body = {"id": user_id, "action": "add_quota", "mode": "add", "value": 10**8}
    cluster.console.ok("POST", "/api/user/manage", json=body)
    agreed_after(time.monotonic(), cluster.bases, paid, "an admin top-up")

    cluster.console.ok("PUT", "/api/user/", json={"id": user_id, "quota": 0})
    agreed_after(time.monotonic(), cluster.bases, refused, "an emptied wallet")

    # a redemption code redeemed by the user on node A
    (code,) = cluster.console.ok("POST", "/api/redemption/", json={"name": "two-nodes", "quota": 10**7, "count": 1})
    with httpx.Client(base_url=cluster.a.base, timeout=30) as user:
        name = cluster.console.user_row(user_id)["username"]
        r = user.post("/api/user/login", json={"username": name, "password": "user-password-1"})
        user.headers["New-Api-User"] = str(user_id)
        r = user.post("/api/user/topup", json={"key": code})
        assert r.json()["success"], r.text
    agreed_after(time.monotonic(), cluster.bases, paid, "a redeemed code")


# -- console sessions ------------------------------------------------------------------------------


def test_a_console_session_works_on_both_nodes_and_a_logout_ends_it_on_both(cluster: Cluster):
    user_id, _ = user_with_key(cluster.console)
    name = cluster.console.user_row(user_id)["username"]
    with httpx.Client(base_url=cluster.a.base, timeout=30) as signed_in:
        r = signed_in.post("/api/user/login", json={"username": name, "password": "user-password-1"})
        assert r.json()["success"], r.text
        cookies = dict(signed_in.cookies)
    headers = {"New-Api-User": str(user_id), "Connection": "close"}

    def session(base: str) -> int:
        r = httpx.get(f"{base}/api/user/self", headers=headers, cookies=cookies, timeout=30)
        return 200 if r.status_code == 200 and r.json().get("success") is True else r.status_code

    agreed_after(time.monotonic(), cluster.bases, lambda base: session(base) == 200, "a session made on node A")
    r = httpx.get(f"{cluster.a.base}/api/user/logout", headers=headers, cookies=cookies, timeout=30)
    assert r.json()["success"], r.text
    since = time.monotonic()
    agreed_after(since, cluster.bases, lambda base: session(base) == 401, "a logout")


# -- plugin switches -------------------------------------------------------------------------------


def test_a_plugin_switched_off_on_one_node_refuses_on_the_other(cluster: Cluster):
    model = unique("plug")
    priced(cluster, model)
    routed(cluster, model)
    _, key = user_with_key(cluster.console)
    messages = "/v1/messages"  # the Claude dialect, served by the claude plugin over an OpenAI channel
    try:
        agreed_after(
            time.monotonic(),
            cluster.bases,
            lambda base: chat(base, key, model, path=messages).status_code == 200,
            "the Claude dialect before the switch",
        )
        cluster.console.ok("PUT", "/api/plugins/claude", json={"enabled": False})
        since = time.monotonic()
        agreed_after(
            since,
            cluster.bases,
            lambda base: chat(base, key, model, path=messages).status_code == 404,
            "a plugin switched off",
        )
        cluster.console.ok("PUT", "/api/plugins/claude", json={"enabled": True})
        since = time.monotonic()
        agreed_after(
            since,
            cluster.bases,
            lambda base: chat(base, key, model, path=messages).status_code == 200,
            "a plugin switched on again",
        )
    finally:
        cluster.console.put("/api/plugins/claude", json={"enabled": True})


# -- Redis drops the notification connections -----------------------------------------------------


def test_changes_still_arrive_within_a_second_after_redis_drops_the_subscriptions(cluster: Cluster):
    """Redis restarted or failed over: every worker subscribes again by itself."""
    import redis

    pids = cluster.a.worker_pids() | cluster.b.worker_pids()
    client = redis.Redis.from_url(cluster.redis_url)
    try:
        before = redis_subscriptions(client, pids)
        assert len(before) == len(pids), before  # one subscription per worker
        for connection in before:
            client.client_kill_filter(_id=connection["id"])
        deadline = time.monotonic() + 10
        while len(again := redis_subscriptions(client, pids)) < len(pids):
            assert time.monotonic() < deadline, f"only {len(again)} of {len(pids)} workers subscribed again"
            time.sleep(0.05)
        assert {c["id"] for c in again}.isdisjoint({c["id"] for c in before})
    finally:
        client.close()

    model = unique("resub")
    routed(cluster, model)
    _, key = user_with_key(cluster.console)
    priced(cluster, model)
    agreed_after(time.monotonic(), cluster.bases, lambda base: chat(base, key, model).status_code == 200, "a price")


# -- background jobs -------------------------------------------------------------------------------


async def _lease_holder(dsn: str, name: str) -> str | None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow("SELECT holder, expires_at FROM job_leases WHERE name = $1", name)
        return row["holder"] if row and row["expires_at"] > time.time() else None
    finally:
        await conn.close()


async def _auto_disable(dsn: str, channel: int) -> None:
    """What the relay does to a channel whose upstream keeps failing (status 3, abilities off)."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("UPDATE channels SET status = 3 WHERE id = $1", channel)
        await conn.execute("UPDATE abilities SET enabled = false WHERE channel_id = $1", channel)
    finally:
        await conn.close()


def _holding(cluster: Cluster, nodes: list[Served]) -> Served:
    """The node whose worker holds the channel re-enable job's lease."""
    holder = _run(_lease_holder(cluster.dsn, "core:channel-recovery"))
    assert holder is not None, "nobody holds the job's lease"
    pid = int(holder.split(":")[1])
    (node,) = [node for node in nodes if pid in node.worker_pids()]
    return node


def _console_on(cluster: Cluster, node: Served) -> None:
    """Drive the management API through ``node`` (the one it used is about to stop)."""
    cluster.console.close()
    cluster.console = Console(node.base, setup=False)


def test_a_periodic_job_runs_once_per_cluster_and_moves_when_its_node_stops_or_dies(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
):
    """Channel re-enable probes each auto-disabled channel once per period, whatever the node count.

    Five workers on three nodes each wake every :data:`JOB_INTERVAL`; only the lease holder
    probes. The channel's upstream keeps failing, so every run probes it again: the fake
    upstream's count of probes over a few periods tells how many workers ran the job. The
    holder's node then stops cleanly (it gives the lease up, another node carries on at once),
    and the next holder's node is killed (its lease must run out before a survivor runs the job:
    never two at a time).
    """
    third = serve(tmp_path_factory.mktemp("third"), 1, **cluster.env)
    nodes = [cluster.a, cluster.b, third]
    model = unique("probe-fail-500")  # the fake upstream answers 500 to this model, so it stays off
    channel = routed(cluster, model, test_model=model)
    _run(_auto_disable(cluster.dsn, channel))
    # The probe goes through the admin fetch guard, which refuses 127.0.0.1 unless allowed.
    for option, value in LOCAL_UPSTREAMS.items():
        cluster.console.option(option, value)
    probes = lambda: len(cluster.up.requests_for(model))  # noqa: E731

    def next_probe(within: float, what: str) -> float:
        """Wait for the next probe; the time it was seen."""
        counted, deadline = probes(), time.monotonic() + within
        while probes() == counted:
            assert time.monotonic() < deadline, what
            time.sleep(0.02)
        return time.monotonic()

    def once_per_period(what: str) -> None:
        """Count the probes over five periods: the job's runs in that time."""
        start, counted = time.monotonic(), probes()
        while time.monotonic() - start < 5 * JOB_INTERVAL:
            time.sleep(0.05)
        runs = probes() - counted
        # once per cluster makes about 5; every worker running it would make about 25
        assert 2 <= runs <= 6, f"{what}: {runs} probes in 5 periods"

    cluster.console.option("AutomaticEnableChannelEnabled", "true")
    try:
        next_probe(15, "the recovery job never probed the channel")
        once_per_period("three nodes")

        # The holder's node stops cleanly, giving its lease up: another node carries on at once.
        first = _holding(cluster, nodes)
        nodes.remove(first)
        _console_on(cluster, nodes[0])
        stop_group(first.proc)
        next_probe(5 * JOB_INTERVAL, "no other node took the job over")
        once_per_period("after a clean stop")
        second = _holding(cluster, nodes)
        assert second is not first

        # The next holder's node dies: its lease stands until it runs out, then the survivor runs it.
        nodes.remove(second)
        _console_on(cluster, nodes[0])
        last = next_probe(5 * JOB_INTERVAL, "the job stopped")
        os.killpg(second.proc.pid, signal.SIGKILL)
        second.proc.wait(10)
        taken = next_probe(10 + 5 * JOB_INTERVAL, "the survivor never took the job over")
        # The lease (10 s) was renewed just before the last probe: nobody may run it sooner.
        assert taken - last >= 9, f"the job ran again {taken - last:.1f} s after its holder died"
        once_per_period("after a crash")
        assert _holding(cluster, nodes) is nodes[0]
    finally:
        cluster.console.option("AutomaticEnableChannelEnabled", "false")
        stop_group(third.proc)


# -- starting together -----------------------------------------------------------------------------


def test_two_nodes_started_together_on_an_empty_database_both_come_up(tmp_path: Path, redis_url_module: str):
    """A fresh cluster (``docker compose up --scale gateway=2``): both nodes migrate the same
    empty database at the same moment; one applies the migrations, the other waits and finds
    nothing left to do."""
    from concurrent.futures import ThreadPoolExecutor

    dsn = _run(_create_database())
    env = {"SQL_DSN": dsn, "REDIS_CONN_STRING": redis_url_module}
    nodes: list[Served] = []
    try:
        with ThreadPoolExecutor(2) as pool:
            starting = [pool.submit(serve, tmp_path / name, 1, **env) for name in ("a", "b")]
            failures = []
            for future in starting:
                try:
                    nodes.append(future.result())
                except BaseException as exc:  # serve() fails the test with the node's output
                    failures.append(str(exc)[-3000:])
        assert not failures, "a node did not start:\n" + "\n".join(failures)
        for node in nodes:
            assert httpx.get(f"{node.base}/healthz", timeout=10).json()["database"] == "ok"
    finally:
        for node in nodes:
            stop_group(node.proc)
        _run(_drop_database(dsn))
