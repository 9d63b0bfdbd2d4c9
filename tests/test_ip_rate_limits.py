"""New API's per-address limits: the global API limit, the global web limit and the critical-route
limit, each counted once for the whole cluster (every worker of a node, every node sharing Redis).

Requests carry ``X-Forwarded-For`` from a trusted proxy (127.0.0.1), so each check uses addresses
of its own, as the proxy-header handling resolves them, and a limited address leaves the others
alone. Every request opens a new connection, so the workers (and nodes) take turns answering.
"""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import pytest

from newapi_host.cli import main
from newapi_host.config import Config
from newapi_host.ip_limits import API, CRITICAL, WEB, IpLimits, kinds_of

from .servers import Served, serve

LIMITS = {
    "GLOBAL_API_RATE_LIMIT_ENABLE": "true",
    "GLOBAL_API_RATE_LIMIT": "8",
    "GLOBAL_API_RATE_LIMIT_DURATION": "180",
    "GLOBAL_WEB_RATE_LIMIT_ENABLE": "true",
    "GLOBAL_WEB_RATE_LIMIT": "5",
    "GLOBAL_WEB_RATE_LIMIT_DURATION": "180",
    "CRITICAL_RATE_LIMIT_ENABLE": "true",
    "CRITICAL_RATE_LIMIT": "6",
    "CRITICAL_RATE_LIMIT_DURATION": "1200",
    "TRUSTED_PROXIES": "127.0.0.1",
}


def address() -> str:
    """A documentation address no earlier run has used (counters in Redis outlive a test)."""
    return f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"


def send(bases: list[str], i: int, method: str, path: str, ip: str, **kwargs) -> httpx.Response:
    headers = {"X-Forwarded-For": ip, "Connection": "close", **kwargs.pop("headers", {})}
    return httpx.request(method, bases[i % len(bases)] + path, headers=headers, timeout=10, **kwargs)


def check_address_limits(bases: list[str]) -> None:
    # global API: 8 requests per address over /api/..., whichever worker or node answers
    ip = address()
    codes = [send(bases, i, "GET", "/api/status", ip).status_code for i in range(10)]
    assert codes == [200] * 8 + [429] * 2, codes
    refused = send(bases, 0, "GET", "/api/status", ip)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    body = refused.json()
    assert body["success"] is False and "8 requests in 3 minutes" in body["message"], body
    assert send(bases, 1, "GET", "/api/status", address()).status_code == 200  # another address: untouched
    # the relay is not under the global API limit (New API puts it on /api and the billing routes only)
    assert send(bases, 0, "GET", "/v1/models", ip).status_code == 401
    assert send(bases, 1, "POST", "/v1/chat/completions", ip, json={}).status_code == 401

    # the billing routes of OpenAI's dashboard share the budget and refuse in OpenAI's shape
    ip = address()
    codes = [send(bases, i, "GET", "/api/status", ip).status_code for i in range(6)]
    codes += [send(bases, 0, "GET", "/v1/dashboard/billing/usage", ip).status_code]
    codes += [send(bases, 1, "GET", "/dashboard/billing/usage", ip).status_code]
    assert codes == [200] * 6 + [401, 401], codes
    refused = send(bases, 0, "GET", "/v1/dashboard/billing/subscription", ip)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limit_exceeded", refused.text

    # global web: 5 console pages per address; the console's static files are not counted
    ip = address()
    codes = [send(bases, i, "GET", "/login", ip).status_code for i in range(5)]
    assert 429 not in codes, codes
    assert send(bases, 0, "GET", "/console-static/core.js", ip).status_code == 200
    refused = send(bases, 1, "GET", "/login", ip)
    assert refused.status_code == 429 and "5 requests in 3 minutes" in refused.text
    assert refused.headers["content-type"].startswith("text/plain")
    assert send(bases, 0, "GET", "/register", ip).status_code == 429
    assert send(bases, 1, "GET", "/login", address()).status_code != 429

    # critical routes: sign-ins and key look-ups share one budget of 6, each request counted once
    ip = address()
    login = {"username": "nobody-here", "password": "not-the-password"}
    codes = [send(bases, i, "POST", "/api/user/login", ip, json=login).status_code for i in range(3)]
    codes += [send(bases, i, "GET", "/api/log/token", ip).status_code for i in range(3)]
    assert 429 not in codes, codes
    refused = send(bases, 0, "GET", "/api/log/token", ip)
    assert refused.status_code == 429 and "6 requests in 20 minutes" in refused.json()["message"], refused.text
    assert send(bases, 1, "POST", "/api/user/login", ip, json=login).status_code == 429
    assert send(bases, 0, "POST", "/api/user/login", address(), json=login).status_code != 429


def test_address_limits_hold_across_two_workers(tmp_path: Path):
    server = serve(tmp_path, 2, **LIMITS)
    try:
        assert len(server.worker_pids()) == 2
        check_address_limits([server.base])
    finally:
        server.stop()


@pytest.mark.postgres
@pytest.mark.redis
def test_address_limits_hold_across_two_nodes(tmp_path: Path, pg_dsn: str, redis_url: str):
    env = {"SQL_DSN": pg_dsn, "REDIS_CONN_STRING": redis_url, **LIMITS}
    nodes: list[Served] = []
    try:
        nodes.append(serve(tmp_path / "a", 2, **env))
        nodes.append(serve(tmp_path / "b", 2, **env))
        check_address_limits([n.base for n in nodes])
    finally:
        for node in nodes:
            node.stop()


def test_environment_as_new_api():
    config = Config.from_env({})
    assert (config.api_rate_limit, config.api_rate_limit_duration) == (180, 180)
    assert (config.web_rate_limit, config.web_rate_limit_duration) == (60, 180)
    assert config.critical_rate_limit_enabled and config.option_defaults() == {
        "CriticalRateLimitCount": "20",
        "CriticalRateLimitDurationSeconds": "1200",
    }
    off = Config.from_env(
        {
            "GLOBAL_API_RATE_LIMIT_ENABLE": "false",
            "GLOBAL_WEB_RATE_LIMIT_ENABLE": "false",
            "CRITICAL_RATE_LIMIT_ENABLE": "false",
        }
    )
    assert (off.api_rate_limit, off.web_rate_limit, off.critical_rate_limit_enabled) == (0, 0, False)
    tuned = Config.from_env({"CRITICAL_RATE_LIMIT": "5", "CRITICAL_RATE_LIMIT_DURATION": "60"})
    assert tuned.option_defaults() == {"CriticalRateLimitCount": "5", "CriticalRateLimitDurationSeconds": "60"}
    assert Config().api_rate_limit == 0 and Config().web_rate_limit == 0  # a Config built in code: off
    for bad in ({"GLOBAL_API_RATE_LIMIT": "many"}, {"GLOBAL_WEB_RATE_LIMIT_DURATION": "0"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Config.from_env(bad)


def test_a_bad_limit_in_the_environment_stops_the_cli_with_its_name(monkeypatch, capsys):
    monkeypatch.setenv("GLOBAL_API_RATE_LIMIT", "-5")
    assert main(["serve"]) == 2
    assert "GLOBAL_API_RATE_LIMIT must be at least 1" in capsys.readouterr().err


def test_which_routes_each_limit_covers():
    limits = IpLimits(api=(180, 180), web=(60, 180), critical=True, web_prefixes=frozenset({"", "console", "login"}))
    assert kinds_of(limits, "GET", "/api/status") == (API,)
    assert kinds_of(limits, "POST", "/api/user/login") == (API, CRITICAL)
    assert kinds_of(limits, "POST", "/api/token/12/key") == (API, CRITICAL)
    assert kinds_of(limits, "GET", "/api/token/12") == (API,)
    assert kinds_of(limits, "POST", "/api/channel/3/key") == (API, CRITICAL)
    assert kinds_of(limits, "GET", "/api/oauth/github") == (API, CRITICAL)
    assert kinds_of(limits, "POST", "/api/user/topup") == (API, CRITICAL)
    assert kinds_of(limits, "GET", "/api/user/topup") == (API,)
    assert kinds_of(limits, "GET", "/v1/credits") == (API,)
    assert kinds_of(limits, "GET", "/v1/dashboard/billing/usage") == (API,)
    assert kinds_of(limits, "GET", "/") == (WEB,)
    assert kinds_of(limits, "GET", "/console/keys") == (WEB,)
    assert kinds_of(limits, "GET", "/console-static/core.js") == ()
    for relay in ("/v1/chat/completions", "/v1/models", "/v1beta/models/g:generateContent", "/healthz", "/metrics"):
        assert kinds_of(limits, "POST", relay) == (), relay
    quiet = IpLimits(api=None, web=None, critical=True, web_prefixes=frozenset({""}))
    assert kinds_of(quiet, "GET", "/api/status") == ()
    assert kinds_of(quiet, "POST", "/api/user/login") == (CRITICAL,)
