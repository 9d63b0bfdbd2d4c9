"""Playground page: its markup hooks, and the exact protocol playground.js speaks.

The end-to-end tests sign in over real HTTP as the page does, reveal a key through the API, and
send the same JSON body to ``/v1/chat/completions`` with ``Authorization: Bearer sk-<key>``; they
then read the SSE lines the way the script does (``data:`` lines, ``choices[0].delta.content``,
a usage chunk, ``[DONE]``; errors as ``{error: {message}}``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from newapi_host.auth.users import create_user
from newapi_host.config import Config
from newapi_host.web.i18n import TRANSLATIONS

from .conftest import as_root, login, running
from .gateway import Gateway, start_gateway, unique
from .upstreams import FakeUpstream, shared_fake_openai

EN, ZH = TRANSLATIONS["en"], TRANSLATIONS["zh"]
SCRIPT = Path(__file__).resolve().parent.parent / "newapi_host" / "web" / "static" / "playground.js"
PASSWORD = "password-123"  # what Gateway.user gives every user


@pytest.fixture(scope="module")
def up() -> FakeUpstream:
    return shared_fake_openai()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(tmp_path_factory.mktemp("playground"))
    yield gateway
    gateway.stop()


async def test_page_markup(sqlite_config: Config) -> None:
    async with running(sqlite_config) as client:
        await as_root(client)
        await create_user("alice", "alice-password-1")
        client.cookies.clear()
        await login(client, "alice", "alice-password-1")
        html = (await client.get("/console/playground")).text
        for hook in (
            'data-form="chat-settings"',
            '<select name="token"',
            '<select name="model"',
            '<textarea name="system"',
            'name="temperature" type="number"',
            'name="max_tokens" type="number"',
            '<input name="stream" type="checkbox" checked>',
            'data-form="chat"',
            '<textarea name="message"',
            'data-action="stop" disabled',
            'data-action="clear"',
            "data-transcript",
            "data-no-keys hidden",
            'href="/console/keys"',
        ):
            assert hook in html, hook
        assert EN["playground_send"] in html and EN["playground_stream"] in html
        client.cookies.set("lang", "zh")
        html = (await client.get("/console/playground")).text
        assert ZH["playground_send"] in html and ZH["playground_create_key"] in html


def test_script_speaks_the_relay_protocol() -> None:
    js = SCRIPT.read_text()
    for needle in (
        '"/api/token/?p=1&page_size=100"',
        '"/api/token/" + id + "/key"',
        '"/api/user/models"',
        'fetch("/v1/chat/completions"',
        '"Bearer sk-" + key',
        "stream_options = { include_usage: true }",
        "new AbortController()",
        "new TextDecoder()",
        "getReader()",
        'startsWith("data:")',
        '"[DONE]"',
        "event.choices[0].delta",
        "event.error",
        '"Enter" && !ev.shiftKey',
    ):
        assert needle in js, needle
    # The transcript is built with textContent only, and neither key nor transcript is stored.
    assert "innerHTML" not in js and "localStorage" not in js and "sessionStorage" not in js


@contextmanager
def signed_in(gw: Gateway) -> Iterator[httpx.Client]:
    """A new user signed in on the gateway the way the console is: session cookie + New-Api-User."""
    name = unique("pg")
    gw.user(name)
    with httpx.Client(base_url=gw.url, timeout=20) as client:
        r = client.post("/api/user/login", json={"username": name, "password": PASSWORD}).json()
        assert r["success"], r
        client.headers["New-Api-User"] = str(r["data"]["id"])
        yield client


def page_key(client: httpx.Client, **token: Any) -> str:
    """Create a key, then get it as the page does: the listed (masked) key, then the revealed one."""
    created = client.post("/api/token/", json={"name": "pg", "unlimited_quota": True, **token}).json()
    assert created["success"], created
    listed = client.get("/api/token/?p=1&page_size=100").json()["data"]["items"]
    (tok,) = [t for t in listed if t["id"] == created["data"]["id"]]
    assert "*" in tok["key"] and tok["status"] == 1
    key = client.post(f"/api/token/{tok['id']}/key").json()["data"]["key"]
    assert not key.startswith("sk-") and created["data"]["key"] == f"sk-{key}"
    return key


def body(model: str, stream: bool = True) -> dict[str, Any]:
    """What playground.js sends (a system prompt, the history, temperature and max tokens set)."""
    out: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}],
        "stream": stream,
        "temperature": 0.7,
        "max_tokens": 64,
    }
    if stream:
        out["stream_options"] = {"include_usage": True}
    return out


def relay(gw: Gateway, key: str, payload: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer sk-{key}", "Content-Type": "application/json"}
    headers["Accept"] = "text/event-stream" if payload["stream"] else "application/json"
    return httpx.post(f"{gw.base_url}/chat/completions", json=payload, headers=headers, timeout=20)


def read_sse(text: str) -> tuple[str, dict[str, Any] | None, str | None, bool]:
    """Parse an SSE body as playground.js does: (text, usage, error message, saw [DONE])."""
    reply, usage, error, done = "", None, None, False
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            break
        event = json.loads(data)
        if event.get("error"):
            error = event["error"]["message"]
            break
        usage = event.get("usage") or usage
        choices = event.get("choices") or []
        if choices and choices[0].get("delta", {}).get("content"):
            reply += choices[0]["delta"]["content"]
    return reply, usage, error, done


def test_stream_through_a_users_own_key(gw: Gateway, up: FakeUpstream) -> None:
    model = unique("gpt-4o-mini")
    gw.channel(base_url=up.url, models=[model])
    with signed_in(gw) as client:
        assert model in client.get("/api/user/models").json()["data"]
        key = page_key(client)
    r = relay(gw, key, body(model))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    reply, usage, error, done = read_sse(r.text)
    assert error is None and done
    assert reply == "".join(f"w{i} " for i in range(10))
    assert usage is not None and usage["prompt_tokens"] == 11 and usage["completion_tokens"] == 7
    sent = up.requests_for(model)[-1]["json"]
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["temperature"] == 0.7 and sent["max_tokens"] == 64 and sent["stream"] is True
    assert r.text.rstrip().endswith("data: [DONE]")


def test_non_stream_reply(gw: Gateway, up: FakeUpstream) -> None:
    model = unique("gpt-4o-mini")
    gw.channel(base_url=up.url, models=[model])
    with signed_in(gw) as client:
        key = page_key(client)
    r = relay(gw, key, body(model, stream=False))
    assert r.status_code == 200
    data = r.json()
    assert data["choices"][0]["message"]["content"] == f"Hello from {model}"
    assert data["usage"]["prompt_tokens"] == 11 and data["usage"]["completion_tokens"] == 7


def test_errors_reach_the_transcript_in_openai_shape(gw: Gateway, up: FakeUpstream) -> None:
    model = unique("gpt-4o-mini")
    gw.channel(base_url=up.url, models=[model], model_mapping={model: f"{model}-truncate-after-2"})
    with signed_in(gw) as client:
        key = page_key(client)
        limited = page_key(client, model_limits_enabled=True, model_limits=model)
        assert client.get("/api/token/?p=1&page_size=100").json()["data"]["items"][0]["model_limits"] == model

    # Before the stream starts: a non-2xx answer with {error: {message}}.
    r = relay(gw, key, body(unique("no-such-model")))
    assert r.status_code >= 400 and r.json()["error"]["message"]
    r = relay(gw, "not-a-real-key", body(model))
    assert r.status_code == 401 and r.json()["error"]["message"]

    # Mid-stream: the delivered text, then an error event and no [DONE].
    r = relay(gw, limited, body(model))
    assert r.status_code == 200
    reply, _, error, done = read_sse(r.text)
    assert reply == "w0 w1 " and error and re.search(r"request id", error) and not done
