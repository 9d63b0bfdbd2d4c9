"""Counters that guard the gateway are shared by its workers: the sign-in limit and the window of
errors that disables a channel count once, however many workers answer."""

from __future__ import annotations

import contextlib
import time
import uuid
from pathlib import Path

import httpx

from .servers import Console, serve
from .test_shared_balances import call, prepare
from .upstreams import shared_fake_openai


def test_sign_in_limit_and_channel_error_window_span_the_workers(tmp_path: Path):
    server = serve(tmp_path, 2)
    try:
        assert len(server.worker_pids()) == 2
        with contextlib.closing(Console(server.base)) as console:  # two sign-ins of the budget
            # channel errors: six 401s, spread over both workers, reach a threshold of six
            console.option("AutomaticDisableChannelEnabled", "true")
            console.option("AutomaticDisableChannelErrorThreshold", "6")
            model = f"m-fail-401-{uuid.uuid4().hex[:4]}"
            prepare(console, [server.base], model)
            channel = console.ok("GET", "/api/channel/", params={"keyword": ""})["items"][0]
            username = f"u{uuid.uuid4().hex[:6]}"
            console.user(username, 10**9)
            key = console.key_for(username)  # a third sign-in (by that user)
            codes = [call(server.base, key, model).status_code for _ in range(5)]
            assert codes == [401] * 5
            assert console.ok("GET", f"/api/channel/{channel['id']}")["status"] == 1  # five: still on
            assert call(server.base, key, model).status_code == 401
            deadline = time.monotonic() + 5
            while console.ok("GET", f"/api/channel/{channel['id']}")["status"] != 3:
                assert time.monotonic() < deadline, "six errors over two workers did not disable the channel"
                time.sleep(0.1)
        assert shared_fake_openai().requests_for(model)

        # sign-ins: 20 per 20 minutes per address in all, not 20 per worker
        statuses = []
        for _ in range(20):
            r = httpx.post(
                f"{server.base}/api/user/login",
                json={"username": "root", "password": "not-the-password"},
                headers={"Connection": "close"},
            )
            statuses.append(r.status_code)
        assert statuses == [200] * 17 + [429] * 3, statuses
    finally:
        server.stop()
