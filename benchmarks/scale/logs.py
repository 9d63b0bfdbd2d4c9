"""Console and admin reads over a large ``logs`` table, and log retention beside a writer.

    python -m benchmarks.scale.logs --db sqlite --rows 1000000 --keep /tmp/logs1m
    python -m benchmarks.scale.logs --db postgres --rows 1000000 --keep newapi_logs_1m
    python -m benchmarks.scale.logs --db sqlite --rows 200000 --retention 100000

Generates ``--rows`` log rows (and the dashboard's ``quota_data`` buckets the ledger would have
written for them) over ``--days`` days, ``--users`` users with ``--tokens`` keys each and
``--models`` models; user #1 (``heavy``) owns ``--heavy-share`` of the rows. ``--keep`` names a
SQLite directory or a PostgreSQL database to keep, so the data set is generated once and measured
again after a code change (the migrations run at each start). Each read goes through the app
(in process, over ASGI) as root or as ``heavy``; the median of ``--repeat`` runs is printed in ms,
with the median CPU time of this process (all of SQLite's work, none of PostgreSQL's).
``--retention N`` deletes the oldest N rows through the retention code while a writer inserts a
log row every 10 ms, and reports the writer's worst wait.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import time

import httpx
from piccolo.engine.postgres import PostgresEngine

from newapi_host.api import logs as logs_api
from newapi_host.app import create_app
from newapi_host.auth.users import create_user
from newapi_host.billing.ledger import LOG_COLUMNS, add_quota_data, add_summaries, quota_buckets
from newapi_host.db.engine import insert_many, write_transaction
from newapi_host.db.tables import LOG_CONSUME, LOG_ERROR, Log, QuotaData, Token, User

from .db import Clock, database, timed

PASSWORD = "bench-password-1"
BATCH = 20_000


async def generate(args: argparse.Namespace) -> None:
    if await Log.count() >= args.rows:
        print(f"reusing {await Log.count()} log rows")
        return
    rng = random.Random(1)
    heavy = await create_user("heavy", PASSWORD, quota=10**12)
    await User.insert(*[User(username=f"user{i}", password="x", quota=10**9) for i in range(2, args.users + 1)])
    users = [(r["id"], r["username"]) for r in await User.select(User.id, User.username).order_by(User.id)]
    users = [u for u in users if u[0] != heavy["id"]]
    tokens: dict[int, list[tuple[int, str]]] = {}
    rows = [Token(user_id=uid, key=f"{uid:040d}{k:08d}", name=f"key{k}") for uid, _ in [(heavy["id"], "")] + users
            for k in range(args.tokens)]  # fmt: skip
    for start in range(0, len(rows), 1000):
        await Token.insert(*rows[start : start + 1000])
    for r in await Token.select(Token.id, Token.user_id, Token.name):
        tokens.setdefault(r["user_id"], []).append((r["id"], r["name"]))
    now = int(time.time())
    span = args.days * 86400
    made = 0
    engine = Log._meta.db
    while made < args.rows:
        n = min(BATCH, args.rows - made)
        batch = []
        # oldest first, so ids grow with created_at as the ledger writes them
        for i in range(n):
            uid, name = (heavy["id"], "heavy") if rng.random() < args.heavy_share else rng.choice(users)
            token_id, token_name = rng.choice(tokens[uid])
            created = now - span + (made + i) * span // args.rows
            kind = LOG_ERROR if rng.random() < 0.02 else LOG_CONSUME
            prompt, completion = rng.randint(10, 2000), rng.randint(10, 800)
            batch.append({
                "user_id": uid, "created_at": created, "type": kind, "content": "", "username": name,
                "token_name": token_name, "model_name": f"model-{(model := int(rng.paretovariate(1.2)) % args.models)}",
                "quota": 0 if kind == LOG_ERROR else prompt + 2 * completion, "prompt_tokens": prompt,
                "completion_tokens": completion, "use_time": 1, "is_stream": False,
                "channel_id": 1 + (3 * model + rng.randint(0, 2)) % args.channels,  # a few channels per model
                "token_id": token_id, "group": "default", "ip": "",
                "request_id": f"r{made + i}", "upstream_request_id": "", "other": "{}",
            })  # fmt: skip
        values = [tuple(r[c] for c in LOG_COLUMNS) for r in batch]
        async with write_transaction():
            if isinstance(engine, PostgresEngine):
                connection = engine.current_transaction.get().connection
                await connection.copy_records_to_table("logs", records=values, columns=list(LOG_COLUMNS))
            else:
                await insert_many(Log, LOG_COLUMNS, values)
            buckets = sorted(quota_buckets(batch))
            await add_quota_data(buckets)
            await add_summaries(buckets)
        made += n
        print(f"\r{made} rows", end="", flush=True)
    print()
    if isinstance(engine, PostgresEngine):
        await engine.run_ddl("ANALYZE")
    else:
        await engine.run_ddl("ANALYZE")


def reads(now: int, model: str) -> list[tuple[str, str, str]]:
    """(who, label, url): what the console and admin pages ask for."""
    day = 86400
    week = f"start_timestamp={now - 7 * day}&end_timestamp={now}"
    month = f"start_timestamp={now - 30 * day}&end_timestamp={now}"
    one_day = f"start_timestamp={now - 20 * day}&end_timestamp={now - 19 * day}"
    return [
        ("root", "admin logs p1", "/api/log/?p=1&page_size=10"),
        ("root", "admin logs p1 type=2", "/api/log/?p=1&type=2"),
        ("root", "admin logs model", f"/api/log/?p=1&model_name={model}"),
        ("root", "admin logs rare model", "/api/log/?p=1&model_name=model-49"),
        ("root", "admin logs token name", "/api/log/?p=1&token_name=key1"),
        ("root", "admin logs username", "/api/log/?p=1&username=user7"),
        ("root", "admin logs channel", "/api/log/?p=1&channel=7"),
        ("root", "admin logs p50", "/api/log/?p=50"),
        ("root", "admin stat type=2", "/api/log/stat?type=2"),
        ("root", "admin stat 7 days", f"/api/log/stat?type=2&{week}"),
        ("root", "admin stat model", f"/api/log/stat?type=2&model_name={model}"),
        ("root", "admin stat username", "/api/log/stat?type=2&username=user7"),
        ("root", "dashboard 30 days", f"/api/data/?{month}"),
        ("root", "dashboard users 7 days", f"/api/data/users?{week}"),
        ("root", "dashboard flow 7 days", f"/api/data/flow?{week}"),
        ("heavy", "self logs p1", "/api/log/self?p=1"),
        ("heavy", "self logs model", f"/api/log/self?p=1&model_name={model}"),
        ("heavy", "self logs rare model", "/api/log/self?p=1&model_name=model-49"),
        ("heavy", "self logs token", "/api/log/self?p=1&token_name=key1"),
        ("heavy", "self logs 1 day", f"/api/log/self?p=1&{one_day}"),
        ("heavy", "self stat", "/api/log/self/stat?type=2"),
        ("heavy", "self stat 7 days", f"/api/log/self/stat?type=2&{week}"),
        ("heavy", "self dashboard 7 days", f"/api/data/self?{week}"),
        ("heavy", "self flow 7 days", f"/api/data/flow/self?{week}"),
    ]  # fmt: skip


async def measure(app, args: argparse.Namespace) -> None:
    transport = httpx.ASGITransport(app=app)
    clients = {}
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://bench") as root,
        httpx.AsyncClient(transport=transport, base_url="http://bench") as heavy,
    ):
        r = await root.post("/api/setup", json={"username": "root", "password": PASSWORD, "confirmPassword": PASSWORD})
        for client, name in ((root, "root"), (heavy, "heavy")):
            r = await client.post("/api/user/login", json={"username": name, "password": PASSWORD})
            client.headers["New-Api-User"] = str(r.json()["data"]["id"])
            clients[name] = client
        now = int(time.time())
        for who, label, url in reads(now, "model-1"):
            if args.only and not any(part in label for part in args.only.split(",")):
                continue
            clock = Clock()
            body = None
            cpu: list[float] = []
            for _ in range(args.repeat):
                used = time.process_time()
                with clock:
                    response = await clients[who].get(url)
                cpu.append(time.process_time() - used)
                body = response.json()
                assert body.get("success"), (url, body)
            data = body["data"]
            size = data.get("total") if isinstance(data, dict) and "total" in data else None
            rows = len(data) if isinstance(data, list) else None
            # CPU time of this process (SQLite runs in it; PostgreSQL's own work is not counted):
            # steadier than wall time on a shared machine
            cpu_ms = round(sorted(cpu)[len(cpu) // 2] * 1000, 1)
            # the first read of a run is the cold one (nothing kept yet: the flow views keep past days)
            first_ms = round(clock.samples[0] * 1000, 1)
            result = {"db": args.db, "read": label, **timed(clock.samples), "first_ms": first_ms, "cpu_ms": cpu_ms}
            result["total"] = size
            print(json.dumps(result | ({"rows": rows} if rows is not None else {})))


async def retention(app, args: argparse.Namespace) -> None:
    """Delete the oldest rows through the retention code while a writer keeps inserting."""
    oldest = await Log.select(Log.created_at).order_by(Log.id).offset(args.retention).first()
    cutoff = oldest["created_at"]
    waits: list[float] = []
    done = False

    async def writer() -> None:
        fields = dict.fromkeys(LOG_COLUMNS, "")
        fields.update(user_id=1, created_at=int(time.time()), type=LOG_CONSUME, quota=1, prompt_tokens=1)
        fields.update(completion_tokens=1, use_time=1, is_stream=False, channel_id=1, token_id=1)
        row = tuple(fields[c] for c in LOG_COLUMNS)
        while not done:
            started = time.perf_counter()
            async with write_transaction():
                await insert_many(Log, LOG_COLUMNS, [row])
            waits.append(time.perf_counter() - started)
            await asyncio.sleep(0.01)

    task = asyncio.create_task(writer())
    started = time.perf_counter()
    deleted = await logs_api.delete_logs_before(cutoff)
    elapsed = time.perf_counter() - started
    done = True
    await task
    waits.sort()
    p99 = round(waits[int(len(waits) * 0.99)] * 1000, 1)
    result = {"db": args.db, "retention_deleted": deleted, "seconds": round(elapsed, 1)}
    result |= {
        "rows_per_s": round(deleted / elapsed),
        "writer_p99_ms": p99,
        "writer_max_ms": round(waits[-1] * 1000, 1),
    }
    print(json.dumps(result))


async def main() -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=2)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--channels", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--heavy-share", type=float, default=0.2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", default="", help="a SQLite directory or PostgreSQL database name to keep")
    parser.add_argument("--retention", type=int, default=0, help="delete this many of the oldest rows")
    parser.add_argument("--no-reads", action="store_true")
    parser.add_argument("--only", default="", help="time only the reads whose label contains one of these (a,b)")
    args = parser.parse_args()
    async with database(args.db, keep=args.keep) as config:
        await generate(args)
        print(
            json.dumps(
                {
                    "logs": await Log.count(),
                    "quota_data": (await QuotaData.raw("SELECT COUNT(*) AS n FROM quota_data"))[0]["n"],
                }
            )
        )
        os.environ["NEWAPI_GC_FREEZE"] = "1"  # as `newapi serve` starts its workers
        app = create_app(config)
        async with app.lifespan():
            if not args.no_reads:
                await measure(app, args)
            if args.retention:
                await retention(app, args)


if __name__ == "__main__":
    asyncio.run(main())
