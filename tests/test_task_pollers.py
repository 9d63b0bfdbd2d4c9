"""Many pollers, and a poller killed mid-poll: two gateways (three workers) on one database poll
the same Midjourney tasks, and one worker is SIGKILLed while its poll is in flight. Every failed
task is refunded exactly once, every success settled once, and nothing is lost."""

from __future__ import annotations

import os
import signal

import httpx
import pytest

from newapi_host.db.tables import LOG_CONSUME, LOG_REFUND
from newapi_host.sdk.testing.gateway import KitGateway

from .fake_task_upstreams import MJ_KEY
from .servers import serve
from .task_gateway import POLL, client, fake, logs_of, owner, query, wait_for  # noqa: F401

IMAGINE = 50_000


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):  # noqa: ANN001
    """A gateway whose tasks time out only after 5 minutes: the takeover below must not need the timeout."""
    gw = KitGateway(tmp_path_factory.mktemp("pollers"), NEWAPI_TASK_POLL_INTERVAL=POLL, TASK_TIMEOUT_MINUTES="5")
    yield gw.start()
    gw.stop()


@pytest.fixture(scope="module")
def second(gateway):  # noqa: ANN001
    """Another ``newapi serve`` (two workers) on the first gateway's database."""
    served = serve(
        gateway.data_dir,
        workers=2,
        NEWAPI_TASK_POLL_INTERVAL=POLL,
        TASK_TIMEOUT_MINUTES="5",
        SESSION_SECRET="kit-session-secret",
    )
    yield served
    served.stop()


def holder_pid(gw) -> int | None:  # noqa: ANN001
    rows = query(gw, "SELECT holder, expires_at FROM job_leases WHERE name = 'midjourney:poll'")
    return int(rows[0]["holder"].split(":")[1]) if rows and rows[0]["holder"] else None


def all_final(gw, key: str, ids: list[str]) -> bool:  # noqa: ANN001
    with client(gw, key) as c:
        listed = c.post("/mj/task/list-by-condition", json={"ids": ids}).json()
    return len(listed) == len(ids) and all(t["status"] in ("SUCCESS", "FAILURE") for t in listed)


def test_pollers_on_two_gateways_and_a_killed_one_settle_each_task_once(gateway, second, fake):  # noqa: F811
    gateway.channel(2, name="mj-shared", base_url=fake.url, key=MJ_KEY, models=["mj_imagine"])
    key = gateway.key(1_000_000)

    def sees_channel() -> bool:
        with httpx.Client(base_url=second.base, headers={"Authorization": f"Bearer {key}"}, timeout=10) as c:
            return any(m["id"] == "mj_imagine" for m in c.get("/v1/models").json().get("data", []))

    for _ in range(6):  # each worker of the second gateway has loaded the new channel
        wait_for(sees_channel, what="the second gateway to load the channel")
    ids, failing = [], []
    for i, base in enumerate([gateway.url, second.base] * 3):
        prompt = f"{'FAIL' if i % 2 else 'fine'} drawing {i}"
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
            r = c.post("/mj/submit/imagine", json={"prompt": prompt})
        assert r.json()["code"] == 1, r.text
        ids.append(r.json()["result"])
        if i % 2:
            failing.append(ids[-1])
    assert owner(gateway, key)["quota"] == 1_000_000 - 6 * IMAGINE
    wait_for(lambda: all_final(gateway, key, ids), what="every task to finish")
    assert owner(gateway, key)["quota"] == 1_000_000 - 3 * IMAGINE
    assert len(logs_of(gateway, key, LOG_REFUND)) == 3 and len(logs_of(gateway, key, LOG_CONSUME)) == 6

    # Now the poller dies in the middle of a poll: its upstream call hangs, and it is SIGKILLed.
    fake.control(fetch_delay=2.0)
    killed = []
    for i in range(4):
        prompt = f"{'FAIL' if i % 2 else 'fine'} after the crash {i}"
        with client(gateway, key) as c:
            killed.append(c.post("/mj/submit/imagine", json={"prompt": prompt}).json()["result"])
    polls = fake.state()["polls"]
    wait_for(lambda: fake.state()["polls"] > polls, what="a poll in flight")
    victim = holder_pid(gateway)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    fake.control(fetch_delay=0.0)
    wait_for(lambda: all_final(gateway if _alive(gateway) else None, key, killed) if _alive(gateway) else
             _final_via(second.base, key, killed), timeout=40, what="the tasks after the crash")  # fmt: skip
    wait_for(lambda: owner(gateway, key)["quota"] == 1_000_000 - 5 * IMAGINE, what="the refunds")
    reasons = {r["fail_reason"] for r in query(gateway, "SELECT fail_reason FROM midjourneys WHERE status = 'FAILURE'")}
    assert reasons == {"Banned prompt detected"}  # settled by the poller that took over, not by a timeout
    refunds = logs_of(gateway, key, LOG_REFUND)
    assert len(refunds) == 5 and all(r["quota"] == IMAGINE for r in refunds)
    assert holder_pid(gateway) != victim  # another worker took the lease over


def _alive(gw) -> bool:  # noqa: ANN001
    try:
        return httpx.get(f"{gw.url}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _final_via(base: str, key: str, ids: list[str]) -> bool:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as c:
        listed = c.post("/mj/task/list-by-condition", json={"ids": ids}).json()
    return len(listed) == len(ids) and all(t["status"] in ("SUCCESS", "FAILURE") for t in listed)
