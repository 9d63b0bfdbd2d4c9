"""New API's model request rate limits: per user, shared by every worker (the counter file)."""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from newapi_host.relay.rate_limits import parse_groups

from .conftest import as_root, running
from .gateway import gw, unique, up  # noqa: F401  (module fixtures)
from .servers import Console, Served, serve
from .test_shared_balances import call, prepare
from .upstreams import USAGE


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


TOKENS = USAGE["total_tokens"]  # what each call to the fake upstream uses: 18


def check_limits_span(console: Console, bases: list[str]) -> None:
    """The request limits and the token-per-minute limits hold wherever each request lands."""
    model = f"m-ok-{uuid.uuid4().hex[:4]}"
    prepare(console, bases, model)

    def everywhere(key: str, value: str) -> None:
        for base in bases:
            set_everywhere(console, base, key, value)

    # the success limit, three per minute, over every worker of every node
    everywhere("ModelRequestRateLimitSuccessCount", "3")
    everywhere("ModelRequestRateLimitEnabled", "true")
    name = f"u{uuid.uuid4().hex[:6]}"
    console.user(name, 10**9)
    key = console.key_for(name)
    codes = [call(bases[i % len(bases)], key, model).status_code for i in range(5)]
    assert codes == [200] * 3 + [429] * 2, codes
    # the total limit, through a group override: two requests a minute for the default group
    everywhere("ModelRequestRateLimitGroup", json.dumps({"default": [2, 1000]}))
    name = f"u{uuid.uuid4().hex[:6]}"
    console.user(name, 10**9)
    key = console.key_for(name)
    codes = [call(bases[i % len(bases)], key, model).status_code for i in range(3)]
    assert codes == [200, 200, 429], codes
    everywhere("ModelRequestRateLimitEnabled", "false")

    # tokens per minute per key: 18 tokens a call, 50 a minute: the fourth call finds the budget spent
    everywhere("ModelRequestTPMLimitTokens", "50")
    everywhere("ModelRequestTPMLimitEnabled", "true")
    name = f"u{uuid.uuid4().hex[:6]}"
    console.user(name, 10**9)
    key, other = console.key_for(name), console.key_for(name)
    answers = [call(bases[i % len(bases)], key, model, stream=i == 1) for i in range(5)]
    assert [r.status_code for r in answers] == [200] * 3 + [429] * 2, [r.text for r in answers]
    error = answers[-1].json()["error"]
    assert error["code"] == "tpm_limit_exceeded" and "50 tokens per minute" in error["message"], error
    assert int(answers[-1].headers["retry-after"]) >= 1
    assert call(bases[-1], other, model).status_code == 200  # the limit is per key: the user's other key is fine

    # a group's own limit replaces the default for keys of that group
    everywhere("ModelRequestTPMLimitGroup", json.dumps({"default": 20}))
    name = f"u{uuid.uuid4().hex[:6]}"
    console.user(name, 10**9)
    key = console.key_for(name)
    codes = [call(bases[i % len(bases)], key, model).status_code for i in range(3)]
    assert codes == [200, 200, 429], codes  # 18 tokens, 36 tokens: spent
    everywhere("ModelRequestTPMLimitEnabled", "false")
    assert call(bases[0], key, model).status_code == 200


def test_success_and_token_limits_span_two_workers(tmp_path: Path):
    server = serve(tmp_path, 2)
    try:
        assert len(server.worker_pids()) == 2
        with contextlib.closing(Console(server.base)) as console:
            check_limits_span(console, [server.base])
    finally:
        server.stop()


@pytest.mark.postgres
@pytest.mark.redis
def test_success_and_token_limits_span_two_nodes(tmp_path: Path, pg_dsn: str, redis_url: str):
    # one SESSION_SECRET, as a real cluster has: the console's session is good on either node
    env = {"SQL_DSN": pg_dsn, "REDIS_CONN_STRING": redis_url, "SESSION_SECRET": uuid.uuid4().hex}
    nodes: list[Served] = []
    try:
        nodes.append(serve(tmp_path / "a", 2, **env))
        nodes.append(serve(tmp_path / "b", 2, **env))
        with contextlib.closing(Console(nodes[0].base)) as console:
            check_limits_span(console, [n.base for n in nodes])
    finally:
        for node in nodes:
            node.stop()


async def test_limit_options_are_checked_before_they_are_saved(sqlite_config):
    async with running(sqlite_config) as client:
        await as_root(client)

        async def put(key: str, value: str) -> dict:
            r = await client.put("/api/option/", json={"key": key, "value": value})
            assert r.status_code == 200, r.text
            return r.json()

        assert (await put("ModelRequestRateLimitGroup", '{"vip": [10, 20]}'))["success"]
        refusals = {
            "{vip: [1, 2]}": "must be valid JSON",
            "[1, 2]": "JSON object",
            '{"vip": [1]}': "vip",
            '{"vip": [1, 2, 3]}': "two whole numbers",
            '{"vip": ["1", 2]}': "two whole numbers",
            '{"vip": [1.5, 2]}': "two whole numbers",
            '{"vip": [true, 2]}': "two whole numbers",
            '{"vip": [-1, 2]}': "at least 0",
            '{"vip": [1, 0]}': "success count must be at least 1",
            '{"vip": [2147483648, 1]}': "at most 2147483647",
            '{"vip": {"total": 1}}': "two whole numbers",
        }
        for value, reason in refusals.items():
            body = await put("ModelRequestRateLimitGroup", value)
            assert body["success"] is False and reason in body["message"], (value, body)
        table = {o["key"]: o["value"] for o in (await client.get("/api/option/")).json()["data"]}
        assert json.loads(table["ModelRequestRateLimitGroup"]) == {"vip": [10, 20]}  # the refused ones were not saved

        assert (await put("ModelRequestTPMLimitGroup", '{"vip": 200000, "free": 0}'))["success"]
        for value in ('{"vip": -1}', '{"vip": 1.5}', '{"vip": "9"}', "[]", "{"):
            body = await put("ModelRequestTPMLimitGroup", value)
            assert body["success"] is False and "ModelRequestTPMLimitGroup" in body["message"], (value, body)
        for value in ("-1", "1.5", "lots"):
            assert (await put("ModelRequestTPMLimitTokens", value))["success"] is False
        assert (await put("ModelRequestTPMLimitTokens", "100000"))["success"]


def test_group_overrides_are_read_leniently():
    text = json.dumps({"vip": [10, 20], "bad": [1], "neg": [-1, 2], "text": ["1", 2], "flag": [True, 1]})
    assert parse_groups(text) == {"vip": (10, 20)}
    assert parse_groups("not json") == {} and parse_groups("") == {} and parse_groups("[1, 2]") == {}


def test_a_spent_token_budget_is_refused_in_each_dialects_own_shape(gw, up):  # noqa: F811
    model = unique("tpm")
    gw.channel(base_url=up.url, models=[model])
    gw.option(ModelRequestTPMLimitEnabled="true", ModelRequestTPMLimitTokens="10")  # one call (18 tokens) spends it
    uid = gw.user()
    openai_key, claude_key, gemini_key = gw.token(uid), gw.token(uid), gw.token(uid)

    def chat() -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        return httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {openai_key}"})

    assert chat().status_code == 200
    refused = chat()
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == "tpm_limit_exceeded"
    assert "at most 10 tokens per minute" in refused.json()["error"]["message"]

    def claude() -> httpx.Response:
        body = {"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
        headers = {"x-api-key": claude_key, "anthropic-version": "2023-06-01"}
        return httpx.post(f"{gw.url}/v1/messages", json=body, headers=headers)

    assert claude().status_code == 200
    refused = claude()
    assert refused.status_code == 429 and refused.json()["type"] == "error"
    assert (
        refused.json()["error"]["type"] == "rate_limit_error"
        and "tokens per minute" in refused.json()["error"]["message"]
    )

    def gemini() -> httpx.Response:
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        url = f"{gw.url}/v1beta/models/{model}:generateContent"
        return httpx.post(url, json=body, headers={"x-goog-api-key": gemini_key})

    assert gemini().status_code == 200
    refused = gemini()
    assert refused.status_code == 429 and refused.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert refused.json()["error"]["code"] == 429 and "tokens per minute" in refused.json()["error"]["message"]
    gw.option(ModelRequestTPMLimitEnabled="false")
    assert chat().status_code == 200
