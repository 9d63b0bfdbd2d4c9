"""Shared counters for every node: Redis, with each multi-key step in one Lua script.

Keys live under ``newapi:<namespace>:``, the namespace being the database's own id (see
:func:`newapi_host.billing.wallets.cluster_id`), so gateways on different databases can share
one Redis. A balance expires after a week without use and is then seeded again from the
database; rate windows expire with their window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from . import Outcome, Reservation, SharedStore, StoreUnavailable, epoch_of, window_decision

log = logging.getLogger(__name__)

BALANCE_TTL = 7 * 24 * 3600

SEED = """
local v = redis.call('GET', KEYS[1])
if v then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  return tonumber(v)
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return tonumber(ARGV[1])
"""

# The same rule as newapi_host.store.decide, applied where the balances are.
RESERVE = """
local amount, trust, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local wallet = redis.call('GET', KEYS[1])
local key = nil
if #KEYS > 1 then
  key = redis.call('GET', KEYS[2])
  if not key then return {6, tonumber(wallet or '0'), 1, 0} end
  key = tonumber(key)
end
if not wallet then return {6, 0, key and 1 or 0, key or 0} end
wallet = tonumber(wallet)
local outcome = 0
if key and key <= 0 then
  outcome = 5
elseif trust >= 0 and wallet > trust and (not key or key > trust) then
  outcome = 1
elseif amount < 0 then
  outcome = 2
elseif wallet <= 0 or wallet < amount then
  outcome = 3
elseif key and key < amount then
  outcome = 4
end
if outcome == 0 then
  wallet = redis.call('DECRBY', KEYS[1], amount)
  redis.call('EXPIRE', KEYS[1], ttl)
  if key then
    key = redis.call('DECRBY', KEYS[2], amount)
    redis.call('EXPIRE', KEYS[2], ttl)
  end
end
return {outcome, wallet, key and 1 or 0, key or 0}
"""

ADD = """
for i, name in ipairs(KEYS) do
  if redis.call('EXISTS', name) == 1 then
    redis.call('INCRBY', name, ARGV[i])
    redis.call('EXPIRE', name, ARGV[#ARGV])
  end
end
return 0
"""

# KEYS: current window, previous window; ARGV: elapsed fraction, limit, expiry seconds, amount.
HIT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local elapsed, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local estimate = previous * (1 - elapsed) + current
if limit > 0 and estimate + 1 > limit + 1e-9 then
  return {0, previous, current}
end
redis.call('INCRBY', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, previous, current}
"""


class RedisStore(SharedStore):
    immediate = False

    def __init__(self, url: str, namespace: str) -> None:
        # A blocking pool waits for a free connection instead of failing under bursts.
        pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=64, timeout=5)
        self.client = aioredis.Redis(connection_pool=pool)
        self.prefix = f"newapi:{namespace}:"
        self._seed = self.client.register_script(SEED)
        self._reserve = self.client.register_script(RESERVE)
        self._add = self.client.register_script(ADD)
        self._hit = self.client.register_script(HIT)
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        try:
            await self.client.ping()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"Redis is not reachable: {exc}") from exc

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self.client.aclose()

    async def _call(self, script, keys: list[str], args: list[object]):  # type: ignore[no-untyped-def]
        try:
            return await script(keys=[self.prefix + k for k in keys], args=args)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"Redis failed: {exc}") from exc

    async def get(self, key: str) -> int | None:
        try:
            value = await self.client.get(self.prefix + key)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"Redis failed: {exc}") from exc
        return None if value is None else int(value)

    async def seed(self, key: str, value: int, ttl: int = 0) -> int:
        return int(await self._call(self._seed, [key], [value, ttl if ttl > 0 else BALANCE_TTL]))

    async def reserve(self, wallet: str, key: str | None, amount: int, trust: int) -> Reservation:
        keys = [wallet] if key is None else [wallet, key]
        outcome, balance, has_key, remaining = await self._call(self._reserve, keys, [amount, trust, BALANCE_TTL])
        return Reservation(Outcome(int(outcome)), int(balance), int(remaining) if int(has_key) else None)

    async def add(self, deltas: Sequence[tuple[str, int]]) -> None:
        moving = [(k, d) for k, d in deltas if d]
        if moving:
            await self._call(self._add, [k for k, _ in moving], [*(d for _, d in moving), BALANCE_TTL])

    def add_soon(self, deltas: Sequence[tuple[str, int]]) -> asyncio.Task[None] | None:
        if not any(d for _, d in deltas):
            return None
        task = asyncio.get_running_loop().create_task(self._add_retrying(list(deltas)))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    async def _add_retrying(self, deltas: list[tuple[str, int]]) -> None:
        """Deltas commute, so a late one is as good as a prompt one; a lost one is not."""
        delay = 0.05
        deadline = time.monotonic() + 60
        while True:
            try:
                await self.add(deltas)
                return
            except StoreUnavailable as exc:
                if time.monotonic() > deadline:
                    log.error("balance changes %s could not reach Redis: %s", deltas, exc)
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def forget(self, key: str) -> None:
        try:
            await self.client.delete(self.prefix + key)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"Redis failed: {exc}") from exc

    async def hit(self, key: str, window: float, limit: int = 0, amount: int = 1) -> tuple[bool, float, float]:
        moment = time.time()
        epoch = epoch_of(moment, window)
        elapsed = (moment % window) / window
        keys = [f"{key}@{epoch}", f"{key}@{epoch - 1}"]
        allowed, previous, current = await self._call(self._hit, keys, [elapsed, limit, int(window * 2) + 1, amount])
        decision = window_decision(int(previous), int(current), moment, window, limit)
        if int(allowed):
            return True, decision[1], 0.0
        return False, decision[1], decision[2]

    async def peek(self, key: str, window: float, limit: int) -> tuple[bool, float, float]:
        moment = time.time()
        epoch = epoch_of(moment, window)
        try:
            current, previous = await self.client.mget(
                self.prefix + f"{key}@{epoch}", self.prefix + f"{key}@{epoch - 1}"
            )
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"Redis failed: {exc}") from exc
        return window_decision(int(previous or 0), int(current or 0), moment, window, limit)
