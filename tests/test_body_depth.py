"""The request-body nesting bound: exact depth measurement, and the ASGI receive wrapper."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from newapi_host.body_depth import MAX_DEPTH, BodyDepthMiddleware, TooDeep, too_deep


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


TRICKY_STRINGS = ["a[b", "]]", '\\"[', "x\\\\", "{", '}\\\\"[', "", '"', "\\", "[[[[[[[[[[", "é]"]


def random_document(rnd: random.Random) -> Any:
    budget = [300]

    def value(levels: int) -> Any:
        budget[0] -= 1
        r = rnd.random()
        if levels <= 0 or r < 0.2 or budget[0] <= 0:
            return rnd.choice([*TRICKY_STRINGS, 5, None, True])
        if r < 0.6:
            return [value(levels - 1) for _ in range(rnd.randint(0, 3))]
        return {rnd.choice(TRICKY_STRINGS) + str(i): value(levels - 1) for i in range(rnd.randint(0, 3))}

    doc = value(rnd.randint(1, 30))
    for _ in range(rnd.randint(0, 150)):  # a chain on top reaches any depth
        doc = [doc, [1, [2]]] if rnd.random() < 0.5 else {"x": doc, "y": "]]"}
    return doc


def test_depth_is_measured_exactly_whatever_the_strings_hold():
    rnd = random.Random(7)
    for _ in range(1500):
        doc = random_document(rnd)
        raw = json.dumps(doc, ensure_ascii=rnd.random() < 0.5).encode()
        limit = rnd.choice([1, 3, 16, 17, 40, MAX_DEPTH])
        assert too_deep(raw, limit) == (depth(doc) > limit), (limit, depth(doc), raw[:120])


@pytest.mark.parametrize(
    ("raw", "deep"),
    [
        (b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, False),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), True),
        (b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1), True),
        (json.dumps({"text": "[" * 10_000}).encode(), False),  # brackets in a string are text
        (b"[" + b"[]," * 100_000 + b"[]]", False),  # wide is fine
        (b"[" * 100_000, True),  # unclosed, still refused
        ((b"[" * 130 + b"]" * 130) * 50_000, True),  # megabytes of deep nests
    ],
)
def test_examples(raw, deep):
    assert too_deep(raw) is deep


async def _run(
    chunks: list[bytes], tail: list[dict] | None = None, max_body: int = 1 << 20, complete: bool = True
) -> list[dict]:
    """What the app behind the middleware receives (it reads until the client has nothing more)."""
    last = len(chunks) - 1 if complete else len(chunks)
    sent = [{"type": "http.request", "body": c, "more_body": i < last} for i, c in enumerate(chunks)]
    sent += tail or []
    received: list[dict] = []

    async def receive() -> dict:
        return sent.pop(0)

    async def app(scope: dict, recv: Any, send: Any) -> None:
        while sent or not received or received[-1].get("more_body"):  # like the relay: body, then watch
            received.append(await recv())
            if received[-1]["type"] == "http.disconnect":
                return

    scope = {"type": "http", "headers": [], "method": "POST", "path": "/"}
    await BodyDepthMiddleware(app, max_body=max_body)(scope, receive, None)
    return received


async def test_the_app_receives_the_body_whole_then_the_rest():
    got = await _run([b'{"a":', b" [1, 2]}"], tail=[{"type": "http.disconnect"}])
    assert got == [
        {"type": "http.request", "body": b'{"a": [1, 2]}', "more_body": False},
        {"type": "http.disconnect"},
    ]


async def test_a_client_gone_mid_body_is_passed_on():
    got = await _run([b"[1,", b"2"], tail=[{"type": "http.disconnect"}], complete=False)
    assert [m["type"] for m in got] == ["http.request", "http.request", "http.disconnect"]
    assert b"".join(m.get("body", b"") for m in got) == b"[1,2"


async def test_a_body_over_the_size_limit_streams_on_unchecked():
    deep = b"[" * 500
    got = await _run([deep, deep, b"]" * 1000], max_body=600)
    assert b"".join(m["body"] for m in got) == deep * 2 + b"]" * 1000


async def test_too_deep_is_raised_when_the_app_reads():
    with pytest.raises(TooDeep):
        await _run([b"[" * 200, b"]" * 200])
