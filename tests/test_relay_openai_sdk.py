"""The official ``openai`` SDK against the gateway, against a real upstream process."""

from __future__ import annotations

import openai
import pytest

from .gateway import Gateway, gw, unique, up  # noqa: F401  (module fixtures)
from .upstreams import FakeUpstream


@pytest.fixture
def client(gw: Gateway, up: FakeUpstream) -> tuple[openai.OpenAI, str]:
    model = unique("gpt-4o-mini")
    gw.channel(base_url=up.url, models=[model], key="sk-upstream-1")
    key = gw.token(gw.user())
    return openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0), model


def test_chat_non_stream(client, up, gw):
    c, model = client
    r = c.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == f"Hello from {model}"
    assert r.usage.total_tokens == 18
    sent = up.requests_for(model)[-1]
    assert sent["headers"]["authorization"] == "Bearer sk-upstream-1"
    assert sent["json"]["messages"] == [{"role": "user", "content": "hi"}]
    raw = c.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert raw.headers["x-oneapi-request-id"]


def test_chat_stream_without_usage_request_hides_the_injected_usage(client, up, gw):
    c, model = client
    chunks = list(c.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}], stream=True))
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == "".join(
        f"w{i} " for i in range(10)
    )
    assert all(ch.usage is None for ch in chunks)  # the client did not ask for it
    assert up.requests_for(model)[-1]["json"]["stream_options"] == {"include_usage": True}  # we did
    log = gw.logs(model_name=model)[-1]
    assert (log["prompt_tokens"], log["completion_tokens"], log["is_stream"]) == (11, 7, True)


def test_chat_stream_with_usage(client):
    c, model = client
    chunks = list(
        c.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage.total_tokens == 18


def test_completions_embeddings_moderations_responses(gw, up):
    models = {name: unique(name) for name in ("text", "text-embedding", "omni-moderation", "gpt-5-resp")}
    gw.channel(base_url=up.url, models=list(models.values()))
    c = openai.OpenAI(base_url=gw.base_url, api_key=gw.token(gw.user()), max_retries=0)
    completion = c.completions.create(model=models["text"], prompt="say hi")
    assert completion.choices[0].text
    streamed = list(c.completions.create(model=models["text"], prompt="say hi", stream=True))
    assert "".join(ch.choices[0].text for ch in streamed if ch.choices)
    emb = c.embeddings.create(model=models["text-embedding"], input=["a", "b"])
    assert len(emb.data) == 2 and len(emb.data[0].embedding) == 8
    mod = c.moderations.create(model=models["omni-moderation"], input="hello")
    assert mod.results[0].flagged is False
    resp = c.responses.create(model=models["gpt-5-resp"], input="hi")
    assert resp.output_text == f"Hello from {models['gpt-5-resp']}"
    events = list(c.responses.create(model=models["gpt-5-resp"], input="hi", stream=True))
    assert events[-1].type == "response.completed"
    logs = gw.logs()
    by_model = {m: [r for r in logs if r["model_name"] == m] for m in models.values()}
    assert all(rows and all(r["quota"] > 0 for r in rows) for rows in by_model.values()), by_model


def test_models_lists_what_the_key_may_use(gw, up):
    allowed, other = unique("a"), unique("b")
    gw.channel(base_url=up.url, models=[allowed, other])
    c = openai.OpenAI(base_url=gw.base_url, api_key=gw.token(gw.user(), model_limits=[allowed]), max_retries=0)
    ids = [m.id for m in c.models.list()]
    assert allowed in ids and other not in ids
    assert c.models.retrieve(allowed).id == allowed
    with pytest.raises(openai.NotFoundError):
        c.models.retrieve(other)


def test_sdk_exception_types(gw, up):
    model = unique("e")
    gw.channel(base_url=up.url, models=[model, f"{model}-fail-429", f"{model}-fail-400"])
    uid = gw.user()
    good = openai.OpenAI(base_url=gw.base_url, api_key=gw.token(uid), max_retries=0)
    msg = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=gw.base_url, api_key="sk-nope", max_retries=0).chat.completions.create(
            model=model, messages=msg
        )
    with pytest.raises(openai.PermissionDeniedError):
        limited = openai.OpenAI(base_url=gw.base_url, api_key=gw.token(uid, model_limits=["other"]), max_retries=0)
        limited.chat.completions.create(model=model, messages=msg)
    with pytest.raises(openai.RateLimitError) as rate:
        good.chat.completions.create(model=f"{model}-fail-429", messages=msg)
    assert rate.value.response.headers["retry-after"] == "1"
    with pytest.raises(openai.BadRequestError):
        good.chat.completions.create(model=f"{model}-fail-400", messages=msg)
    with pytest.raises(openai.BadRequestError):
        good.chat.completions.create(model=model, messages=msg, stream="yes")  # type: ignore[arg-type]
