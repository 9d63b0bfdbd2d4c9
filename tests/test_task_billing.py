"""The task framework's money, in process on each database: a held charge is settled or refunded
exactly once, however many pollers race, and the live balances stay equal to the records."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import pytest

from newapi_host import tasks
from newapi_host.auth.users import create_user
from newapi_host.db.tables import LOG_CONSUME, LOG_REFUND, Log, Midjourney, Task, Token, User

from .conftest import as_root, running


@dataclass(frozen=True)
class Owner:  # what sdk.Caller carries for the framework
    user_id: int
    username: str
    token_id: int
    token_name: str
    group: str
    unlimited: bool


async def owner(limited: bool) -> Owner:
    user = await create_user("painter", "painter-pass-1", quota=1_000_000)
    token = Token(user_id=user["id"], key="p" * 48, name="brush", remain_quota=300_000, unlimited_quota=not limited)
    await token.save()
    return Owner(user["id"], "painter", token.id, "brush", "default", not limited)


async def records(who: Owner) -> tuple[int, int, int]:
    user = await User.select(User.quota, User.used_quota).where(User.id == who.user_id).first()
    token = await Token.select(Token.remain_quota).where(Token.id == who.token_id).first()
    return user["quota"], user["used_quota"], token["remain_quota"]


async def live(host, who: Owner) -> tuple[int | None, int | None]:  # type: ignore[no-untyped-def]
    store = host.wallets.store
    return await store.get(f"u{who.user_id}"), await store.get(f"t{who.token_id}")


async def submit(host, who: Owner, table: str, quota: int, fields: dict) -> dict:  # type: ignore[no-untyped-def]
    async def send() -> dict:
        return fields

    return await tasks.submit(host, table=table, owner=who, channel_id=0, quota=quota, model="mj_imagine", send=send)


@pytest.mark.parametrize("table", ["midjourneys", "tasks"])
async def test_racing_pollers_refund_a_failed_task_once(db_config, table):
    async with running(db_config) as client:
        await as_root(client)
        host = client.app.state.host
        who = await owner(limited=True)
        await host.wallets.seed(who.user_id, who.token_id)
        fields = {"mj_id": "111", "action": "IMAGINE"} if table == "midjourneys" else {"task_id": "task_x"}
        row = await submit(host, who, table, 50_000, fields)
        assert await records(who) == (950_000, 50_000, 250_000)  # held: taken from wallet and key
        assert await live(host, who) == (950_000, 250_000)
        if table == "tasks":
            assert json.loads(row["private_data"])["token_id"] == who.token_id

        failure = {"status": "FAILURE", "fail_reason": "upstream failed", "progress": "100%"}
        won = await asyncio.gather(*(tasks.finish(host, table, row["id"], failure) for _ in range(8)))
        assert sorted(won) == [False] * 7 + [True]
        assert await records(who) == (1_000_000, 0, 300_000)
        assert await live(host, who) == (1_000_000, 300_000)
        refunds = await Log.select().where(Log.type == LOG_REFUND)
        assert [(r["user_id"], r["quota"], r["token_id"]) for r in refunds] == [(who.user_id, 50_000, who.token_id)]
        # A late success report (or a timeout sweep) cannot undo or repeat it.
        assert await tasks.update(host, table, row["id"], {"status": "SUCCESS"}) == "final"
        assert await records(who) == (1_000_000, 0, 300_000)


async def test_success_settles_the_hold_and_a_later_failure_report_refunds_nothing(db_config):
    async with running(db_config) as client:
        await as_root(client)
        host = client.app.state.host
        who = await owner(limited=False)
        row = await submit(host, who, "midjourneys", 50_000, {"mj_id": "222", "action": "IMAGINE"})
        assert await tasks.update(host, "midjourneys", row["id"], {"status": "IN_PROGRESS", "progress": "40%"}) == (
            "updated"
        )
        outcomes = await asyncio.gather(
            tasks.update(host, "midjourneys", row["id"], {"status": "SUCCESS", "image_url": "http://x/1.png"}),
            tasks.update(host, "midjourneys", row["id"], {"status": "FAILURE", "fail_reason": "late"}),
        )
        assert sorted(outcomes) == ["final", "settled"]
        stored = await Midjourney.select().where(Midjourney.id == row["id"]).first()
        quota = (await records(who))[0]
        if stored["status"] == "SUCCESS":
            assert quota == 950_000 and stored["progress"] == "100%"
            assert not await Log.exists().where(Log.type == LOG_REFUND)
        else:  # the failure report won the race: refunded once, and the success changed nothing
            assert quota == 1_000_000
        consume = await Log.select().where(Log.type == LOG_CONSUME)
        assert [r["quota"] for r in consume] == [50_000]
        # the charge reaches the dashboard: its hourly bucket and the sums kept beside it
        for table in ("quota_data", "quota_data_users", "quota_data_flow_sums"):
            [total] = await Log.raw(f'SELECT SUM("quota") AS q FROM "{table}"')
            assert int(total["q"]) == 50_000, table


async def test_a_refused_submit_charges_nothing_and_releases_the_hold(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        host = client.app.state.host
        who = await owner(limited=True)

        async def refused() -> dict:
            raise RuntimeError("upstream said no")

        with pytest.raises(RuntimeError):
            await tasks.submit(
                host, table="tasks", owner=who, channel_id=0, quota=50_000, model="suno_music", send=refused
            )
        assert await records(who) == (1_000_000, 0, 300_000)
        assert await live(host, who) == (1_000_000, 300_000)
        assert not await Task.exists()
        with pytest.raises(tasks.TaskRefused) as short:  # more than the key holds: refused before sending
            await submit(host, who, "tasks", 400_000, {"task_id": "task_y"})
        assert short.value.code == "pre_consume_token_quota_failed"
        assert await live(host, who) == (1_000_000, 300_000)


async def test_polling_switch_and_timeouts(sqlite_config, monkeypatch):
    assert tasks.polling_enabled({}) and not tasks.polling_enabled({"UPDATE_TASK": "false"})
    async with running(sqlite_config) as client:
        await as_root(client)
        host = client.app.state.host
        who = await owner(limited=False)
        old = await submit(host, who, "midjourneys", 10_000, {"mj_id": "333", "action": "IMAGINE", "submit_time": 1})
        fresh = await submit(host, who, "midjourneys", 10_000, {"mj_id": "444", "action": "IMAGINE"})
        asked: list[list[str]] = []

        async def fetch(channel, rows):  # type: ignore[no-untyped-def]
            asked.append([r["mj_id"] for r in rows])
            return {}

        host.relay.index.by_id[0] = next(iter(host.relay.index.by_id.values()), None) or _Entry()
        counts = await tasks.poll(host, "midjourneys", fetch, view=lambda e: e)
        assert counts["timed_out"] == 1 and asked == [["444"]]
        assert (await records(who))[0] == 1_000_000 - 10_000  # the stale one came back, the fresh one is held
        stale = await Midjourney.select().where(Midjourney.id == old["id"]).first()
        assert (stale["status"], stale["fail_reason"]) == ("FAILURE", tasks.TIMED_OUT)
        assert fresh["status"] != "FAILURE"


class _Entry:
    type = 2


async def test_empty_task_lists(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        for path in ("/api/task/", "/api/task/self", "/api/mj/", "/api/mj/self"):
            body = (await client.get(path, params={"p": 1, "page_size": 10})).json()
            assert body["success"] and body["data"] == {"page": 1, "page_size": 10, "total": 0, "items": []}, path
