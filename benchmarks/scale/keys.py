"""The per-distinct-key cost of the relay's key and money path, in process.

    python -m benchmarks.scale.keys --keys 1 1000 --requests 20000 [--profile]
    python -m benchmarks.scale.keys --keys 1000 --cache-entries 500   # eviction under rotation
    python -m benchmarks.scale.keys --keys 1000 --edit-every 500 [--unnamed]  # a top-up now and then

For each request it does what the relay does around the upstream call: authenticate the key
(key cache), reserve a hold on the shared balances, settle the charge with its log row; the
ledger flushes every ``--flush-every`` requests (about a second's worth at 500 req/s per worker).
Keys rotate round-robin over ``--keys`` distinct keys (4 keys per user). It reports microseconds
per request including the flushes, so a cost that grows with distinct keys shows as a difference
between the rows; ``--profile`` prints cProfile's top functions for the last size.
``--edit-every N`` changes one user every N requests the way a top-up announces it (naming the
user; ``--unnamed``: naming nothing, as every change did before), and the key loads show what
that cost the cache.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import time

from litestar import Litestar

from newapi_host.app import create_app
from newapi_host.billing.ledger import Charge, log_row
from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import LOG_CONSUME, Token, User
from newapi_host.relay import keys as key_module
from newapi_host.relay.keys import authenticate
from newapi_host.store import NO_TRUST
from newapi_host.sync import bump

from .db import database


async def make_keys(n: int) -> list[str]:
    users = max(1, n // 4)
    await User.insert(*[User(username=f"k{i}", password="x", quota=10**12) for i in range(users)])
    ids = [r["id"] for r in await User.select(User.id).where(User.username.like("k%")).order_by(User.id)]
    keys = [f"{i:048d}" for i in range(n)]
    rows = [Token(user_id=ids[i % users], key=keys[i], name=f"t{i}", remain_quota=10**12) for i in range(n)]
    for start in range(0, n, 500):
        await Token.insert(*rows[start : start + 500])
    return keys


async def run(
    app: Litestar,
    keys: list[str],
    requests: int,
    flush_every: int,
    cold: list[str] = (),
    edit_every: int = 0,
    unnamed: bool = False,
) -> float:
    """``cold``: one-off keys, one used after each ``len(keys)`` rotation keys (a scan of many keys)."""
    relay = app.state.host.relay
    ledger = relay.ledger
    started = time.perf_counter()
    for i in range(requests):
        if edit_every and i % edit_every == edit_every - 1:
            async with write_transaction():
                await bump("users", None if unnamed else [1 + i % 7])
            await app.state.host.watcher.check()
        key = keys[i % len(keys)]
        if cold and i % len(keys) == len(keys) - 1:
            key = cold[(i // len(keys)) % len(cold)]
        entry, _ = await authenticate(relay.keys, f"Bearer sk-{key}", "127.0.0.1")
        token_id = None if entry.unlimited_quota else entry.id
        _, hold = await ledger.reserve(entry.user_id, token_id, 120, NO_TRUST)
        row = log_row(
            type=LOG_CONSUME, user_id=entry.user_id, username=entry.username, token_id=entry.id,
            token_name=entry.name, group="default", model="m", quota=100, prompt_tokens=3, completion_tokens=5,
        )  # fmt: skip
        charge = Charge(entry.user_id, entry.id, 0, 100, entry.unlimited_quota, log=row)
        pending = ledger.settle(charge, hold)
        if pending is not None:
            await pending
        if (i + 1) % flush_every == 0:
            mark = time.perf_counter()
            await ledger.flush()
            FLUSH.append(time.perf_counter() - mark)
    await ledger.flush()
    return (time.perf_counter() - started) / requests * 1e6


FLUSH: list[float] = []
SORT = "tottime"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--keys", type=int, nargs="+", default=[1, 1000])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--flush-every", type=int, default=500)
    parser.add_argument("--cache-entries", type=int, default=0, help="the key cache's MAX_ENTRIES (0: as shipped)")
    parser.add_argument("--cold", type=int, default=0, help="this many one-off keys mixed into the rotation")
    parser.add_argument("--edit-every", type=int, default=0, help="change one user every N requests")
    parser.add_argument("--unnamed", action="store_true", help="the changes do not name the user")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if args.cache_entries:
        key_module.MAX_ENTRIES = args.cache_entries
    for n in args.keys:
        async with database(args.db) as config:
            every = await make_keys(n + args.cold)
            keys, cold = every[:n], every[n:]
            app = create_app(config)
            async with app.lifespan():
                await run(app, keys, min(args.requests, 2 * n + 500), args.flush_every)  # warm: keys seeded
                profiler = cProfile.Profile() if args.profile and n == args.keys[-1] else None
                if profiler:
                    profiler.enable()
                FLUSH.clear()
                loaded = app.state.host.relay.keys.loads
                per_request = await run(app, keys, args.requests, args.flush_every, cold, args.edit_every, args.unnamed)
                if profiler:
                    profiler.disable()
                loads = app.state.host.relay.keys.loads - loaded
                flush_ms = round(sum(FLUSH) / max(1, len(FLUSH)) * 1000, 1)
                result = {"db": args.db, "keys": n, "us_per_request": round(per_request, 1), "key_loads": loads}
                print(json.dumps({**result, "flush_ms": flush_ms}))
                if profiler:
                    pstats.Stats(profiler).sort_stats(SORT).print_stats(25)


if __name__ == "__main__":
    asyncio.run(main())
