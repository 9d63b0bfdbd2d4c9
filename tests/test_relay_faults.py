"""Upstream faults from a real upstream process: what the client sees and what is charged.

The charges asserted here are the rules of docs/billing.md: usage reported by the upstream
when there is any; otherwise the gateway's own count of the prompt and of the text that
actually reached the client; nothing at all when nothing reached the client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from newapi_host.billing.pricing import SELF_USE_RATIO, round_half_away
from newapi_host.tokenizer import count_tokens, estimate_chat_prompt_tokens

from .gateway import Gateway, start_gateway, unique
from .upstreams import FakeUpstream, shared_fake_openai

MSG = [{"role": "user", "content": "tell me something"}]


@pytest.fixture(scope="module")
def up() -> FakeUpstream:
    return shared_fake_openai()


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    gw = start_gateway(tmp_path_factory.mktemp("gw"), streaming_timeout=1.0)
    yield gw
    gw.stop()


def setup(gw: Gateway, up: FakeUpstream, marker: str) -> tuple[openai.OpenAI, str, int]:
    model = unique("gpt-4o-mini")
    gw.channel(base_url=up.url, models=[model], model_mapping={model: f"{model}-{marker}"} if marker else {})
    uid = gw.user()
    return openai.OpenAI(base_url=gw.base_url, api_key=gw.token(uid), max_retries=0, timeout=20), model, uid


def expected_estimate(model: str, delivered: str) -> int:
    prompt = estimate_chat_prompt_tokens({"model": model, "messages": MSG}, model)
    completion = count_tokens(delivered, model) if delivered else 0
    return round_half_away((prompt + completion) * SELF_USE_RATIO)


def stream_text(c: openai.OpenAI, model: str) -> tuple[str, Exception | None]:
    text = ""
    try:
        for chunk in c.chat.completions.create(model=model, messages=MSG, stream=True):
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
    except openai.APIError as exc:
        return text, exc
    return text, None


def test_500_is_an_error_and_free(gw, up):
    c, model, uid = setup(gw, up, "fail-500")
    with pytest.raises(openai.InternalServerError) as err:
        c.chat.completions.create(model=model, messages=MSG)
    assert "request id" in err.value.message
    assert gw.logs(model_name=model) == []
    assert gw.user_row(uid)["used_quota"] == 0


def test_429_passes_retry_after_and_is_free(gw, up):
    c, model, _ = setup(gw, up, "fail-429")
    with pytest.raises(openai.RateLimitError) as err:
        c.chat.completions.create(model=model, messages=MSG, stream=True)
    assert err.value.response.headers["retry-after"] == "1"
    assert gw.logs(model_name=model) == []


@pytest.mark.parametrize("marker", ["drop-after-3", "truncate-after-3", "malformed-after-3", "stall-after-3"])
def test_broken_streams_end_with_an_error_and_charge_what_was_delivered(gw, up, marker):
    c, model, _ = setup(gw, up, marker)
    text, error = stream_text(c, model)
    assert text == "w0 w1 w2 "
    assert isinstance(error, openai.APIError), "the client must learn the answer is incomplete"
    log = gw.logs(model_name=model)[-1]
    other = json.loads(log["other"])
    assert other["end_state"] == ("timeout" if marker.startswith("stall") else "upstream_error")
    assert other["usage_estimated"] is True
    assert log["quota"] == expected_estimate(model, text)
    assert log["completion_tokens"] == count_tokens(text, model)


def test_stream_without_usage_is_estimated_from_what_was_sent(gw, up):
    c, model, _ = setup(gw, up, "nousage")
    text, error = stream_text(c, model)
    assert error is None and text == "".join(f"w{i} " for i in range(10))
    log = gw.logs(model_name=model)[-1]
    assert json.loads(log["other"])["end_state"] == "completed"
    assert log["quota"] == expected_estimate(model, text)


def test_completed_stream_is_charged_by_reported_usage(gw, up):
    c, model, uid = setup(gw, up, "")
    text, error = stream_text(c, model)
    assert error is None
    log = gw.logs(model_name=model)[-1]
    assert (log["prompt_tokens"], log["completion_tokens"]) == (11, 7)
    assert log["quota"] == round_half_away((11 + 7) * SELF_USE_RATIO)
    gw.flush()
    assert gw.user_row(uid)["used_quota"] == log["quota"]


def test_client_gone_mid_stream_cancels_the_upstream_and_charges_delivered(gw, up):
    import httpx

    model = unique("gpt-4o-mini")
    gw.channel(base_url=up.url, models=[model], model_mapping={model: f"{model}-stall-after-2"})
    key = gw.token(gw.user())
    body = {"model": model, "messages": MSG, "stream": True}
    with httpx.stream(
        "POST", f"{gw.base_url}/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as r:
        received = b""
        for chunk in r.iter_bytes():
            received += chunk
            if received.count(b"w1 ") and b"w1 " in received:
                break  # hang up while the upstream stalls
    import time

    deadline = time.monotonic() + 5
    while not gw.logs(model_name=model) and time.monotonic() < deadline:
        time.sleep(0.1)
    log = gw.logs(model_name=model)[-1]
    assert json.loads(log["other"])["end_state"] in {"client_gone", "timeout"}
    assert log["quota"] == expected_estimate(model, "w0 w1 ")


def test_non_stream_without_usage_is_estimated_from_prompt_and_answer(gw, up):
    c, model, _ = setup(gw, up, "nousage")
    answer = c.chat.completions.create(model=model, messages=MSG).choices[0].message.content
    log = gw.logs(model_name=model)[-1]
    assert log["quota"] == expected_estimate(model, answer)
    assert log["completion_tokens"] == count_tokens(answer, model) > 0


async def test_a_stream_that_never_starts_releases_its_hold_and_closes_the_upstream():
    """If sending the response head fails, the generator never runs; the reply's close hook must."""
    from newapi_host.relay.asgi import Reply, send_reply

    closed: list[str] = []

    async def never_iterated():
        yield b"x"

    async def on_close() -> None:
        closed.append("done")

    async def failing_send(message) -> None:
        raise OSError("client went away before the head was sent")

    async def receive():
        return {"type": "http.disconnect"}

    reply = Reply(status=200, headers={}, stream=never_iterated(), media_type="text/event-stream", on_close=on_close)
    with pytest.raises(OSError):
        await send_reply(reply, receive, failing_send)
    assert closed == ["done"]
