"""New API's model request rate limits: per user, shared by every worker (the counter file)."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from pathlib import Path

import httpx

from newapi_host.relay.rate_limits import parse_groups

from .servers import Console, serve
from .test_shared_balances import call, prepare


def set_everywhere(console: Console, base: str, key: str, value: str) -> None:
    """Set an option and wait until 20 answers in a row, on new connections, show it: every worker has it."""
    console.option(key, value)
    deadline = time.monotonic() + 10
    seen = 0
    while seen < 20:
        r = httpx.get(
            f"{base}/api/option/", headers={**console.headers, "Connection": "close"}, cookies=console.cookies
        )
        values = {o["key"]: o["value"] for o in r.json()["data"]}
        seen = seen + 1 if values.get(key) == value else 0
        assert time.monotonic() < deadline, f"a worker did not learn {key}"


def test_success_and_total_limits_hold_across_two_workers(tmp_path: Path):
    server = serve(tmp_path, 2)
    try:
        assert len(server.worker_pids()) == 2
        with contextlib.closing(Console(server.base)) as console:
            ok_model = f"m-ok-{uuid.uuid4().hex[:4]}"
            bad_model = f"m-fail-500-{uuid.uuid4().hex[:4]}"
            prepare(console, [server.base], ok_model)
            prepare(console, [server.base], bad_model)
            prices = json.dumps({ok_model: 0.01, bad_model: 0.01})  # prepare priced one each
            set_everywhere(console, server.base, "ModelPrice", prices)
            set_everywhere(console, server.base, "ModelRequestRateLimitSuccessCount", "4")
            set_everywhere(console, server.base, "ModelRequestRateLimitDurationMinutes", "1")
            set_everywhere(console, server.base, "ModelRequestRateLimitEnabled", "true")
            first = f"u{uuid.uuid4().hex[:6]}"
            console.user(first, 10**9)
            key = console.key_for(first)
            # four successes in all, whichever worker answers (each call opens a new connection)
            first_reply = call(server.base, key, ok_model)
            assert first_reply.status_code == 200, first_reply.text
            codes = [200] + [call(server.base, key, ok_model).status_code for _ in range(5)]
            assert codes == [200] * 4 + [429] * 2, codes
            refused = call(server.base, key, ok_model)
            assert refused.json()["error"]["code"] == "rate_limit_exceeded"
            assert int(refused.headers["retry-after"]) >= 1
            # failures do not use the success budget
            assert call(server.base, key, bad_model).status_code == 429  # still refused: 4 successes
            # a group override: the default group may send 3 requests in all, failures included
            set_everywhere(console, server.base, "ModelRequestRateLimitGroup", json.dumps({"default": [3, 100]}))
            second = f"u{uuid.uuid4().hex[:6]}"
            console.user(second, 10**9)
            other = console.key_for(second)
            codes = [call(server.base, other, bad_model).status_code for _ in range(3)]
            assert 429 not in codes and all(c >= 500 for c in codes), codes
            assert call(server.base, other, ok_model).status_code == 429  # the total counts failures
            set_everywhere(console, server.base, "ModelRequestRateLimitEnabled", "false")
            assert call(server.base, other, ok_model).status_code == 200
    finally:
        server.stop()


def test_group_overrides_are_read_leniently():
    text = json.dumps({"vip": [10, 20], "bad": [1], "neg": [-1, 2], "text": ["1", 2], "flag": [True, 1]})
    assert parse_groups(text) == {"vip": (10, 20)}
    assert parse_groups("not json") == {} and parse_groups("") == {} and parse_groups("[1, 2]") == {}
