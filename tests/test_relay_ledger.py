"""The ledger under load: every quota unit taken is explained by a consume-log row, exactly."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import httpx
import pytest

from .conftest import fresh_pg_database
from .gateway import Gateway, start_gateway, unique
from .upstreams import shared_fake_openai

START_QUOTA = 10_000_000


async def hammer(gw: Gateway, key: str, models: list[str], n: int = 200) -> list[int]:
    rng = random.Random(11)
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=gw.base_url, timeout=30, limits=limits) as client:

        async def one(i: int) -> int:
            model = rng.choice(models)
            body = {"model": model, "messages": [{"role": "user", "content": f"question {i}"}], "stream": i % 2 == 0}
            r = await client.post("/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"})
            if body["stream"]:
                await r.aread()
            return r.status_code

        return await asyncio.gather(*(one(i) for i in range(n)))


async def run_ledger_check(data_dir: Path, sql_dsn: str = "") -> None:
    up = shared_fake_openai()
    gw = await asyncio.to_thread(start_gateway, data_dir, sql_dsn=sql_dsn)
    try:
        base = unique()
        # ok, failing before the first byte, breaking mid-stream, and answering without usage
        models = {name: f"{base}-{name}" for name in ("ok", "bad", "drop", "quiet")}
        targets = {
            models["ok"]: f"{base}-x",
            models["bad"]: f"{base}-fail-500",
            models["drop"]: f"{base}-drop-after-4",
            models["quiet"]: f"{base}-nousage",
        }
        await asyncio.to_thread(gw.channel, base_url=up.url, models=list(models.values()), model_mapping=targets)
        uid = await asyncio.to_thread(gw.user, quota=START_QUOTA)
        key = await asyncio.to_thread(gw.token, uid, unlimited=False, remain_quota=START_QUOTA)
        statuses = await hammer(gw, key, list(models.values()))
        assert statuses.count(500) > 0 and statuses.count(200) > 100, statuses
        logs = await asyncio.to_thread(gw.logs, user_id=uid)
        user = await asyncio.to_thread(gw.user_row, uid)
        token = await asyncio.to_thread(gw.token_row, key)
        charged = sum(row["quota"] for row in logs)
        assert charged > 0
        assert START_QUOTA - user["quota"] == charged == user["used_quota"]
        assert START_QUOTA - token["remain_quota"] == charged == token["used_quota"]
        assert user["request_count"] == len(logs)
        assert not any(row["model_name"] == models["bad"] for row in logs)  # failures cost nothing
        assert len(logs) == statuses.count(200)  # one row per answered request, drops included
    finally:
        await asyncio.to_thread(gw.stop)


async def test_ledger_matches_logs_on_sqlite(tmp_path):
    await run_ledger_check(tmp_path)


@pytest.mark.postgres
async def test_ledger_matches_logs_on_postgres(tmp_path):
    async with fresh_pg_database() as dsn:
        await run_ledger_check(tmp_path, dsn)
