"""Offline token counter: exact counts, model mapping, New API estimate rules, no network."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import threading
import urllib.request

import pytest
import tiktoken
import tiktoken.load
from tiktoken_ext import openai_public

from newapi_host.tokenizer import (
    _vocab,
    count_tokens,
    encoding_for,
    estimate_chat_prompt_tokens,
    estimate_text_prompt_tokens,
)

CJK_EMOJI = "你好，世界 👋🌍"


def _tiktoken_reference(name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, str]:
    """Run tiktoken's own constructor for ``name`` on the vendored vocab; return it and its expected hash."""
    seen: dict[str, str] = {}

    def fake_load(blobpath: str, expected_hash: str | None = None) -> dict[bytes, int]:
        seen["hash"] = expected_hash or ""
        return _vocab._mergeable_ranks(_vocab.SPECS[name])

    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", fake_load)
    return openai_public.ENCODING_CONSTRUCTORS[name](), seen["hash"]


@pytest.mark.parametrize(
    ("text", "cl100k", "o200k"),
    [
        ("", 0, 0),
        ("hello world", 2, 2),
        ("Hello, world!", 4, 4),
        ("tiktoken is great!", 6, 6),
        ("The quick brown fox jumps over the lazy dog.", 10, 10),
        (CJK_EMOJI, 11, 7),
        ("<|endoftext|>", 7, 7),  # special tokens in user text are plain text
    ],
)
def test_known_counts(text: str, cl100k: int, o200k: int) -> None:
    assert count_tokens(text, "gpt-4") == cl100k
    assert count_tokens(text, "gpt-4o") == o200k
    assert count_tokens(text) == cl100k


def test_known_token_ids() -> None:
    assert encoding_for("gpt-3.5-turbo").encode("hello world") == [15339, 1917]
    assert encoding_for("gpt-4").encode("tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]


@pytest.mark.parametrize(
    ("model", "name"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("GPT-4.1-nano", "o200k_base"),
        ("gpt-4.5-preview", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("o1-mini", "o200k_base"),
        ("o3", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("chatgpt-4o-latest", "o200k_base"),
        ("omni-moderation-latest", "o200k_base"),
        ("azure/gpt-4o", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("claude-3-5-sonnet", "cl100k_base"),
        ("", "cl100k_base"),
    ],
)
def test_model_mapping(model: str, name: str) -> None:
    assert encoding_for(model).name == name


def test_encodings_match_tiktoken_definitions(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our copied regexes/special tokens equal tiktoken's, so token ids are identical."""
    samples = ["hello world", CJK_EMOJI, "I'LL  don't\r\n\n  x=1234567;\t<|endofprompt|> ", "naïve café"]
    for name in ("cl100k_base", "o200k_base"):
        reference, _ = _tiktoken_reference(name, monkeypatch)
        spec = _vocab.SPECS[name]
        assert spec.pat_str == reference["pat_str"]
        assert spec.special_tokens == reference["special_tokens"]
        ref_enc = tiktoken.Encoding(**reference)
        ours = _vocab.get_encoding(name)
        for text in samples:
            assert ours.encode(text, disallowed_special=()) == ref_enc.encode(text, disallowed_special=())


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_vocab_integrity(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _, expected = _tiktoken_reference(name, monkeypatch)
    assert expected == _vocab.SPECS[name].sha256
    assert hashlib.sha256(_vocab.read_vocab(name)).hexdigest() == expected


def test_chat_estimate_follows_rules() -> None:
    model = "gpt-4o"
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
    body = {
        "model": model,
        "messages": [
            {"role": "system", "content": "You are terse."},
            {
                "role": "user",
                "name": "alice",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ],
        "tools": [tool],
    }

    def c(text: str) -> int:
        return count_tokens(text, model)

    fn_json = json.dumps(tool["function"], ensure_ascii=False, separators=(",", ":"))
    expected = (
        (3 + c("You are terse."))
        + (3 + c("What is in this picture?") + 520 + 3 + c("alice"))
        + (3 + c("get_weather") + c('{"city":"Oslo"}'))
        + (3 + c("sunny"))
        + (8 + c(fn_json))
        + 3
    )
    assert estimate_chat_prompt_tokens(body) == expected
    assert estimate_chat_prompt_tokens(body, model) == expected


def test_chat_media_part_costs() -> None:
    parts = [{"type": "input_audio", "input_audio": {}}, {"type": "file", "file": {}}, {"type": "image_url"}]
    body = {"messages": [{"role": "user", "content": parts}]}
    assert estimate_chat_prompt_tokens(body) == 3 + 256 + 4096 + 520 + 3


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"messages": None},
        {"messages": [1, "x", {"content": 5}]},
        {"messages": [{"content": [None, 3, {"type": None}, {"type": "text", "text": 7}], "name": 1}]},
        {"messages": [{"role": "assistant", "tool_calls": [None, {"function": "x"}, {"function": {"arguments": {}}}]}]},
        {"messages": "hi", "tools": [None, "x", {"function": {"x": object()}}], "functions": 3},
        {"model": 5, "messages": [{"content": "hi"}]},
        None,
        [],
    ],
)
def test_chat_estimate_never_raises(body: dict) -> None:
    result = estimate_chat_prompt_tokens(body)
    assert isinstance(result, int) and result >= 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("hello world", 2),
        (["hello world", "hello"], 3),
        ([[1, 2, 3], [4]], 4),
        ([15339, 1917], 2),
        ([], 0),
        (None, 0),
        ({"x": 1}, 0),
        ([True, None, 2.5, "hello"], 1),
        ([[[[["deep"]]]]], 0),
    ],
)
def test_text_prompt_estimate(value: object, expected: int) -> None:
    assert estimate_text_prompt_tokens(value) == expected


def test_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("network or tiktoken download attempted")

    monkeypatch.setattr(tiktoken.load, "read_file", forbidden)
    monkeypatch.setattr(tiktoken.load, "read_file_cached", forbidden)
    monkeypatch.setattr(tiktoken.load, "load_tiktoken_bpe", forbidden)
    monkeypatch.setattr(urllib.request, "urlopen", forbidden)
    monkeypatch.setattr(socket, "create_connection", forbidden)
    monkeypatch.setattr(socket.socket, "connect", forbidden)
    try:
        import requests
    except ImportError:
        pass
    else:
        monkeypatch.setattr(requests, "get", forbidden)
        monkeypatch.setattr(requests.Session, "request", forbidden)

    _vocab.clear_cache()
    assert count_tokens("hello world", "gpt-3.5-turbo") == 2
    assert count_tokens(CJK_EMOJI, "gpt-4o") == 7
    assert set(_vocab._ENCODINGS) == {"cl100k_base", "o200k_base"}


def test_concurrent_first_load_builds_once() -> None:
    _vocab.clear_cache()
    results: list[tiktoken.Encoding] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        results.append(encoding_for("gpt-4"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and all(r is results[0] for r in results)


def test_import_is_cheap() -> None:
    """Importing the package loads neither a vocabulary nor tiktoken itself."""
    code = (
        "import sys, newapi_host.tokenizer as t;"
        "assert not t._vocab._ENCODINGS;"
        "assert 'tiktoken' not in sys.modules, 'tiktoken imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
