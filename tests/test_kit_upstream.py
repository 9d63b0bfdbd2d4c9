"""The kit's mock upstream and its fixtures, used the way a plugin author uses them."""

from __future__ import annotations

import base64
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest

from newapi_host.sdk.testing import KIT_TEXT, ConformanceSetup, MockUpstream, Recorded, Reply, Stream
from newapi_host.sdk.testing.live_checks import parse_sse
from newapi_host.sdk.testing.samples import event


@pytest.fixture(scope="module")
def upstream():
    with MockUpstream(models=("m-1", "m-2")) as server:
        yield server


@pytest.fixture
def http(upstream):
    upstream.reset()
    with httpx.Client(base_url=upstream.url, timeout=10) as client:
        yield client


def test_openai_chat_with_and_without_stream_usage(http, upstream):
    answer = http.post("/v1/chat/completions", json={"model": "m-1", "messages": []}).json()
    assert answer["choices"][0]["message"]["content"] == KIT_TEXT
    assert answer["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    plain = parse_sse(http.post("/v1/chat/completions", json={"model": "m-1", "stream": True}).text)
    assert plain[-1].data == "[DONE]" and '"usage"' not in "".join(e.data for e in plain)
    asked = {"model": "m-1", "stream": True, "stream_options": {"include_usage": True}}
    events = parse_sse(http.post("/v1/chat/completions", json=asked).text)
    assert '"completion_tokens":7' in events[-2].data and events[-1].data == "[DONE]"
    assert [r.json["stream"] for r in upstream.requests_for("m-1")[1:]] == [True, True]


def test_the_openai_sdk_reads_embeddings_in_base64(upstream):
    client = openai.OpenAI(base_url=upstream.base_url, api_key="k", max_retries=0)
    answer = client.embeddings.create(model="m-1", input=["a", "b"])
    assert len(answer.data) == 2 and answer.data[0].embedding[0] == 0.125
    assert upstream.requests[-1].json["encoding_format"] == "base64"


def test_anthropic_messages_stream_reports_usage_in_its_own_events(http):
    events = parse_sse(http.post("/v1/messages", json={"model": "c-1", "stream": True, "max_tokens": 5}).text)
    assert [e.event for e in events][:2] == ["message_start", "content_block_start"]
    assert events[-1].event == "message_stop" and '"output_tokens":7' in events[-2].data


def test_gemini_answers_by_action_and_streams_with_or_without_sse(http):
    answer = http.post("/v1beta/models/g-1:generateContent", json={"contents": []}).json()
    assert answer["usageMetadata"]["promptTokenCount"] == 11
    sse = parse_sse(http.post("/v1beta/models/g-1:streamGenerateContent?alt=sse", json={}).text)
    array = http.post("/v1beta/models/g-1:streamGenerateContent", json={}).json()
    assert len(sse) == len(array) == 4 and array[-1]["candidates"][0]["finishReason"] == "STOP"
    batch = http.post("/v1/models/e-1:batchEmbedContents", json={"requests": [{}, {}]}).json()
    assert len(batch["embeddings"]) == 2


def test_azure_deployments_take_the_model_from_the_path(http, upstream):
    answer = http.post(
        "/openai/deployments/dep-1/embeddings?api-version=x", json={"input": "a", "encoding_format": "base64"}
    )
    vector = struct.unpack("<8f", base64.b64decode(answer.json()["data"][0]["embedding"]))
    assert vector[-1] == 1.0
    assert upstream.requests[-1].model == "dep-1" and upstream.requests[-1].query == {"api-version": "x"}


@pytest.mark.parametrize(
    ("headers", "params", "shape"),
    [({}, {}, "data"), ({"anthropic-version": "2023-06-01"}, {}, "has_more"), ({}, {"key": "k"}, "models")],
)
def test_model_lists_in_each_providers_shape(http, headers, params, shape):
    assert shape in http.get("/v1/models", headers=headers, params=params).json()
    assert [m["name"] for m in http.get("/v1beta/models").json()["models"]] == ["models/m-1", "models/m-2"]


@pytest.mark.parametrize(
    ("path", "body", "error"),
    [
        ("/v1/chat/completions", {"model": "x-fail-401"}, ["error", "type"]),
        ("/v1/messages", {"model": "x-fail-401"}, ["type"]),
        ("/v1beta/models/x-fail-401:generateContent", {}, ["error", "status"]),
    ],
)
def test_failure_markers_answer_in_the_routes_own_error_shape(http, path, body, error):
    answer = http.post(path, json=body)
    assert answer.status_code == 401
    value = answer.json()
    for key in error:
        value = value[key]
    assert value in ("authentication_error", "error", "UNAUTHENTICATED")


def test_rate_limits_say_when_to_retry_and_nousage_drops_usage(http):
    assert http.post("/v1/chat/completions", json={"model": "x-fail-429"}).headers["retry-after"] == "1"
    assert "usage" not in http.post("/v1/chat/completions", json={"model": "x-nousage"}).json()


def test_a_stream_can_be_cut(http):
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/v1/messages", json={"model": "x-drop-after-2", "stream": True})


def test_a_plugin_adds_its_own_endpoints(http, upstream):
    def chat(request: Recorded) -> object:
        if request.json.get("stream"):
            return Stream([event({"type": "message-end", "model": request.model})])
        if request.params["version"] != "v2":
            return Reply(400, json={"message": "v2 only"})
        return {"text": KIT_TEXT, "seen": request.headers["x-client"]}

    upstream.route("POST", "/{version}/chat", chat, error=lambda status, message: {"message": message})
    assert http.post("/v2/chat", json={"model": "co-1"}, headers={"x-client": "kit"}).json()["seen"] == "kit"
    assert http.post("/v3/chat", json={"model": "co-1"}).status_code == 400
    assert '"message-end"' in http.post("/v2/chat", json={"model": "co-1", "stream": True}).text
    failed = http.post("/v2/chat", json={"model": "co-fail-503"})
    assert failed.status_code == 503 and "injected failure 503" in failed.json()["message"]
    assert http.post("/v2/unknown", json={}).status_code == 404


AUTHOR_TEST = """
import openai
from newapi_host.sdk.testing import KIT_TEXT


def test_the_fixtures_give_a_channel_a_key_and_the_upstream(
    newapi_gateway, newapi_channel, newapi_key, newapi_upstream
):
    newapi_channel(1, models=["kit-fixture-model"])
    client = openai.OpenAI(base_url=newapi_gateway.base_url, api_key=newapi_key, max_retries=0)
    answer = client.chat.completions.create(model="kit-fixture-model", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == KIT_TEXT
    assert newapi_upstream.requests_for("kit-fixture-model")[-1].headers["authorization"] == "Bearer sk-kit"
    assert newapi_gateway.logs(model_name="kit-fixture-model")[-1]["quota"] == 18  # ratio 1: unpriced model


def test_the_root_fixture_is_signed_in(newapi_root):
    assert newapi_root.get("/api/user/self").json()["data"]["username"] == "root"
"""


def test_the_fixtures_in_an_authors_own_test_run(tmp_path):
    """The pytest plugin as an author meets it: a test file outside this repository, its own session.

    (A session-scoped gateway kept alive here would share Piccolo's process-wide engine with the
    tests that switch it to PostgreSQL later in this session.)
    """
    (tmp_path / "test_author.py").write_text(AUTHOR_TEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWAPI_") and k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_author.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout


def test_the_guides_set_up_example_works():
    """docs/plugin-testing.md's NEWAPI_CONFORMANCE example, run as written."""
    guide = (Path(__file__).parents[1] / "docs" / "plugin-testing.md").read_text()
    code = re.search(r"<!-- kit-example:start -->\n```python\n(.*?)```\n<!-- kit-example:end -->", guide, re.S)
    assert code, "the example markers are missing from docs/plugin-testing.md"
    example: dict = {}
    exec(compile(code.group(1), "plugin-testing.md", "exec"), example)
    with MockUpstream() as upstream, httpx.Client(base_url=upstream.url, timeout=10) as http:
        kit = ConformanceSetup("acme", upstream)
        example["setup"](kit)
        sample = kit.samples["acme.chat"]
        assert sample.path_for("a-1", True) == "/acme/v2/chat" and sample.max_tokens == 64
        assert http.post("/v2/chat", json=sample.request("a-1", False)).json() == sample.response("a-1")
        events = parse_sse(http.post("/v2/chat", json=sample.request("a-1", True)).text)
        assert [e.data for e in events] == [e.data for e in sample.stream("a-1")]
        failed = http.post("/v2/chat", json={"model": "acme-1-fail-429"})
        assert failed.status_code == 429 and "injected failure" in failed.json()["message"]
