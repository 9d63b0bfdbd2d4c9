"""Bad input and API-key rules: clear OpenAI-style errors with the right status, never a charge."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from .gateway import Gateway, gw, unique, up  # noqa: F401  (module fixtures)
from .upstreams import FakeUpstream

MSG = [{"role": "user", "content": "hi"}]


@pytest.fixture
def ctx(gw: Gateway, up: FakeUpstream) -> tuple[str, str, int]:
    model = unique()
    gw.channel(base_url=up.url, models=[model])
    uid = gw.user()
    return model, gw.token(uid), uid


def post(gw: Gateway, key: str, content: bytes | str, path: str = "/chat/completions") -> httpx.Response:
    return httpx.post(
        f"{gw.base_url}{path}",
        content=content,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        timeout=10,
    )


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"", 400, "empty"),
        (b"[1, 2]", 400, "invalid request"),
        (b'{"messages": []}', 400, "model is required"),
        (b'{"model": "", "messages": []}', 400, "model is required"),
        (b'{"model": 42, "messages": []}', 400, "$.model"),
        (b'{"model": "MODEL", "stream": "yes"}', 400, "$.stream"),
        (b'{"model": "MODEL", "max_tokens": -5}', 400, "max_tokens"),
        (b'{"model": "MODEL", "max_tokens": "lots"}', 400, "$.max_tokens"),
        (b'{"model": "no-such-model-anywhere", "messages": []}', 404, "does not exist"),
    ],
)
def test_bad_bodies_get_openai_errors_and_no_charge(gw, ctx, body, status, fragment):
    model, key, uid = ctx
    r = post(gw, key, body.replace(b"MODEL", model.encode()))
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert fragment in error["message"] and "request id" in error["message"]
    assert set(error) == {"message", "type", "param", "code"}
    assert r.headers["x-oneapi-request-id"]
    assert gw.logs(user_id=uid) == [] and gw.user_row(uid)["used_quota"] == 0


def test_oversize_body_is_413(gw, ctx):
    model, key, uid = ctx
    huge = (
        b'{"model": "%s", "messages": [{"role": "user", "content": "' % model.encode()
        + b"x" * (129 * 1024 * 1024)
        + b'"}]}'
    )
    r = post(gw, key, huge)
    assert r.status_code == 413
    assert "error" in r.json()
    assert gw.logs(user_id=uid) == []


def test_sdk_wrong_types_are_bad_requests(gw, ctx):
    model, key, _ = ctx
    c = openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0)
    with pytest.raises(openai.BadRequestError, match=r"\$\.stream"):
        c.chat.completions.create(model=model, messages=MSG, extra_body={"stream": 1})


def chat(gw: Gateway, key: str, model: str) -> httpx.Response:
    return post(gw, key, f'{{"model": "{model}", "messages": [{{"role": "user", "content": "hi"}}]}}')


def test_key_formats_and_unknown_keys(gw, ctx):
    model, key, _ = ctx
    bare = key.removeprefix("sk-")
    assert chat(gw, bare, model).status_code == 200  # "sk-" is optional
    assert httpx.post(f"{gw.base_url}/chat/completions", json={"model": model}, timeout=5).status_code == 401
    r = chat(gw, "sk-" + "x" * 48, model)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


def test_token_states(gw, up):
    model = unique()
    gw.channel(base_url=up.url, models=[model])
    uid = gw.user()
    cases = {
        "token_disabled": gw.token(uid, status=2),
        "token_expired": gw.token(uid, expired_time=int(time.time()) - 10),
        "token_quota_exhausted": gw.token(uid, unlimited=False, remain_quota=0),
    }
    for code, key in cases.items():
        r = chat(gw, key, model)
        assert r.status_code == 401 and r.json()["error"]["code"] == code, (code, r.text)
    assert chat(gw, gw.token(uid, expired_time=int(time.time()) + 3600), model).status_code == 200


def test_ip_allow_list(gw, up):
    model = unique()
    gw.channel(base_url=up.url, models=[model])
    uid = gw.user()
    assert chat(gw, gw.token(uid, allow_ips="127.0.0.0/8"), model).status_code == 200
    r = chat(gw, gw.token(uid, allow_ips="10.0.0.0/8, 192.168.1.7"), model)
    assert r.status_code == 403 and r.json()["error"]["code"] == "ip_not_allowed"
    assert chat(gw, gw.token(uid, allow_ips="not-an-ip"), model).status_code == 403  # a typo opens nothing


def test_model_whitelist_group_and_owner(gw, up):
    model = unique()
    gw.channel(base_url=up.url, models=[model], group="vip")
    vip = gw.user(group="vip")
    assert chat(gw, gw.token(vip), model).status_code == 200
    assert chat(gw, gw.token(gw.user()), model).status_code == 404  # the default group has no channel for it
    assert chat(gw, gw.token(vip, model_limits=["other"]), model).status_code == 403
    r = chat(gw, gw.token(vip, group="gone"), model)
    assert r.status_code == 403 and r.json()["error"]["code"] == "group_deprecated"


def test_limited_token_and_wallet_holds(gw, up):
    model = unique()
    gw.channel(base_url=up.url, models=[model])
    poor = gw.user(quota=10)
    r = chat(gw, gw.token(poor), model)
    assert r.status_code == 403 and "user quota is not enough" in r.json()["error"]["message"]
    rich = gw.user()
    r = chat(gw, gw.token(rich, unlimited=False, remain_quota=10), model)
    assert r.status_code == 403 and "token quota is not enough" in r.json()["error"]["message"]
    assert gw.logs(user_id=poor) == [] and gw.logs(user_id=rich) == []


def test_engines_embeddings_path_and_wrong_method(gw, up):
    model = unique("emb")
    gw.channel(base_url=up.url, models=[model])
    key = gw.token(gw.user())
    r = httpx.post(
        f"{gw.base_url}/engines/{model}/embeddings", json={"input": "hi"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status_code == 200 and len(r.json()["data"]) == 1
    r = httpx.get(f"{gw.base_url}/chat/completions", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 405 and "not allowed" in r.json()["error"]["message"]


def test_holds_are_always_released(gw, up):
    model = unique()
    gw.channel(base_url=up.url, models=[model, f"{model}-fail-500", f"{model}-drop-after-2"])
    uid = gw.user(quota=1_000_000)  # below the trust line: every request takes a hold
    key = gw.token(uid, unlimited=False, remain_quota=900_000)
    c = openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0)
    ledger = gw.host.relay.ledger
    for name in (model, f"{model}-fail-500", f"{model}-drop-after-2"):
        for stream in (False, True):
            try:
                result = c.chat.completions.create(model=name, messages=MSG, stream=stream)
                if stream:
                    list(result)
            except openai.APIError:
                pass
    gw.flush()
    token = gw.token_row(key)
    assert ledger.open_holds() == []
    assert gw.user_row(uid)["quota"] == 1_000_000 - sum(r["quota"] for r in gw.logs(user_id=uid))
    # the live balances gave every hold back: they equal the written record
    assert gw.balance(f"u{uid}") == gw.user_row(uid)["quota"]
    assert (
        gw.balance(f"t{token['id']}")
        == token["remain_quota"]
        == 900_000 - sum(r["quota"] for r in gw.logs(user_id=uid))
    )


def test_every_relay_reply_carries_one_request_id_the_log_and_message_agree_on(gw, ctx):
    model, key, uid = ctx
    ok = post(gw, key, f'{{"model": "{model}", "messages": [{{"role": "user", "content": "hi"}}]}}')
    assert ok.status_code == 200, ok.text
    assert len(ok.headers.get_list("x-oneapi-request-id")) == 1
    request_id = ok.headers["x-oneapi-request-id"]
    assert len(request_id) == 26 and request_id[:14].isdigit()
    logged = gw.logs(user_id=uid)
    assert [row["request_id"] for row in logged] == [request_id]

    refused = post(gw, key, b"{not json")
    assert len(refused.headers.get_list("x-oneapi-request-id")) == 1
    assert f"(request id: {refused.headers['x-oneapi-request-id']})" in refused.json()["error"]["message"]
    wrong_method = httpx.get(f"{gw.base_url}/chat/completions", headers={"Authorization": f"Bearer {key}"})
    assert wrong_method.status_code == 405
    assert len(wrong_method.headers.get_list("x-oneapi-request-id")) == 1
    # Console and management routes get theirs from the middleware.
    assert len(httpx.get(f"{gw.url}/api/status").headers.get_list("x-oneapi-request-id")) == 1
