"""Dashboard page: the markup dashboard.js relies on, and the API answers it draws from."""

from __future__ import annotations

import re
import time

from newapi_host.auth.users import create_user
from newapi_host.config import Config
from newapi_host.web.i18n import TRANSLATIONS
from newapi_host.web.layout import STATIC_FILES

from .conftest import as_root, login, running
from .test_api_data import charge

HOUR = 3600


async def test_dashboard_markup(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        await create_user("alice", "alice-pass-1")
        client.cookies.clear()
        await login(client, "alice", "alice-pass-1")
        for lang in ("en", "zh"):
            client.cookies.set("lang", lang)
            html = (await client.get("/console")).text
            for stat in ("balance", "used_quota", "request_count", "range_quota", "range_count", "range_tokens"):
                assert html.count(f'data-stat="{stat}"') == 1, stat
            form = re.search(r'<form[^>]*data-form="dashboard-range".*?</form>', html, re.S).group(0)
            assert re.search(r'name="start" type="datetime-local"', form)
            assert re.search(r'name="end" type="datetime-local"', form)
            assert 'name="granularity"' in form and 'value="hour"' in form and 'value="day"' in form
            for span in ("24h", "7d", "30d"):
                assert f'data-range="{span}"' in form
                assert TRANSLATIONS[lang][f"dash_last_{span}"] in form
            for hook in (
                '<div class="card notice" data-notice hidden>',
                "data-notice-text",
                'data-chart="time"',
                "<svg data-chart-svg",
                "data-legend",
                'data-chart="models"',
                'data-list="dashboard-models"',
                "data-empty hidden",
            ):
                assert hook in html, hook
            assert TRANSLATIONS[lang]["dash_no_usage"] in html and TRANSLATIONS[lang]["dash_share"] in html
        js = STATIC_FILES["dashboard.js"].decode()
        for needle in ("/api/user/self", "/api/data/self?", "start_timestamp", "end_timestamp", "/api/notice"):
            assert needle in js, needle
        assert "innerHTML" not in js


async def test_dashboard_data_for_the_chart(sqlite_config: Config) -> None:
    """What dashboard.js asks for: the account totals and the hourly rows of a range (hour-aligned start)."""
    async with running(sqlite_config) as client:
        await as_root(client)
        notice = "Maintenance <b>tonight</b>\nsecond line"
        assert (await client.put("/api/option/", json={"key": "Notice", "value": notice})).json()["success"]
        ledger = client.app.state.host.relay.ledger
        alice = await create_user("alice", "alice-pass-1", quota=10**9)
        bob = await create_user("bob", "bob-pass-1", quota=10**9)
        now = int(time.time())
        this_hour = now - now % HOUR
        for c in (
            charge(alice, "gpt-4o", this_hour - 3 * HOUR + 10, 500, 40, 10),
            charge(alice, "gpt-4o", this_hour - 3 * HOUR + 900, 300, 20, 5),
            charge(alice, "claude-3", this_hour - 3 * HOUR + 20, 200, 10, 10),
            charge(alice, "gpt-4o", this_hour + 1, 100, 5, 5),
            charge(alice, "gpt-4o", this_hour - 40 * 86400, 999, 1, 1),  # outside any allowed range
            charge(bob, "gpt-4o", this_hour + 2, 7000, 1, 1),  # another user's
        ):
            ledger.settle(c)
        await ledger.flush()

        client.cookies.clear()
        await login(client, "alice", "alice-pass-1")
        assert (await client.get("/api/notice")).json() == {"success": True, "message": "", "data": notice}
        me = (await client.get("/api/user/self")).json()
        assert me["success"] and {"quota", "used_quota", "request_count"} <= set(me["data"])

        # The page's default: the last 24 hours, starting at the top of the first hour.
        start = now - 86400
        params = {"start_timestamp": start - start % HOUR, "end_timestamp": now}
        body = (await client.get("/api/data/self", params=params)).json()
        assert body["success"], body
        got = {(r["model_name"], r["created_at"]): (r["count"], r["quota"], r["token_used"]) for r in body["data"]}
        assert got == {
            ("gpt-4o", this_hour - 3 * HOUR): (2, 800, 75),
            ("claude-3", this_hour - 3 * HOUR): (1, 200, 20),
            ("gpt-4o", this_hour): (1, 100, 10),
        }
        assert all(r["created_at"] % HOUR == 0 for r in body["data"])  # hour buckets: the chart's x

        # "Last 30 days" is exactly the cap; one second more is refused with a message to show.
        month = {"start_timestamp": now - 30 * 86400, "end_timestamp": now}
        assert (await client.get("/api/data/self", params=month)).json()["success"] is True
        too_long = {"start_timestamp": now - 30 * 86400 - 1, "end_timestamp": now}
        refused = (await client.get("/api/data/self", params=too_long)).json()
        assert refused["success"] is False and refused["message"]

        # An empty range: an empty list, which the page shows as "no usage in this range".
        empty = {"start_timestamp": now - 20 * 86400, "end_timestamp": now - 19 * 86400}
        assert (await client.get("/api/data/self", params=empty)).json() == {"success": True, "message": "", "data": []}
