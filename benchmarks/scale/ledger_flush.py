"""Cost of one ledger flush by the number of distinct keys it touches, and two workers' flushes
racing over the same keys (PostgreSQL deadlocks are counted).

    python -m benchmarks.scale.ledger_flush --db sqlite --keys 10 400 --charges 400
    python -m benchmarks.scale.ledger_flush --db postgres --keys 10 400 1000 --race
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random

from newapi_host.billing import ledger as ledgers
from newapi_host.billing.ledger import Charge, write_charges
from newapi_host.db.tables import LOG_CONSUME, Channel, Token, User

from .db import Clock, database, timed


async def make_keys(n: int, per_user: int = 4) -> list[tuple[int, int]]:
    """``n`` keys over ``n / per_user`` users: (token id, user id) pairs."""
    users = max(1, n // per_user)
    await User.insert(*[User(username=f"b{i}", password="x", quota=10**12) for i in range(users)])
    ids = [r["id"] for r in await User.select(User.id).order_by(User.id)]
    await Token.insert(
        *[Token(user_id=ids[i % users], key=f"{i:048d}", name=f"k{i}", remain_quota=10**12) for i in range(n)]
    )
    await Channel.insert(*[Channel(name=f"c{i}", key="sk", type=1) for i in range(8)])
    return [(r["id"], r["user_id"]) for r in await Token.select(Token.id, Token.user_id)]


def batch(keys: list[tuple[int, int]], n: int, rng: random.Random) -> list[Charge]:
    out = []
    for i in range(n):
        token_id, user_id = keys[i % len(keys)] if i < len(keys) else rng.choice(keys)
        log = {name: "" for name in ledgers.LOG_COLUMNS}
        log.update(
            user_id=user_id, created_at=1_700_000_000, type=LOG_CONSUME, username="b", model_name="m", quota=7,
            prompt_tokens=1, completion_tokens=1, use_time=0, is_stream=False, channel_id=1 + i % 8,
            token_id=token_id, group="default", request_id=f"r{i}", other="{}",
        )  # fmt: skip
        out.append(Charge(user_id, token_id, 1 + i % 8, 7, False, log=log))
    rng.shuffle(out)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--keys", type=int, nargs="+", default=[10, 400])
    parser.add_argument("--charges", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--race", action="store_true", help="two concurrent flushes per round (PostgreSQL)")
    args = parser.parse_args()
    results = []
    for n in args.keys:
        async with database(args.db):
            keys = await make_keys(n)
            rng = random.Random(n)
            clock = Clock()
            deadlocks = 0
            for _ in range(args.repeat):
                if args.race:
                    with clock:
                        outcome = await asyncio.gather(
                            write_charges(batch(keys, args.charges, rng), None, True),
                            write_charges(batch(keys, args.charges, rng), None, True),
                            return_exceptions=True,
                        )
                    deadlocks += sum("deadlock" in str(o) for o in outcome if isinstance(o, BaseException))
                else:
                    charges = batch(keys, args.charges, rng)
                    with clock:
                        await write_charges(charges, None, True)
            results.append({"db": args.db, "keys": n, "charges": args.charges, **timed(clock.samples),
                            "deadlocks": deadlocks})  # fmt: skip
            print(json.dumps(results[-1]))


if __name__ == "__main__":
    asyncio.run(main())
