"""Balances hold across the workers of a node and across nodes: nobody overdraws a wallet or a key.

Every request here costs exactly 5,000 quota (a per-call price of 0.01 USD), and New API's hold
for a per-call model is that same price, so the hold is exact: a wallet of 50,000 pays for ten
requests and not one more, sent one after another or all at once, whichever worker (or node)
answers each.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from pathlib import Path

import httpx
import pytest

from .servers import Console, Served, serve
from .upstreams import shared_fake_openai

PRICE_QUOTA = 5_000  # 0.01 USD x 500,000 quota per USD


def prepare(console: Console, bases: list[str], model: str) -> None:
    """A channel for ``model`` at a per-call price, seen by every worker of every node."""
    console.option("ModelPrice", {model: 0.01})
    console.channel(shared_fake_openai().url, [model])
    probe_user = f"probe{uuid.uuid4().hex[:6]}"
    console.user(probe_user, 10**9)
    key = console.key_for(probe_user)
    deadline = time.monotonic() + 10
    for base in bases:  # every worker must know the channel before the counting starts
        seen = 0
        while seen < 20:
            r = httpx.get(f"{base}/v1/models", headers={"Authorization": f"Bearer {key}", "Connection": "close"})
            seen = seen + 1 if model in r.text else 0
            assert time.monotonic() < deadline, "a worker did not learn about the new channel"


def call(base: str, key: str, model: str, stream: bool = False) -> httpx.Response:
    """One chat request on a new connection (so requests spread over the workers), read to its end."""
    return httpx.post(
        f"{base}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream},
        headers={"Authorization": f"Bearer {key}", "Connection": "close"},
        timeout=30,
    )


async def call_all(bases: list[str], key: str, model: str, n: int) -> list[int]:
    limits = httpx.Limits(max_keepalive_connections=0)  # a new connection each: spread over workers
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def one(i: int) -> int:
            r = await client.post(
                f"{bases[i % len(bases)]}/v1/chat/completions",
                json={"model": model, "messages": [{"role": "user", "content": f"q{i}"}]},
                headers={"Authorization": f"Bearer {key}"},
            )
            return r.status_code

        return list(await asyncio.gather(*(one(i) for i in range(n))))


def settled(console: Console, user_id: int, expected_quota: int) -> dict:
    """The user's row once the ledgers have written what they charged (at least once a second)."""
    deadline = time.monotonic() + 10
    while True:
        row = console.user_row(user_id)
        if row["quota"] == expected_quota or time.monotonic() > deadline:
            return row
        time.sleep(0.2)


def spend_down(console: Console, bases: list[str], model: str) -> None:
    # sequential: ten answered, then refused, whichever worker or node answers, streamed or not
    wallet = console.user(f"seq{uuid.uuid4().hex[:6]}", 10 * PRICE_QUOTA)
    key = console.key_for(console.user_row(wallet)["username"])
    codes = [call(bases[i % len(bases)], key, model, stream=i % 2 == 1).status_code for i in range(14)]
    assert codes == [200] * 10 + [403] * 4, codes
    row = settled(console, wallet, 0)
    assert (row["quota"], row["used_quota"], row["request_count"]) == (0, 10 * PRICE_QUOTA, 10)

    # concurrent: thirty at once, still exactly ten
    wallet = console.user(f"par{uuid.uuid4().hex[:6]}", 10 * PRICE_QUOTA)
    key = console.key_for(console.user_row(wallet)["username"])
    codes = asyncio.run(call_all(bases, key, model, 30))
    assert codes.count(200) == 10 and codes.count(403) == 20, codes
    assert settled(console, wallet, 0)["quota"] == 0

    # a limited key in a wallet above the trust line: the key's own limit holds
    wallet = console.user(f"key{uuid.uuid4().hex[:6]}", 10**8)
    name = console.user_row(wallet)["username"]
    key = console.key_for(name, remain_quota=4 * PRICE_QUOTA)
    answers = [call(bases[i % len(bases)], key, model) for i in range(6)]
    codes = [r.status_code for r in answers]
    assert codes == [200] * 4 + [401] * 2, codes  # used up to 0: New API's "token quota exhausted"
    assert answers[-1].json()["error"]["code"] == "token_quota_exhausted"
    assert settled(console, wallet, 10**8 - 4 * PRICE_QUOTA)["quota"] == 10**8 - 4 * PRICE_QUOTA


@pytest.mark.parametrize("workers", [1, 4])  # two workers: the two-node test below runs two per node
def test_no_overdraw_across_the_workers_of_a_node(tmp_path: Path, workers: int):
    served = serve(tmp_path, workers)
    try:
        if workers > 1:
            assert len(served.worker_pids()) == workers
        with contextlib.closing(Console(served.base)) as console:
            model = f"price-{uuid.uuid4().hex[:6]}"
            prepare(console, [served.base], model)
            spend_down(console, [served.base], model)
    finally:
        served.stop()


@pytest.mark.postgres
@pytest.mark.redis
def test_no_overdraw_across_two_nodes_sharing_postgres_and_redis(tmp_path: Path, pg_dsn: str, redis_url: str):
    env = {"SQL_DSN": pg_dsn, "REDIS_CONN_STRING": redis_url}
    nodes: list[Served] = []
    try:
        nodes.append(serve(tmp_path / "a", 2, **env))
        nodes.append(serve(tmp_path / "b", 2, **env))
        with contextlib.closing(Console(nodes[0].base)) as console:
            model = f"price-{uuid.uuid4().hex[:6]}"
            prepare(console, [n.base for n in nodes], model)
            spend_down(console, [n.base for n in nodes], model)
    finally:
        for node in nodes:
            node.stop()
