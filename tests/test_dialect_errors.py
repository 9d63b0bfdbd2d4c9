"""Bad input in each dialect gets that dialect's own error shape and status, and no charge."""

from __future__ import annotations

import anthropic
import httpx
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as gtypes

from .gateway import gw, unique, up  # noqa: F401  (module fixtures)


@pytest.fixture
def served(gw, up):  # noqa: F811
    model = unique("fmt")
    gw.channel(base_url=up.url, models=[model])
    uid = gw.user()
    return model, gw.token(uid), uid


def test_claude_errors_are_anthropic_shaped(gw, served):  # noqa: F811
    model, key, uid = served
    url = f"{gw.url}/v1/messages"
    cases = [
        (b"{broken", 400, "invalid_request_error"),
        (b'{"model": "%s", "messages": []}' % model.encode(), 400, "invalid_request_error"),  # no max_tokens
        (b'{"model": "nope-model", "max_tokens": 5, "messages": []}', 404, "not_found_error"),
    ]
    for body, status, kind in cases:
        r = httpx.post(url, content=body, headers={"x-api-key": key, "anthropic-version": "2023-06-01"}, timeout=10)
        assert r.status_code == status, (body, r.text)
        data = r.json()
        assert data["type"] == "error" and data["error"]["type"] == kind and data["error"]["message"]
    r = httpx.post(
        url, json={"model": model, "max_tokens": 5, "messages": []}, headers={"x-api-key": "sk-bad"}, timeout=10
    )
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    client = anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(model=model, max_tokens=-1, messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(anthropic.AuthenticationError):
        anthropic.Anthropic(base_url=gw.url, api_key="sk-bad", max_retries=0).messages.create(
            model=model, max_tokens=5, messages=[{"role": "user", "content": "hi"}]
        )
    assert gw.logs(user_id=uid) == []


def test_gemini_errors_are_google_shaped(gw, served):  # noqa: F811
    model, key, uid = served
    base = f"{gw.url}/v1beta/models"
    r = httpx.post(f"{base}/{model}:generateContent", content=b"{broken", headers={"x-goog-api-key": key}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert r.json()["error"]["code"] == 400 and r.json()["error"]["message"]
    r = httpx.post(f"{base}/{model}:generateContent?key=bad", json={"contents": []}, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"
    r = httpx.post(
        f"{base}/nope-model:generateContent", json={"contents": []}, headers={"x-goog-api-key": key}, timeout=10
    )
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
    client = genai.Client(api_key=key, http_options=gtypes.HttpOptions(base_url=gw.url, api_version="v1beta"))
    with pytest.raises(genai_errors.ClientError) as err:
        client.models.generate_content(model="nope-model", contents="hi")
    assert err.value.code == 404
    assert gw.logs(user_id=uid) == []
