"""Prometheus ``/metrics``: off by default, behind a bearer token when one is set, and the series of
every granian worker of one ``newapi serve`` add up."""

from __future__ import annotations

import contextlib
import json
import uuid
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from .conftest import running, wait_until
from .servers import Console, serve
from .test_rate_limits import set_everywhere
from .test_shared_balances import call, prepare

TOKEN = "scrape-secret-1"


def get(url: str, token: str | None = None) -> httpx.Response:
    """A scrape on a new connection, so successive ones reach either worker."""
    headers = {"Connection": "close"} | ({"Authorization": f"Bearer {token}"} if token else {})
    return httpx.get(url, headers=headers, timeout=10)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(series: dict, name: str, **labels: str) -> float:
    return series.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_are_off_unless_asked_for(sqlite_config):
    async with running(sqlite_config) as client:
        assert (await client.get("/metrics")).status_code == 404


def test_series_move_with_traffic_and_add_up_across_two_workers(tmp_path: Path):
    server = serve(tmp_path, 2, NEWAPI_METRICS="true", NEWAPI_METRICS_TOKEN=TOKEN)
    try:
        assert len(server.worker_pids()) == 2
        scrape = f"{server.base}/metrics"
        assert get(scrape).status_code == 401
        assert get(scrape, "wrong").status_code == 401
        with contextlib.closing(Console(server.base)) as console:
            ok_model = f"m-ok-{uuid.uuid4().hex[:4]}"
            bad_model = f"m-fail-500-{uuid.uuid4().hex[:4]}"
            prepare(console, [server.base], ok_model)
            prepare(console, [server.base], bad_model)
            set_everywhere(console, server.base, "ModelPrice", json.dumps({ok_model: 0.01, bad_model: 0.01}))
            user = f"u{uuid.uuid4().hex[:6]}"
            console.user(user, 10**9)
            key = console.key_for(user)
            before = samples(get(scrape, TOKEN).text)

            n = 20
            assert [call(server.base, key, ok_model).status_code for _ in range(n)] == [200] * n
            assert call(server.base, key, bad_model).status_code == 500
            assert call(server.base, key, "no-such-model").status_code == 404

            # both workers wrote series: each keeps its own file, the scrape sums them
            files = {p.name.rsplit("_", 1)[-1] for p in (tmp_path / "run" / "metrics").glob("counter_*.db")}
            assert len(files) >= 2, files

            def scraped() -> dict:
                r = get(scrape, TOKEN)
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
                return samples(r.text)

            after = scraped()
            chat = "openai.chat"
            ok = value(after, "newapi_relay_requests_total", dialect=chat, model=ok_model, status="200")
            assert ok - value(before, "newapi_relay_requests_total", dialect=chat, model=ok_model, status="200") == n
            assert value(after, "newapi_relay_requests_total", dialect=chat, model=bad_model, status="500") == 1
            # a model nobody serves is counted without its name: clients cannot invent series
            assert value(after, "newapi_relay_requests_total", dialect=chat, model="", status="404") >= 1
            assert not any("no-such-model" in dict(labels).get("model", "") for _, labels in after)
            count = value(after, "newapi_relay_request_seconds_count", dialect=chat)
            assert count - value(before, "newapi_relay_request_seconds_count", dialect=chat) == n + 2
            # FakeUpstream's usage is 11 + 7 tokens; a 0.01 USD call is 5,000 quota units
            assert value(after, "newapi_relay_tokens_total", model=ok_model, kind="prompt") == 11 * n
            assert value(after, "newapi_relay_tokens_total", model=ok_model, kind="completion") == 7 * n
            assert value(after, "newapi_relay_quota_total", model=ok_model) == 5000 * n
            bad_channel = next(c for c in console.ok("GET", "/api/channel/")["items"] if c["models"] == bad_model)
            assert value(after, "newapi_upstream_errors_total", channel=str(bad_channel["id"]), status="500") == 1
            # gauges: each worker reports its own, the scrape adds the live ones
            wait_until(lambda: value(scraped(), "newapi_key_cache_entries") >= 2, what="key cache gauge")
            assert ("newapi_ledger_queue", frozenset()) in scraped()
    finally:
        server.stop()
