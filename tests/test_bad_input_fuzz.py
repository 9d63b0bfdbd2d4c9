"""Bad input never gets a 5xx: every route of the app, anonymous and signed in, meets JSON nested
thousands deep and forged, tampered or garbage ``session`` cookies; the relay dialects meet
wrong-typed fields. Routes are read from the Litestar app, so new routes are covered on their own.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from .conftest import ROOT_PASSWORD
from .gateway import Gateway, start_gateway, unique
from .upstreams import shared_fake_openai

DEPTH = 5000
DEEP_BODIES = {
    "arrays": b"[" * DEPTH + b"]" * DEPTH,
    "objects": b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
    "in a field": b'{"model":"m","messages":[],"metadata":' + b"[" * DEPTH + b"]" * DEPTH + b"}",
}
SAMPLE_PARAMS = {"int": "999999", "str": "x", "path": "x"}  # ids nobody has: DELETE routes act on nothing
AAD = b"additional_authenticated_data="
NOT_UTF8 = b"\xff\xfe\x00"


@dataclass
class World:
    gw: Gateway
    client: httpx.Client
    root_id: int
    root_cookie: str
    model: str
    key: str  # an API key of a user whose holds are computed (wallet below the trust bypass)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    gw = start_gateway(tmp_path_factory.mktemp("fuzz"))
    gw.option(CriticalRateLimitCount="0")
    upstream = shared_fake_openai()
    model = unique("fuzz")
    gw.channel(base_url=upstream.url, models=[model])
    with httpx.Client(base_url=gw.url, timeout=30) as client:
        setup = {"username": "root", "password": ROOT_PASSWORD, "confirmPassword": ROOT_PASSWORD}
        r = client.post("/api/setup", json=setup | {"SelfUseModeEnabled": True})
        assert r.json()["success"], r.text
        gw.run(gw.host.options.load())
        gw.run(gw.host.relay.prices.areload())
        r = client.post("/api/user/login", json={"username": "root", "password": ROOT_PASSWORD})
        root_id, root_cookie = r.json()["data"]["id"], client.cookies["session"]
        client.cookies.clear()
        try:
            yield World(gw, client, root_id, root_cookie, model, payer(gw, quota=4_000_000))
        finally:
            gw.stop()


def payer(gw: Gateway, quota: int) -> str:
    """The API key of a user whose wallet is below the trust bypass, so every request takes a hold."""
    return gw.token(gw.user(quota=quota))


def concrete_routes(app: Any) -> Iterator[tuple[str, str]]:
    """(method, path) for every route of the app, path parameters filled with sample values."""
    for route in app.routes:
        path = re.sub(r"\{(\w+):(\w+)\}", lambda m: SAMPLE_PARAMS.get(m.group(2), "x"), route.path)
        methods = sorted(set(getattr(route, "methods", ()) or ()) - {"OPTIONS", "HEAD"}) or ["POST"]
        for method in methods:
            yield method, path


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def signed_in(world: World) -> dict[str, str]:
    """Headers of a fresh root session (routes such as logout end the previous one)."""
    r = world.client.post("/api/user/login", json={"username": "root", "password": ROOT_PASSWORD})
    cookie = world.client.cookies["session"]
    world.client.cookies.clear()
    assert r.json()["success"]
    return {"cookie": f"session={cookie}", "new-api-user": str(world.root_id)}


def relay_headers(world: World) -> dict[str, str]:
    return {"authorization": f"Bearer {world.key}", "x-api-key": world.key, "x-goog-api-key": world.key}


# -- deep JSON -------------------------------------------------------------------------------


def test_deep_json_on_every_route_is_never_a_5xx(world: World, caplog: pytest.LogCaptureFixture):
    routes = list(concrete_routes(world.gw.app))
    assert len(routes) > 100 and ("POST", "/v1/messages") in routes
    failures = []
    for method, path in routes:
        for who in ("anonymous", "signed in", "api key"):
            headers = {"content-type": "application/json"}
            if who == "signed in":
                headers |= signed_in(world)
            elif who == "api key":
                headers |= relay_headers(world)
            for name, body in DEEP_BODIES.items():
                r = world.client.request(method, path, content=body, headers=headers)
                if r.status_code >= 500:
                    failures.append(f"{method} {path} ({who}, {name}): {r.status_code} {r.text[:120]}")
    assert failures == [], "\n".join(failures)
    assert errors_logged(caplog) == []


def _nested_envelope(r: httpx.Response) -> bool:
    body = r.json()
    return body["success"] is False and "nested" in body["message"]


def test_deep_json_gets_a_400_in_each_routes_own_format(world: World):
    deep = DEEP_BODIES["in a field"]
    r = world.client.post("/api/user/login", content=deep)
    assert r.status_code == 400 and _nested_envelope(r), r.text
    r = world.client.post("/api/user/register", content=DEEP_BODIES["objects"])
    assert r.status_code == 400 and _nested_envelope(r), r.text

    headers = relay_headers(world)
    r = world.client.post("/v1/chat/completions", content=deep, headers=headers)
    assert r.status_code == 400 and "nested" in r.json()["error"]["message"], r.text
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    for path in ("/v1/messages", "/v1/messages/count_tokens"):
        r = world.client.post(path, content=deep, headers=headers)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
        assert "nested" in r.json()["error"]["message"]
    r = world.client.post(f"/v1beta/models/{world.model}:generateContent", content=deep, headers=headers)
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT", r.text

    # Ordinary nesting still works: a tool schema 40 levels deep reaches the upstream.
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(40):
        schema = {"type": "object", "properties": {"inner": schema}}
    body = {
        "model": world.model,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}],
    }
    r = world.client.post("/v1/chat/completions", json=body, headers=headers)
    assert r.status_code == 200, r.text


# -- crafted session cookies -----------------------------------------------------------------


def _crafted(payload: bytes) -> str:
    return base64.b64encode(b"n" * 12 + b"c" * 20 + AAD + payload).decode()


def forged_cookies(valid: str) -> dict[str, str]:
    """Cookie header values a client may send that the server never issued."""
    raw = base64.b64decode(valid)
    flipped = bytearray(raw)
    flipped[20] ^= 0x01
    aad_at = raw.find(AAD)
    later = raw[:aad_at] + AAD + json.dumps({"expires_at": int(time.time()) + 10**8}).encode()
    return {
        "garbage": "session=garbage",
        "empty": "session=",
        "null": "session=null",
        "bad base64": "session=%%%===",
        "random base64": f"session={base64.b64encode(b'x' * 300).decode()}",
        "no expires_at": f"session={_crafted(b'{}')}",
        "list aad": f"session={_crafted(b'[1, 2]')}",
        "string expires_at": f"session={_crafted(json.dumps({'expires_at': 'soon'}).encode())}",
        "null expires_at": f"session={_crafted(json.dumps({'expires_at': None}).encode())}",
        "aad not json": f"session={_crafted(b'{not json')}",
        "aad bytes": f"session={_crafted(NOT_UTF8)}",
        "deep aad": f"session={_crafted(b'[' * 3000 + b']' * 3000)}",
        "huge": "session=" + "A" * 8000,
        "tampered": f"session={base64.b64encode(bytes(flipped)).decode()}",
        "truncated": f"session={valid[: len(valid) // 2]}",
        "expiry extended": f"session={base64.b64encode(later).decode()}",
        "chunks": f"session-0=garbage; session-1={_crafted(b'{}')}",
        "valid plus chunk": f"session={valid}; session-1=garbage",
    }


def test_forged_session_cookies_on_every_route_are_never_a_5xx(world: World, caplog):
    """Every route gets every forged cookie; half of them come with root's New-Api-User header,
    which way round alternating from route to route (a forged cookie never reads as a session,
    so the header only changes which refusal answers)."""
    routes = list(concrete_routes(world.gw.app))
    cookies = forged_cookies(world.root_cookie)
    failures = []
    for n, (method, path) in enumerate(routes):
        for i, (name, cookie) in enumerate(cookies.items()):
            headers = {"cookie": cookie}
            who = "signed in" if (n + i) % 2 else "anonymous"
            if who == "signed in":
                headers["new-api-user"] = str(world.root_id)
            r = world.client.request(method, path, headers=headers)
            if r.status_code >= 500:
                failures.append(f"{method} {path} ({who}, {name}): {r.status_code} {r.text[:120]}")
    assert failures == [], "\n".join(failures)
    assert errors_logged(caplog) == []


def test_forged_cookies_read_as_signed_out(world: World):
    for name, cookie in forged_cookies(world.root_cookie).items():
        if name == "valid plus chunk":
            continue
        r = world.client.get("/api/user/self", headers={"cookie": cookie, "new-api-user": str(world.root_id)})
        assert r.status_code == 401, (name, r.text)
        assert r.json() == {"success": False, "message": "Unauthorized, not logged in and no access token provided"}


# -- wrong-typed fields in the relay dialects -------------------------------------------------

WRONG_VALUES: list[Any] = [7, -1, 2.5, "x", "", True, None, [], [7], ["x"], {}, {"x": 7}, 10**30]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every field path in a JSON value (object keys and list indexes), outermost first."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _with(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target: Any = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


def _claude_body(model: str) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 16,
        "system": [{"type": "text", "text": "be brief"}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
        ],
        "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object", "properties": {}}}],
        "tool_choice": {"type": "auto"},
        "stop_sequences": ["END"],
        "temperature": 0.5,
        "metadata": {"user_id": "u"},
    }


def _chat_body(model: str) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": "auto",
        "max_tokens": 16,
        "n": 1,
        "stream_options": {"include_usage": True},
        "temperature": 0.5,
        "stop": ["END"],
    }


def _gemini_body() -> dict[str, Any]:
    return {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"parts": [{"text": "be brief"}]},
        "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT"}}]}],
        "generationConfig": {"maxOutputTokens": 16, "temperature": 0.5, "candidateCount": 1},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    }


def _claude_error(r: httpx.Response) -> bool:
    body = r.json()
    return body.get("type") == "error" and isinstance(body["error"]["message"], str)


def _openai_error(r: httpx.Response) -> bool:
    return set(r.json()["error"]) == {"message", "type", "param", "code"}


def _gemini_error(r: httpx.Response) -> bool:
    error = r.json()["error"]
    return error["code"] == r.status_code and isinstance(error["status"], str)


def _dialect_cases(world: World) -> list[tuple[str, dict[str, Any], Any]]:
    m = world.model
    return [
        ("/v1/messages", _claude_body(m), _claude_error),
        ("/v1/messages/count_tokens", _claude_body(m), _claude_error),
        ("/v1/chat/completions", _chat_body(m), _openai_error),
        (f"/v1beta/models/{m}:generateContent", _gemini_body(), _gemini_error),
    ]


def test_wrong_typed_fields_get_dialect_errors_never_a_5xx(world: World, caplog):
    headers = relay_headers(world)
    failures = []
    for path, base, shaped in _dialect_cases(world):
        r = world.client.post(path, json=base, headers=headers)
        assert r.status_code == 200, (path, r.text)  # the unchanged body is served
        for field_path in _paths(base):
            for value in WRONG_VALUES:
                r = world.client.post(path, json=_with(base, field_path, value), headers=headers)
                where = f"{path} {'.'.join(map(str, field_path))}={value!r}"
                if r.status_code >= 500:
                    failures.append(f"{where}: {r.status_code} {r.text[:150]}")
                elif r.status_code >= 400 and not shaped(r):
                    failures.append(f"{where}: not the dialect's error shape: {r.text[:150]}")
    assert failures == [], "\n".join(failures)
    assert errors_logged(caplog) == []


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
@pytest.mark.parametrize(
    ("field", "value"),
    [("messages", 7), ("tools", 5), ("system", 3), ("messages", [7]), ("messages", [{"content": 7}]), ("tools", [7])],
)
def test_claude_wrong_types_are_invalid_request_errors(world: World, path, field, value):
    body = _with(_claude_body(world.model), (field,), value)
    r = world.client.post(path, json=body, headers=relay_headers(world))
    assert r.status_code == 400, r.text
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "invalid_request_error"
    assert f"$.{field}" in r.json()["error"]["message"]


# -- n ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "fragment"),
    [(1_000_000_000, "n must be"), (129, "n must be"), (0, "n must be"), (-3, "n must be"), ("2", "$.n")],
)
def test_n_out_of_bounds_is_refused_in_openai_format(world: World, n, fragment):
    body = {"model": world.model, "messages": [{"role": "user", "content": "hi"}], "n": n}
    r = world.client.post("/v1/chat/completions", json=body, headers=relay_headers(world))
    assert r.status_code == 400, r.text
    assert fragment in r.json()["error"]["message"] and _openai_error(r)
    r = world.client.post(
        "/v1/completions", json={"model": world.model, "prompt": "hi", "n": n}, headers=relay_headers(world)
    )
    assert r.status_code == 400 and fragment in r.json()["error"]["message"], r.text


def test_candidate_count_out_of_bounds_is_refused_in_gemini_format(world: World):
    body = _gemini_body()
    body["generationConfig"]["candidateCount"] = 1_000_000
    r = world.client.post(f"/v1beta/models/{world.model}:generateContent", json=body, headers=relay_headers(world))
    assert r.status_code == 400 and "candidateCount" in r.json()["error"]["message"], r.text
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_the_hold_covers_every_choice(world: World):
    """Holds are (prompt + max_tokens x n) x ratio: with 10,000 max tokens at self-use ratio 37.5, a
    wallet of 1,000,000 covers one answer (393,750) but not four (1,518,750)."""
    key = payer(world.gw, quota=1_000_000)
    headers = {"authorization": f"Bearer {key}"}
    body = {"model": world.model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10_000}
    r = world.client.post("/v1/chat/completions", json=body | {"n": 1}, headers=headers)
    assert r.status_code == 200, r.text
    r = world.client.post("/v1/chat/completions", json=body | {"n": 4}, headers=headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "insufficient_user_quota", r.text
    gemini = _gemini_body()
    gemini["generationConfig"] |= {"maxOutputTokens": 10_000, "candidateCount": 4}
    r = world.client.post(f"/v1beta/models/{world.model}:generateContent", json=gemini, headers=headers)
    assert r.status_code == 403, r.text
