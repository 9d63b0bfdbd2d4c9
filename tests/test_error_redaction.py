"""Upstream error text never hands a channel's key to anyone but root.

The upstream here echoes whatever credentials it was sent in its error messages, as OpenAI does
("Incorrect API key provided: sk-..."). A common user calls every client format against it:
OpenAI chat (plain and streamed), Anthropic messages (converted and native), Gemini (native,
streamed, and converted from chat); none of the answers, nor the log rows the user or an admin
reads afterwards, nor the reason a channel was disabled for, may carry a key. Root, who may read
keys anyway, still gets the upstream's own words from the channel test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from newapi_host.relay.redaction import redact, secrets_of, status_error

from .conftest import LOCAL_UPSTREAMS
from .gateway import Gateway, start_gateway
from .sinks import Arrived, Sink

OPENAI_KEY = "sk-proj-echoed-openai-secret-0001"
MULTI_KEYS = ("sk-multi-echoed-secret-aaaa", "sk-multi-echoed-secret-bbbb")
CLAUDE_KEY = "sk-ant-api03-echoed-claude-secret-0002"
GEMINI_KEY = "AIzaSyEchoedGeminiSecret000000000000003"
ODD_KEY = "odd-shaped-credential-4444"  # not shaped like any known key: only the channel knows it
SECRETS = (OPENAI_KEY, *MULTI_KEYS, CLAUDE_KEY, GEMINI_KEY, ODD_KEY, "hunter2")


def echo(req: Arrived) -> tuple[int, str, bytes]:
    """Answer with an error quoting the credentials received, in the caller's upstream dialect."""
    sent = " ".join(req.headers.get(h, "") for h in ("authorization", "x-api-key", "x-goog-api-key", "api-key"))
    body = json.loads(req.body or b"{}")
    if "generateContent" in req.target:
        error = {"code": 400, "message": f"API key not valid: {sent.strip()}", "status": "INVALID_ARGUMENT"}
        return 400, "application/json", json.dumps({"error": error}).encode()
    if req.target.endswith("/v1/messages"):
        error = {"type": "authentication_error", "message": f"invalid x-api-key: {sent.strip()}"}
        return 401, "application/json", json.dumps({"type": "error", "error": error}).encode()
    if body.get("model") == "m-plain":
        text = f"gateway error for {sent.strip()} via proxy http://admin:hunter2@10.1.2.3:3128"
        return 502, "text/plain", text.encode()
    if body.get("model") == "m-midstream":
        error = {"error": {"message": f"Incorrect API key provided: {sent.strip()}", "type": "invalid_request_error"}}
        chunk = {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [{"index": 0, "delta": {}}]}
        events = f"data: {json.dumps(chunk)}\n\ndata: {json.dumps(error)}\n\n"
        return 200, "text/event-stream", events.encode()
    error = {"message": f"Incorrect API key provided: {sent.strip()}", "type": "invalid_request_error"}
    return 401, "application/json", json.dumps({"error": {**error, "code": "invalid_api_key"}}).encode()


@pytest.fixture(scope="module")
def upstream() -> Iterator[Sink]:
    with Sink(echo) as sink:
        yield sink


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, upstream: Sink) -> Iterator[Gateway]:
    gateway = start_gateway(tmp_path_factory.mktemp("redact"), error_log_enabled=True)
    gateway.option(RetryTimes="0", **LOCAL_UPSTREAMS)  # root's choice here: admin tools may reach it
    url = upstream.url
    gateway.channel(base_url=url, models=["m-openai", "m-plain", "m-midstream"], key=OPENAI_KEY, name="openai")
    gateway.channel(
        base_url=url,
        models=["m-multi"],
        key="\n".join(MULTI_KEYS),
        channel_info={"is_multi_key": True, "multi_key_size": 2, "multi_key_mode": "polling"},
    )
    gateway.channel(base_url=url, models=["m-claude"], key=CLAUDE_KEY, type=14, name="claude")
    gateway.channel(base_url=url, models=["m-gemini"], key=GEMINI_KEY, type=24, name="gemini")
    gateway.channel(base_url=url, models=["m-odd"], key=ODD_KEY, name="odd")
    yield gateway
    gateway.stop()


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{secret} leaked in: {text[:500]}"


def test_common_users_never_see_a_key_in_upstream_errors(gw: Gateway, upstream: Sink) -> None:
    user = gw.user(username="alice")
    key = gw.token(user)
    http = httpx.Client(base_url=gw.url, timeout=30)
    chat = {"messages": [{"role": "user", "content": "hi"}]}
    messages = {"max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    gemini = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    bearer = {"Authorization": f"Bearer {key}"}
    anthropic = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    calls = [
        ("/v1/chat/completions", bearer, {"model": "m-openai", **chat}),
        ("/v1/chat/completions", bearer, {"model": "m-openai", "stream": True, **chat}),
        ("/v1/chat/completions", bearer, {"model": "m-multi", **chat}),
        ("/v1/chat/completions", bearer, {"model": "m-multi", **chat}),
        ("/v1/chat/completions", bearer, {"model": "m-odd", **chat}),
        ("/v1/chat/completions", bearer, {"model": "m-plain", **chat}),
        ("/v1/chat/completions", bearer, {"model": "m-midstream", "stream": True, **chat}),
        ("/v1/chat/completions", bearer, {"model": "m-gemini", **chat}),
        ("/v1/chat/completions", bearer, {"model": "m-claude", "stream": True, **chat}),
        ("/v1/messages", anthropic, {"model": "m-openai", **messages}),
        ("/v1/messages", anthropic, {"model": "m-claude", **messages}),
        ("/v1/messages", anthropic, {"model": "m-claude", "stream": True, **messages}),
        ("/v1beta/models/m-gemini:generateContent", {"x-goog-api-key": key}, gemini),
        ("/v1beta/models/m-gemini:streamGenerateContent?alt=sse", {"x-goog-api-key": key}, gemini),
    ]
    for path, headers, body in calls:
        r = http.post(path, headers=headers, json=body)
        assert_clean(r.text)
        if "midstream" not in str(body):
            assert r.status_code >= 400, (path, r.status_code, r.text[:300])
        assert "***" in r.text, (path, r.text[:300])  # the upstream's words are kept, the key masked
    # every credential the echoing upstream saw really was a channel key
    assert all(upstream.saw(s) for s in (OPENAI_KEY, *MULTI_KEYS, CLAUDE_KEY, GEMINI_KEY, ODD_KEY))

    # the error log rows: the user's own view and an admin's
    gw.flush()
    own = gw.session("alice").get("/api/log/self?type=5&page_size=100").json()
    assert own["success"] and len(own["data"]["items"]) >= 10, own
    assert_clean(json.dumps(own))
    admin = gw.session("admin-logs", role=10)
    every = admin.get("/api/log/?type=5&page_size=100").json()
    assert every["success"] and len(every["data"]["items"]) >= 10
    assert_clean(json.dumps(every))


def test_disable_reasons_and_channel_tests_are_redacted_for_admins_not_root(gw: Gateway, upstream: Sink) -> None:
    gw.option(AutomaticDisableChannelEnabled="true", AutomaticDisableChannelErrorThreshold="1")
    try:
        cid = gw.channel(base_url=upstream.url, models=["m-doomed"], key=OPENAI_KEY)
        key = gw.token(gw.user())
        r = httpx.post(
            f"{gw.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": "m-doomed", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert r.status_code == 401
        row = gw.channel_row(cid)
        assert row["status"] == 3 and "Incorrect API key" in row["other_info"]
        admin = gw.session("admin-channels", role=10)
        listed = admin.get("/api/channel/?page_size=100").text
        assert "Incorrect API key" in listed
        assert_clean(listed)

        # the channel test: an admin reads the upstream's words without the key, root reads them whole
        r = admin.get(f"/api/channel/test/{cid}").json()
        assert r["success"] is False and "401" in r["message"] and "Incorrect API key" in r["message"]
        assert_clean(r["message"])
        r = admin.get("/api/channel/test").json()
        assert r["success"]
        assert_clean(json.dumps(r))
        assert_clean(gw.channel_row(cid)["other_info"] or "")
        root = gw.session("root-like", role=100)
        r = root.get(f"/api/channel/test/{cid}").json()
        assert r["success"] is False and OPENAI_KEY in r["message"]
    finally:
        gw.option(AutomaticDisableChannelEnabled="false")


def test_redaction_masks_channel_keys_and_anything_shaped_like_a_credential() -> None:
    text = (
        "key odd-shaped-credential-4444 via Authorization: Bearer eyJhbGciOi.abc_DEF-123 "
        "or sk-proj-AbCdEf012345 or AIzaSyA-0123456789abcdefghijklmnopq at "
        "https://gw.example/v1beta/models?key=zzzzzzzz&alt=sse through socks5://bob:s3cr3t@10.0.0.1:1080 "
        "(aws AKIAIOSFODNN7EXAMPLE|wJalrXUtnFEMIbPxRfiCYEXAMPLEKEY|us-east-1)"
    )
    masked = redact(text, [ODD_KEY, "AKIAIOSFODNN7EXAMPLE|wJalrXUtnFEMIbPxRfiCYEXAMPLEKEY|us-east-1", "k1"])
    for secret in (ODD_KEY, "eyJhbGciOi", "AbCdEf012345", "0123456789abcdefghij", "zzzzzzzz", "s3cr3t", "bob:"):
        assert secret not in masked, (secret, masked)
    assert "AKIAIOSFODNN7EXAMPLE" not in masked and "wJalrXUtnFEMIbPxRfiCYEXAMPLEKEY" not in masked
    assert "Bearer ***" in masked and "?key=***&alt=sse" in masked and "socks5://***@10.0.0.1:1080" in masked
    assert "k1" not in secrets_of(["k1"])  # too short to mask without masking ordinary words
    assert redact("task-manager and disk-usage-report stay as they are") == (
        "task-manager and disk-usage-report stay as they are"
    )
    assert status_error(404, b"<html>internal admin page</html>") == "status 404"
    assert status_error(401, b'{"error": {"message": "bad key sk-proj-AbCdEf012345"}}') == "status 401: bad key sk-***"
