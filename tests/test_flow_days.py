"""``/api/data/flow`` from the daily flow sums: the same answers as summing ``quota_data``'s hours.

The daily sums are written by the ledger (and filled by their migration); a range reads whole
days from them and partial days from the hours (``flow_parts``). Each answer here is checked
against a brute-force sum of ``quota_data`` over the same range.
"""

from __future__ import annotations

import importlib
import random
import time
from collections import defaultdict

from newapi_host.api.data import FLOW_DAYS, flow_parts
from newapi_host.auth.users import create_user
from newapi_host.billing.ledger import FLOW_KEYS, FLOW_SUMS, add_quota_data, quota_buckets
from newapi_host.db.engine import write_transaction
from newapi_host.db.tables import QuotaData

from .conftest import as_root, login, running
from .test_api_data import browser, charge

HOUR, DAY = 3600, 86400
MIGRATION = importlib.import_module("newapi_host.db.migrations.newapi_2026_12_05t22_00_00_000000")
NUMBERED = importlib.import_module("newapi_host.db.migrations.newapi_2026_12_06t00_40_00_000000")


def hours_read(parts: list[tuple[str, int, int, int]]) -> dict[int, int]:
    """Each hour bucket with the times the parts count it (days expanded to their hours)."""
    counted: dict[int, int] = defaultdict(int)
    for table, first, last, sign in parts:
        step = HOUR if table == "quota_data" else DAY
        for stamp in range(first, last + 1, step):
            for hour in range(stamp, stamp + (HOUR if table == "quota_data" else DAY), HOUR):
                counted[hour] += sign
    return counted


def test_the_parts_count_every_hour_in_range_once_and_no_other():
    rng = random.Random(5)
    base = 1_760_000_000 - 1_760_000_000 % DAY
    for _ in range(3000):
        start = base + rng.randint(0, 10 * DAY)
        end = start + rng.choice((rng.randint(0, 3 * HOUR), rng.randint(0, 2 * DAY), rng.randint(0, 9 * DAY)))
        now = rng.choice((end + rng.randint(0, 5 * DAY), start + rng.randint(0, max(0, end - start))))
        parts = flow_parts(start, end, now)
        counted = hours_read(parts)
        last_data = now - now % HOUR  # no bucket is stamped after the hour under way
        for hour in range(base - DAY, base + 21 * DAY, HOUR):
            if hour > last_data:
                continue  # empty hours: whether they are read does not change a sum
            want = 1 if start <= hour <= end else 0
            assert counted.get(hour, 0) == want, (start, end, now, hour, parts)
        # partial days never cost more than half a day of hourly rows each
        for table, first, last, _ in parts:
            if table == "quota_data":
                assert (last - first) // HOUR + 1 <= 12, parts
        assert sum(1 for p in parts if p[0] == FLOW_DAYS and p[3] == 1) <= 3, parts


def test_a_week_until_now_reads_days_and_a_few_hours():
    midnight = 1_760_000_000 - 1_760_000_000 % DAY
    first_day = midnight - 7 * DAY
    late = midnight + 15 * HOUR + 1234  # 15:20 UTC: the first day's 16:00-23:00, then 7 whole days
    assert flow_parts(late - 7 * DAY, late, late) == [
        (FLOW_DAYS, first_day + DAY, midnight, 1),
        ("quota_data", first_day + 16 * HOUR, first_day + 23 * HOUR, 1),
    ]
    early = midnight + 5 * HOUR + 1234  # 05:20 UTC: 8 whole days less the first one's 00:00-05:00
    assert flow_parts(early - 7 * DAY, early, early) == [
        (FLOW_DAYS, first_day, midnight, 1),
        ("quota_data", first_day, first_day + 5 * HOUR, -1),
    ]


async def brute_force(start: int, end: int, by: tuple[str, ...], **where) -> dict:
    sums: dict = defaultdict(lambda: [0, 0, 0])
    for row in await QuotaData.select():
        if not (start <= row["created_at"] <= end) or row["use_group"] == "":
            continue
        if any(row[k] != v for k, v in where.items()):
            continue
        total = sums[tuple(row[k] for k in by)]
        total[0] += row["count"]
        total[1] += row["quota"]
        total[2] += row["token_used"]
    return {k: tuple(v) for k, v in sums.items()}


def answered(rows: list[dict], by: tuple[str, ...]) -> dict:
    out = {}
    for r in rows:
        key = tuple(r.get(k, 0 if k in ("user_id", "token_id", "channel_id") else "") for k in by)
        assert key not in out, key
        out[key] = (r["count"], r["quota"], r["token_used"])
    return out


ROOT_BY = ("user_id", "node_name", "token_id", "use_group", "model_name", "channel_id")


async def ranges_agree(client, who, users, now: int, rng: random.Random) -> None:
    spans = [(now - 7 * DAY, now), (now - 30 * DAY, now), (now - 3 * DAY - 7 * HOUR, now - DAY + 5 * HOUR)]
    spans += [(now - rng.randint(0, 6 * DAY), now - rng.randint(0, 3 * DAY)) for _ in range(6)]
    for start, end in spans:
        if end < start:
            start, end = end, start
        span = {"start_timestamp": start, "end_timestamp": end}
        flow = (await client.get("/api/data/flow", params=span)).json()
        assert flow["success"], flow
        assert answered(flow["data"], ROOT_BY) == await brute_force(start, end, ROOT_BY), (start, end)
        assert [r["quota"] for r in flow["data"]] == sorted((r["quota"] for r in flow["data"]), reverse=True)
        named = (await client.get("/api/data/flow", params={**span, "username": users[1]["username"]})).json()
        assert answered(named["data"], ROOT_BY) == await brute_force(start, end, ROOT_BY, user_id=users[1]["id"])
        assert {r["username"] for r in named["data"]} <= {users[1]["username"]}
        if end - start <= 30 * DAY:
            mine = (await who.get("/api/data/flow/self", params=span)).json()["data"]
            by = ("token_id", "use_group", "model_name")
            assert answered(mine, by) == await brute_force(start, end, by, user_id=users[0]["id"])


async def test_flow_answers_equal_the_hourly_sums(db_config):
    async with running(db_config) as client:
        await as_root(client)
        ledger = client.app.state.host.relay.ledger
        users = [await create_user(f"flow{i}", f"flow-pass-{i}", quota=10**9) for i in range(3)]
        rng = random.Random(11)
        now = int(time.time())
        for _round in range(2):
            for _ in range(150):
                ledger.settle(
                    charge(rng.choice(users), rng.choice(("m1", "m2", "m3")), now - rng.randint(0, 9 * DAY),
                           rng.randint(1, 500), rng.randint(1, 9), rng.randint(0, 9), group=rng.choice(("a", "b")),
                           token_id=rng.randint(1, 3), channel_id=rng.randint(1, 4))
                )  # fmt: skip
            assert await ledger.flush() == 150
        async with browser(client) as who:
            await login(who, "flow0", "flow-pass-0")
            await ranges_agree(client, who, users, now, rng)
            # charges landing late on past days (a flush after midnight, a replayed journal): the
            # past days' sums kept by the views are read again
            for _ in range(60):
                ledger.settle(
                    charge(rng.choice(users), rng.choice(("m1", "m4")), now - rng.randint(DAY, 8 * DAY),
                           rng.randint(1, 500), 3, 4, group="a", token_id=rng.randint(1, 4), channel_id=2)
                )  # fmt: skip
            assert await ledger.flush() == 60
            await ranges_agree(client, who, users, now, rng)
            # bounds past the SQL integers: New API's int64 parse refuses them; the largest int64 reads all
            huge = {"start_timestamp": 1, "end_timestamp": 10**20}
            for view in ("/api/data/flow", "/api/data/flow/self"):
                answer = await (client if view.endswith("flow") else who).get(view, params=huge)
                body = answer.json()
                assert answer.status_code == 200 and not body["success"] and body["message"] == "invalid end_timestamp"
            # the charts cut such bounds to int64's, as New API's ParseInt does
            for view in ("/api/data/", "/api/data/users"):
                answer = await client.get(view, params={"start_timestamp": -(10**20), "end_timestamp": 10**20})
                assert answer.status_code == 200 and answer.json()["success"], view
            widest = {"start_timestamp": 1, "end_timestamp": 2**63 - 1}
            everything = (await client.get("/api/data/flow", params=widest)).json()
            assert answered(everything["data"], ROOT_BY) == await brute_force(1, 2**63 - 1, ROOT_BY)


async def test_the_migrations_fill_the_daily_sums_from_existing_quota_data(db_config):
    """quota_data written by an older version: the daily sums, then their numbered keys, come from it."""
    async with running(db_config) as client:
        await as_root(client)
        users = [await create_user(f"flow{i}", f"flow-pass-{i}") for i in range(2)]
        now = int(time.time())
        logs = [
            charge(users[i % 2], f"m{i % 3}", now - i * 5000, i + 1, 2, 3, token_id=i % 4, channel_id=i % 5).log
            for i in range(120)
        ]
        async with write_transaction():
            await add_quota_data(sorted(quota_buckets(logs)))  # as an older version wrote them: no daily sums
        await QuotaData.raw(f'DELETE FROM "{FLOW_SUMS}"')
        await QuotaData.raw(f'DELETE FROM "{FLOW_KEYS}"')
        for migration in (MIGRATION, NUMBERED):
            for step in (await migration.forwards()).raw:
                await step()
        start, end = now - 5 * DAY - 3 * HOUR, now
        flow = (await client.get("/api/data/flow", params={"start_timestamp": start, "end_timestamp": end})).json()
        assert answered(flow["data"], ROOT_BY) == await brute_force(start, end, ROOT_BY)
        assert len(flow["data"]) > 10
        # and back: the numbered tables go, the daily sums come back from quota_data
        for step in (await NUMBERED.forwards()).raw_backwards:
            await step()
        assert len(await QuotaData.raw(f'SELECT * FROM "{MIGRATION.TABLE}"')) == len(
            await QuotaData.raw('SELECT DISTINCT "created_at" - "created_at" % 86400, "user_id", "token_id", '
                                '"use_group", "model_name", "channel_id", "node_name" FROM quota_data')
        )  # fmt: skip


async def test_past_days_read_again_after_a_late_charge(db_config):
    """The views keep closed days' sums between requests; a charge landing on a past day (a flush
    after midnight, a journal replayed after a stop) bumps the day's mark and is counted."""
    async with running(db_config) as client:
        await as_root(client)
        ledger = client.app.state.host.relay.ledger
        user = await create_user("late", "late-pass-1", quota=10**9)
        now = int(time.time())
        span = {"start_timestamp": now - 7 * DAY, "end_timestamp": now}

        async def settle(days_ago: int, quota: int) -> None:
            ledger.settle(charge(user, "m1", now - days_ago * DAY, quota, 2, 3, group="a", token_id=1, channel_id=1))
            assert await ledger.flush() == 1

        for days_ago in (2, 3, 5):
            await settle(days_ago, 100)
        for _ in range(2):  # read, then read again from what was kept
            flow = (await client.get("/api/data/flow", params=span)).json()["data"]
            assert [(r["count"], r["quota"]) for r in flow] == [(3, 300)]
        await settle(3, 40)  # a past day, already kept
        flow = (await client.get("/api/data/flow", params=span)).json()["data"]
        assert [(r["count"], r["quota"]) for r in flow] == [(4, 340)]
        assert answered(flow, ROOT_BY) == await brute_force(span["start_timestamp"], now, ROOT_BY)


async def test_a_kept_week_moved_by_a_day_reads_two_days_not_seven(db_config, monkeypatch):
    """After midnight a worker's kept week of closed days is moved along (the day that left taken
    away, the day that came added) instead of read again; the sums equal a fresh read."""
    from newapi_host.api import data

    async with running(db_config) as client:
        await as_root(client)
        ledger = client.app.state.host.relay.ledger
        users = [await create_user(f"shift{i}", f"shift-pass-{i}", quota=10**9) for i in range(2)]
        rng = random.Random(3)
        now = int(time.time())
        today = now - now % DAY
        for _ in range(200):
            stamp = today - rng.randint(1, 12) * DAY + rng.randint(0, DAY - 1)
            ledger.settle(
                charge(rng.choice(users), rng.choice(("m1", "m2")), stamp, rng.randint(1, 500), 2, 3, group="a",
                       token_id=rng.randint(1, 3), channel_id=rng.randint(1, 3))
            )  # fmt: skip
        assert await ledger.flush() == 200
        read = data.fetch_tuples
        ranges: list[tuple[int, int]] = []

        async def counting(sql: str, *args):
            if 'GROUP BY "key_id"' in sql:
                ranges.append((args[0], args[1]))
            return await read(sql, *args)

        async def fresh(first: int, last: int) -> dict:
            data._CLOSED.clear()
            return (await data._day_sums(first, last, []))[0]

        def day(n: int) -> int:
            return today - n * DAY

        monkeypatch.setattr(data, "fetch_tuples", counting)
        data._CLOSED.clear()
        await data._day_sums(day(10), day(4), [])
        ranges.clear()
        moved = (await data._day_sums(day(9), day(3), []))[0]
        assert ranges == [(day(10), day(10)), (day(3), day(3))]
        assert moved == await fresh(day(9), day(3))
        # a late charge on a kept day: the kept week no longer holds, the next one is read whole
        await data._day_sums(day(9), day(3), [])
        ledger.settle(charge(users[0], "m1", day(5) + 60, 77, 2, 3, group="a", token_id=1, channel_id=1))
        assert await ledger.flush() == 1
        ranges.clear()
        later = (await data._day_sums(day(8), day(2), []))[0]
        assert ranges == [(day(8), day(2))]
        assert later == await fresh(day(8), day(2))


async def test_more_keys_than_a_worker_keeps_are_read_by_id(db_config, monkeypatch):
    """Past ``MAX_KEPT_KEYS`` numbered keys a worker reads only those an answer names, in chunks."""
    from newapi_host.api import data

    async with running(db_config) as client:
        await as_root(client)
        ledger = client.app.state.host.relay.ledger
        user = await create_user("manykeys", "many-keys-1", quota=10**9)
        now = int(time.time())
        for i in range(60):  # 60 keys: model x channel
            ledger.settle(charge(user, f"m{i % 12}", now - DAY - i * 60, 10 + i, 2, 3, group="a", token_id=1,
                                 channel_id=1 + i // 12))  # fmt: skip
        assert await ledger.flush() == 60
        monkeypatch.setattr(data, "MAX_KEPT_KEYS", 5)
        monkeypatch.setattr(data, "CHUNK", 2)  # more than 40 missing: one read is tried first
        monkeypatch.setattr(data, "_KEYS", (None, {}))
        data._CLOSED.clear()
        span = {"start_timestamp": now - 3 * DAY, "end_timestamp": now}
        flow = (await client.get("/api/data/flow", params=span)).json()["data"]
        assert len(flow) == 60
        assert answered(flow, ROOT_BY) == await brute_force(span["start_timestamp"], now, ROOT_BY)
