"""Error logs (type 5, New API's ERROR_LOG_ENABLED): a failed relay request leaves a row, free of charge."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from newapi_host.db.tables import LOG_ERROR

from .gateway import Gateway, gw, start_gateway, unique, up  # noqa: F401  (module fixtures)
from .upstreams import FakeUpstream


@pytest.fixture(scope="module")
def logging_gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gateway = start_gateway(tmp_path_factory.mktemp("errlog"), error_log_enabled=True)
    yield gateway
    gateway.stop()


def chat(gw: Gateway, key: str, model: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return httpx.post(f"{gw.base_url}/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"})


def test_upstream_failure_after_retries_is_logged_without_charge(logging_gw: Gateway, up: FakeUpstream) -> None:
    gw = logging_gw
    model = unique("errlog")
    first = gw.channel(base_url=up.url, models=[model], model_mapping={model: f"{model}-fail-500"})
    second = gw.channel(base_url=up.url, models=[model], model_mapping={model: f"{model}-fail-502"})
    gw.option(RetryTimes=1)
    user = gw.user()
    key = gw.token(user)
    before = gw.user_row(user)

    r = chat(gw, key, model)
    assert r.status_code >= 500
    rows = gw.logs(user_id=user)
    errors = [row for row in rows if row["type"] == LOG_ERROR]
    assert [row["type"] for row in rows] == [LOG_ERROR]
    row = errors[0]
    assert row["model_name"] == model and row["quota"] == 0 and row["token_name"] == gw.token_row(key)["name"]
    assert row["request_id"] == r.headers["x-oneapi-request-id"]
    other = json.loads(row["other"])
    assert other["status_code"] == r.status_code
    assert sorted(other["admin_info"]["use_channel"]) == sorted([str(first), str(second)])
    assert row["channel_id"] in (first, second)
    after = gw.user_row(user)
    assert (after["quota"], after["used_quota"], after["request_count"]) == (
        before["quota"],
        before["used_quota"],
        before["request_count"],
    )
    gw.option(RetryTimes=0)


def test_unknown_model_is_logged_but_quota_refusals_are_not(logging_gw: Gateway) -> None:
    gw = logging_gw
    user = gw.user()
    key = gw.token(user)
    r = chat(gw, key, "no-such-model-anywhere")
    assert r.status_code == 404
    (row,) = gw.logs(user_id=user)
    assert row["type"] == LOG_ERROR and row["channel_id"] == 0 and "no-such-model-anywhere" in row["content"]

    # "quota is not enough" is a refusal, not a failure: no row.
    poor = gw.user(quota=0)
    model = unique("errlog-poor")
    gw.channel(base_url="http://127.0.0.1:9", models=[model])
    r = chat(gw, gw.token(poor), model)
    assert r.status_code == 403 and "quota" in r.text
    assert gw.logs(user_id=poor) == []


def test_off_by_default(gw: Gateway, up: FakeUpstream) -> None:
    model = unique("nolog")
    gw.channel(base_url=up.url, models=[model], model_mapping={model: f"{model}-fail-500"})
    user = gw.user()
    r = chat(gw, gw.token(user), model)
    assert r.status_code >= 500
    assert gw.logs(user_id=user) == []
    r = chat(gw, gw.token(user), "no-such-model-anywhere")
    assert r.status_code == 404
    assert gw.logs(user_id=user) == []
