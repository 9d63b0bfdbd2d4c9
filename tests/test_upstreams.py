"""The test upstreams behave as tests/upstreams.py documents, seen through the official openai SDK."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from llmock.scenarios import Match, StreamFault
from openai import OpenAI

from .upstreams import USAGE, FakeUpstream, fake_openai, start_fake_openai  # noqa: F401  (fixture)

KEY = "sk-upstream-test"


@pytest.fixture(scope="module")
def up() -> Iterator[FakeUpstream]:
    with start_fake_openai(models=["m-1", "m-2"]) as upstream:
        yield upstream


@pytest.fixture
def client(up: FakeUpstream) -> OpenAI:
    up.reset()
    return OpenAI(base_url=up.base_url, api_key=KEY, max_retries=0, timeout=5)


def stream_chat(client: OpenAI, model: str, **kwargs) -> list:
    return list(
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], stream=True, **kwargs)
    )


def raw_sse(up: FakeUpstream, path: str, body: dict) -> list[str]:
    """The data lines of an SSE response, read with plain httpx."""
    with httpx.stream("POST", up.base_url + path, json=body, timeout=5) as response:
        return [line[6:] for line in response.iter_lines() if line.startswith("data: ")]


def content(chunks: list) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# -- FakeUpstream: normal answers --------------------------------------------------------------


def test_chat_answer_and_journal(up: FakeUpstream, client: OpenAI) -> None:
    answer = client.chat.completions.create(model="m-1", messages=[{"role": "user", "content": "hi"}], temperature=0.2)
    assert answer.object == "chat.completion" and answer.id and answer.created
    assert answer.model == "m-1"
    assert answer.choices[0].message.content == "Hello from m-1"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.model_dump(include={"prompt_tokens", "completion_tokens", "total_tokens"}) == USAGE

    [request] = up.requests
    assert request["method"] == "POST" and request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == f"Bearer {KEY}"
    assert request["json"]["temperature"] == 0.2
    assert up.requests_for("m-1") == [request]
    up.reset()
    assert up.requests == []


def test_chat_stream_with_usage(client: OpenAI) -> None:
    chunks = stream_chat(client, "m-1", stream_options={"include_usage": True})
    assert chunks[0].choices[0].delta.role == "assistant"
    assert content(chunks) == "".join(f"w{i} " for i in range(10))
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 18
    assert all(c.usage is None for c in chunks[:-1])
    assert {c.model for c in chunks} == {"m-1"}


def test_chat_stream_without_usage(up: FakeUpstream, client: OpenAI) -> None:
    chunks = stream_chat(client, "m-1-chunks-3")
    assert content(chunks) == "w0 w1 w2 "
    assert all(c.choices and c.usage is None for c in chunks)
    lines = raw_sse(up, "/chat/completions", {"model": "m-1", "messages": [], "stream": True})
    assert lines[-1] == "[DONE]" and all("usage" not in line for line in lines)
    assert len(lines) == 1 + 10 + 1 + 1  # role, content, finish, [DONE]


def test_nousage(client: OpenAI) -> None:
    answer = client.chat.completions.create(model="m-nousage", messages=[{"role": "user", "content": "hi"}])
    assert answer.usage is None
    chunks = stream_chat(client, "m-nousage", stream_options={"include_usage": True})
    assert all(c.choices for c in chunks) and content(chunks)


def test_completions(client: OpenAI) -> None:
    answer = client.completions.create(model="m-1", prompt="hi")
    assert answer.object == "text_completion" and answer.choices[0].text == "Hello from m-1"
    assert answer.usage.total_tokens == 18
    chunks = list(
        client.completions.create(
            model="m-1-chunks-2", prompt="hi", stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "w0 w1 "
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.prompt_tokens == 11


def test_embeddings(up: FakeUpstream, client: OpenAI) -> None:
    default = client.embeddings.create(model="emb", input=["a", "b", "c"])  # the SDK asks for base64
    assert up.requests[-1]["json"]["encoding_format"] == "base64"
    floats = client.embeddings.create(model="emb", input="a", encoding_format="float")
    assert [len(d.embedding) for d in default.data] == [8, 8, 8]
    assert default.data[0].embedding == floats.data[0].embedding
    assert default.usage.prompt_tokens == 9 and floats.usage.prompt_tokens == 3


def test_moderations_and_models(client: OpenAI) -> None:
    result = client.moderations.create(model="omni-moderation-latest", input=["x", "y"])
    assert [r.flagged for r in result.results] == [False, False]
    assert result.results[0].categories.violence is False
    assert [m.id for m in client.models.list()] == ["m-1", "m-2"]


def test_responses(client: OpenAI) -> None:
    response = client.responses.create(model="m-1", input="hi")
    assert response.status == "completed" and response.output_text == "Hello from m-1"
    assert response.usage.total_tokens == 18

    events = list(client.responses.create(model="m-1-chunks-3", input="hi", stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert kinds.count("response.output_text.delta") == 3
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].response.output_text == "w0 w1 w2 " and events[-1].response.usage.output_tokens == 7

    with client.responses.stream(model="m-1", input="hi") as stream:  # the SDK's accumulating helper
        assert stream.get_final_response().output_text.startswith("w0 w1")


# -- FakeUpstream: faults ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_fail_marker(client: OpenAI, status: int, error: type[openai.APIStatusError]) -> None:
    with pytest.raises(error) as caught:
        client.chat.completions.create(model=f"x-fail-{status}", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == status
    assert caught.value.body["message"].startswith(f"Injected failure {status}")
    assert caught.value.response.headers.get("retry-after") == ("1" if status == 429 else None)
    with pytest.raises(error):  # also before a stream starts, and on other endpoints
        stream_chat(client, f"x-fail-{status}")
    with pytest.raises(error):
        client.embeddings.create(model=f"x-fail-{status}", input="a")


def test_unknown_path(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.images.generate(model="m-1", prompt="cat")


def test_drop_after(client: OpenAI) -> None:
    seen = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in client.chat.completions.create(
            model="m-drop-after-3", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            seen.append(chunk)
    assert content(seen) == "w0 w1 w2 "
    assert all(c.choices[0].finish_reason is None for c in seen)
    assert client.models.list().data  # the server survives the cut


def test_truncate_after(up: FakeUpstream, client: OpenAI) -> None:
    chunks = stream_chat(client, "m-truncate-after-3", stream_options={"include_usage": True})  # no error!
    assert content(chunks) == "w0 w1 w2 "
    assert all(c.choices[0].finish_reason is None and c.usage is None for c in chunks)
    lines = raw_sse(up, "/chat/completions", {"model": "m-truncate-after-3", "messages": [], "stream": True})
    assert len(lines) == 4 and "[DONE]" not in lines
    events = list(client.responses.create(model="m-truncate-after-1", input="hi", stream=True))
    assert "response.completed" not in [e.type for e in events]


def test_malformed_after(up: FakeUpstream, client: OpenAI) -> None:
    seen = []
    with pytest.raises(json.JSONDecodeError):  # the SDK lets the raw parse error out
        for chunk in client.chat.completions.create(
            model="m-malformed-after-2", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            seen.append(chunk)
    assert content(seen) == "w0 w1 "
    lines = raw_sse(up, "/chat/completions", {"model": "m-malformed-after-2", "messages": [], "stream": True})
    assert lines[3] == "{not json" and lines[-1] == "[DONE]" and len(lines) == 14  # carried on


def test_stall_after(up: FakeUpstream) -> None:
    impatient = OpenAI(base_url=up.base_url, api_key=KEY, max_retries=0, timeout=0.5)
    seen, started = [], time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        for chunk in impatient.chat.completions.create(
            model="m-stall-after-2", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            seen.append(chunk)
    assert content(seen) == "w0 w1 " and time.monotonic() - started < 3
    assert impatient.models.list().data


def test_slow(client: OpenAI) -> None:
    started = time.monotonic()
    client.chat.completions.create(model="m-slow-300", messages=[{"role": "user", "content": "hi"}])
    assert time.monotonic() - started >= 0.3


def test_is_fast(up: FakeUpstream, client: OpenAI) -> None:
    started = time.monotonic()
    for _ in range(100):
        stream_chat(client, "m-1", stream_options={"include_usage": True})
    assert time.monotonic() - started < 5
    assert len(up.requests) == 100


def test_shared_fixture(fake_openai: FakeUpstream) -> None:  # noqa: F811
    assert fake_openai.requests == []
    OpenAI(base_url=fake_openai.base_url, api_key=KEY, max_retries=0).models.list()
    assert fake_openai.requests[0]["path"] == "/v1/models" and fake_openai.requests[0]["json"] is None


# -- llmock ------------------------------------------------------------------------------------


@pytest.fixture
def mock_client(llmock) -> OpenAI:
    return OpenAI(base_url=llmock.base_url(), api_key=KEY, max_retries=0, timeout=5)


def test_llmock_chat(llmock, mock_client: OpenAI) -> None:
    assert llmock.base_url() == llmock.url + "/v1"
    llmock.reply("one two three")
    answer = mock_client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "one two three" and answer.usage.total_tokens > 0

    chunks = stream_chat(mock_client, "gpt-4o", stream_options={"include_usage": True})
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert all(c.usage is None for c in stream_chat(mock_client, "gpt-4o"))

    records = llmock.requests
    assert [r.stream for r in records] == [False, True, True]
    assert records[1].body["stream_options"] == {"include_usage": True}
    assert not hasattr(records[0], "headers")  # llmock does not journal headers (API keys)
    with pytest.raises(openai.NotFoundError):
        mock_client.completions.create(model="gpt-4o", prompt="hi")


def test_llmock_faults(llmock, mock_client: OpenAI) -> None:
    llmock.fail(503, model="gpt-4o").rate_limit(retry_after=0.5)
    with pytest.raises(openai.RateLimitError) as caught:  # rate_limit is not targeted: hits gpt-4o-mini
        mock_client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.response.headers["retry-after-ms"] == "500"
    with pytest.raises(openai.InternalServerError):
        mock_client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert mock_client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])

    # A stream fault aimed at one model; after_chunks counts the role chunk.
    llmock.reply("a b c d e", times=2)
    llmock.add(StreamFault("disconnect", after_chunks=3, match=Match(model="m-b", stream=True)))
    assert content(stream_chat(mock_client, "m-a")) == "a b c d e"
    seen = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in mock_client.chat.completions.create(
            model="m-b", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            seen.append(chunk)
    assert content(seen) == "a b "
    assert [r.fault for r in llmock.requests] == ["scenario:429", "scenario:503", None, None, "stream:disconnect@3"]
