"""Log reads that stay cheap on large tables: bounded list totals, and stats whose whole hours come
from the hourly ``quota_data`` buckets while they sum exactly what the rows sum."""

from __future__ import annotations

import random
import time

import pytest

from newapi_host.api import logs as logs_api
from newapi_host.auth.users import create_user
from newapi_host.db.engine import refresh_statistics
from newapi_host.db.tables import LOG_CONSUME, LOG_ERROR, Log, QuotaData

from .conftest import as_root, login, running
from .test_api_logs import add_logs, log_row


async def test_stats_sum_the_rows_exactly_for_any_range_and_filter(db_config):
    async with running(db_config) as client:
        await as_root(client)
        user = await create_user("dana", "dana-pass-1")
        rng = random.Random(4)
        now = int(time.time())
        rows = []
        for i in range(600):
            rows.append(log_row(
                user_id=user["id"] if i % 2 else 1, username="dana" if i % 2 else "root",
                type=LOG_CONSUME if i % 9 else LOG_ERROR, quota=rng.randint(1, 99) if i % 9 else 0,
                created_at=now - rng.randint(0, 40 * 3600), model_name=rng.choice(("gpt-a", "gpt-b", "c")),
                channel_id=rng.choice((1, 2)), group=rng.choice(("default", "vip")), token_name="k",
                token_id=rng.choice((5, 6)), request_id=f"r{i}",
            ))  # fmt: skip
        await add_logs(rows)
        assert await QuotaData.raw("SELECT COUNT(*) AS n FROM quota_data") != [{"n": 0}]

        def expected(start=0, end=0, **match):
            return sum(
                r["quota"] for r in rows
                if r["type"] == LOG_CONSUME and (not start or r["created_at"] >= start)
                and (not end or r["created_at"] <= end) and all(r[k] == v for k, v in match.items())
            )  # fmt: skip

        spans = [(0, 0), (now - 7200, 0), (0, now - 3600), (now - 5 * 3600 - 17, now - 3600 + 5)]
        spans += [(now - 1800, now - 600), (now - 3 * 3600, now - 3 * 3600)]  # within an hour; one second
        for _ in range(6):
            a, b = sorted(rng.randint(now - 41 * 3600, now) for _ in range(2))
            spans.append((a, b))
        for start, end in spans:
            times = (f"&start_timestamp={start}" if start else "") + (f"&end_timestamp={end}" if end else "")
            cases = [
                ("", {}),
                ("&model_name=gpt-a", {"model_name": "gpt-a"}),
                ("&username=dana&channel=2&group=vip", {"username": "dana", "channel_id": 2, "group": "vip"}),
                ("&username=dana&model_name=gpt-b", {"username": "dana", "model_name": "gpt-b"}),
                ("&username=d%25a", {"username": "dana"}),
            ]
            for query, match in cases:
                r = await client.get(f"/api/log/stat?type=2{times}{query}")
                assert r.json()["data"]["quota"] == expected(start, end, **match), (start, end, query)
            r = await client.get(f"/api/log/stat?type=2{times}&model_name=gpt%25")  # a LIKE pattern
            want = sum(expected(start, end, model_name=m) for m in ("gpt-a", "gpt-b"))
            assert r.json()["data"]["quota"] == want
        dana = client.__class__(transport=client._transport, base_url="http://testserver")
        async with dana:
            await login(dana, "dana", "dana-pass-1")
            for start, end in spans[:5]:
                times = (f"&start_timestamp={start}" if start else "") + (f"&end_timestamp={end}" if end else "")
                r = await dana.get(f"/api/log/self/stat?type=2{times}")
                assert r.json()["data"]["quota"] == expected(start, end, user_id=user["id"])


async def test_stats_read_the_rows_when_data_export_is_off_or_a_key_name_is_asked(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)
        now = int(time.time())
        await add_logs([log_row(user_id=1, quota=5, created_at=now - 10, token_name="k1", request_id="a")])
        await Log.insert(Log(user_id=1, type=LOG_CONSUME, quota=7, created_at=now - 10, token_name="k2"))  # no bucket
        assert (await client.get("/api/log/stat?type=2")).json()["data"]["quota"] == 5  # the buckets
        assert (await client.get("/api/log/stat?type=2&token_name=k2")).json()["data"]["quota"] == 7
        r = await client.put("/api/option/", json={"key": "DataExportEnabled", "value": "false"})
        assert r.json()["success"], r.text
        assert (await client.get("/api/log/stat?type=2")).json()["data"]["quota"] == 12  # the rows


@pytest.mark.parametrize("rows", [25])
async def test_list_totals_are_bounded_and_later_pages_still_count(sqlite_config, monkeypatch, rows):
    monkeypatch.setattr(logs_api, "COUNT_LIMIT", 10)
    async with running(sqlite_config) as client:
        await as_root(client)
        now = int(time.time())
        await add_logs([log_row(user_id=1, created_at=now - i, request_id=f"r{i}") for i in range(rows)])
        first = (await client.get("/api/log/?p=1&page_size=5")).json()["data"]
        assert first["total"] == 10 and len(first["items"]) == 5  # at least 10: the pager goes on
        third = (await client.get("/api/log/?p=3&page_size=5")).json()["data"]
        assert third["total"] == 16 and len(third["items"]) == 5  # counted just past this page
        last = (await client.get("/api/log/?p=5&page_size=5")).json()["data"]
        assert last["total"] == rows and len(last["items"]) == 5  # the end is exact
        small = (await client.get("/api/log/?p=1&page_size=5&request_id=r3")).json()["data"]
        assert small["total"] == 1


async def test_log_pages_read_the_matching_index_once_statistics_are_fresh(sqlite_config):
    """SQLite plans the list queries on an index that gives rows in page order (no sort of every
    match) once the hourly job has sampled the tables."""
    async with running(sqlite_config) as client:
        await as_root(client)
        now = int(time.time())
        rows = [
            log_row(user_id=1 + (i % 5 == 0), created_at=now - 5000 + i, model_name=f"m{i % 7}", token_name=f"k{i % 3}",
                    channel_id=i % 4, username=f"u{i % 5}", request_id=f"r{i}")
            for i in range(5000)
        ]  # fmt: skip
        await add_logs(rows)
        await refresh_statistics()  # what the hourly log-cleanup job does

        async def plan(query) -> str:
            found = await Log.raw(f"EXPLAIN QUERY PLAN {query}")
            return " | ".join(r["detail"] for r in found)

        def admin(where: str) -> str:
            return f"SELECT * FROM logs WHERE {where} ORDER BY created_at DESC, id DESC LIMIT 10"

        for where, index in (
            ("model_name = 'm3'", "idx_logs_model_created"),
            ("token_name = 'k1'", "idx_logs_token_created"),
            ("username = 'u2'", "idx_logs_username_created"),
            ("channel_id = 2", "idx_logs_channel_created"),
            ("type = 2", "idx_logs_type_created"),
        ):
            detail = await plan(admin(where))
            assert index in detail and "TEMP B-TREE" not in detail, (where, detail)
        for where, index in (
            ("user_id = 2", "idx_logs_user_created"),
            (f"user_id = 2 AND created_at >= {now - 3000} AND created_at <= {now - 2000}", "idx_logs_user_created"),
            ("user_id = 2 AND model_name = 'm3'", "idx_logs_user_model_created"),
        ):
            detail = await plan(admin(where))
            assert index in detail and "TEMP B-TREE" not in detail, (where, detail)


async def test_retention_sizes_its_batches_by_time_and_lets_writers_in(sqlite_config, monkeypatch):
    """Slow batches shrink towards DELETE_BATCH_SECONDS; a writer waits at most about one batch."""
    monkeypatch.setattr(logs_api, "DELETE_BATCH_SECONDS", 0.0005)  # far below what a batch takes
    async with running(sqlite_config):
        now = int(time.time())
        await add_logs([log_row(user_id=1, created_at=now - 90000 + i, request_id=f"o{i}") for i in range(3000)])
        sizes = []
        original = Log.delete

        class Recording:
            def where(self, cond):
                sizes.append(len(cond.values))  # the ids of one batch
                return original().where(cond)

        def recording_delete(*args, **kwargs):
            return Recording()

        monkeypatch.setattr(Log, "delete", recording_delete)
        assert await logs_api.delete_logs_before(now, batch=1000) == 3000
        assert sizes[0] == 1000 and sizes[1] == logs_api.DELETE_MIN_BATCH  # shrunk after one slow batch
        assert await Log.count() == 0
