"""The OpenAI dialects: the stream usage counter's flat memory, and how many answers a body asks for."""

from __future__ import annotations

import json

import pytest

from newapi_host.sdk import SSEEvent, Usage, count_tokens
from newapi_openai.dialects import ChatStreamCounter, peek_chat, peek_completions


def test_stream_counter_memory_stays_flat_on_long_streams():
    counter = ChatStreamCounter(count_tokens)
    piece = "lorem ipsum dolor sit amet " * 20
    for _ in range(5000):  # about 2.7 MB of text
        counter.feed(SSEEvent(data=json.dumps({"choices": [{"delta": {"content": piece}}]})))
        assert counter._tally.waiting <= 64 * 1024 + len(piece)
    counted, rest = counter.output_text()
    assert counted + count_tokens(rest) == pytest.approx(count_tokens(piece * 5000), rel=0.001)
    assert counter.result() is None and not counter.finished
    counter.feed(SSEEvent(data='{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}'))
    counter.feed(SSEEvent(data="[DONE]"))
    assert counter.result() == Usage(prompt_tokens=3, completion_tokens=4) and counter.finished
    with pytest.raises(ValueError):
        counter.feed(SSEEvent(data="{broken"))


@pytest.mark.parametrize(
    ("fields", "n"),
    [({}, 1), ({"n": None}, 1), ({"n": 1}, 1), ({"n": 128}, 128), ({"n": 2, "best_of": 5}, 5), ({"best_of": 20}, 20)],
)
def test_completions_peek_counts_answers(fields, n):
    body = json.dumps({"model": "m", **fields}).encode()
    assert peek_completions(body, {}).n == n
    if "best_of" not in fields:
        assert peek_chat(body, {}).n == n


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"n": 0}, "n must be between 1 and 128"),
        ({"n": 129}, "n must be between 1 and 128"),
        ({"n": 10**12}, "n must be between 1 and 128"),
        ({"n": "3"}, r"\$\.n"),
        ({"n": True}, r"\$\.n"),
        ({"best_of": 21}, "best_of must be between 1 and 20"),
    ],
)
def test_answer_counts_are_bounded(fields, message):
    from newapi_host.plugins.contracts import InvalidRequest

    body = json.dumps({"model": "m", **fields}).encode()
    with pytest.raises(InvalidRequest, match=message):
        peek_completions(body, {})
    if "best_of" not in fields:
        with pytest.raises(InvalidRequest, match=message):
            peek_chat(body, {})
