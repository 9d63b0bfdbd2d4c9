"""Offline token counting for prompts, used to pre-charge quota and to fill in missing usage.

Counts use OpenAI's tiktoken vocabularies vendored in ``data/`` (never downloaded). For
non-OpenAI models the cl100k count is an approximation, which is what New API does too. The
request estimators follow New API's rules (fixed per-message, per-name, per-tool and media
costs) so that quotas reserved here match what a New API deployment would reserve; they take
untrusted request bodies and therefore never raise: whatever cannot be understood counts as 0.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from newapi_host.tokenizer._vocab import CL100K, O200K, get_encoding

if TYPE_CHECKING:
    import tiktoken

__all__ = ["count_tokens", "encoding_for", "estimate_chat_prompt_tokens", "estimate_text_prompt_tokens"]

log = logging.getLogger(__name__)

# Model-name prefixes whose models use o200k_base; everything else gets cl100k_base.
_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o", "omni")

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 3
TOKENS_PER_TOOL = 8
REPLY_PRIMING_TOKENS = 3
# Flat costs for non-text content parts: New API does not inspect the media when estimating.
MEDIA_PART_TOKENS = {"image_url": 520, "input_audio": 256, "file": 4096}
_MAX_NESTING = 3  # embeddings input is at most a list of lists; deeper input is not worth walking


def encoding_for(model: str) -> tiktoken.Encoding:
    """The encoding for ``model``; a provider prefix such as ``azure/gpt-4o`` is ignored."""
    name = model.lower().rsplit("/", 1)[-1] if isinstance(model, str) else ""
    return get_encoding(O200K if name.startswith(_O200K_PREFIXES) else CL100K)


def count_tokens(text: str, model: str = "") -> int:
    """Tokens of plain text; special-token strings in user text are counted as ordinary text."""
    if not text:
        return 0
    return len(encoding_for(model).encode(text, disallowed_special=()))


def _safe(what: str, fn: Callable[[], int]) -> int:
    """Run one counting step; a failure costs that step only, not the whole estimate."""
    try:
        return fn()
    except Exception:
        log.warning("token estimate: could not count %s", what, exc_info=True)
        return 0


def _json(value: Any) -> str:
    """Compact JSON, like the Go marshalling New API counts; non-JSON values are stringified."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _content_tokens(content: Any, model: str) -> int:
    """Tokens of a message ``content``: a string, or a list of text/media parts."""
    if isinstance(content, str):
        return count_tokens(content, model)
    if not isinstance(content, list):
        return 0
    total = 0
    for part in content:
        if isinstance(part, str):
            total += count_tokens(part, model)
        elif isinstance(part, dict):
            kind = part.get("type")
            if isinstance(kind, str) and kind in MEDIA_PART_TOKENS:
                total += MEDIA_PART_TOKENS[kind]
            elif isinstance(text := part.get("text"), str):
                total += count_tokens(text, model)
    return total


def _call_tokens(call: Any, model: str) -> int:
    """Tokens of one tool call (or legacy ``function_call``): function name plus arguments."""
    function = call.get("function", call) if isinstance(call, dict) else None
    if not isinstance(function, dict):
        return 0
    total = 0
    if isinstance(name := function.get("name"), str):
        total += count_tokens(name, model)
    arguments = function.get("arguments")
    if arguments is not None:
        total += count_tokens(arguments if isinstance(arguments, str) else _json(arguments), model)
    return total


def _message_tokens(message: Any, model: str) -> int:
    """Tokens of one chat message, per New API: overhead, content, name, tool calls."""
    if not isinstance(message, dict):
        return 0
    total = TOKENS_PER_MESSAGE + _content_tokens(message.get("content"), model)
    if isinstance(name := message.get("name"), str) and name:
        total += TOKENS_PER_NAME + count_tokens(name, model)
    if isinstance(calls := message.get("tool_calls"), list):
        total += sum(_call_tokens(call, model) for call in calls)
    if isinstance(legacy := message.get("function_call"), dict):
        total += _call_tokens(legacy, model)
    return total


def _tool_tokens(tool: Any, model: str) -> int:
    """Tokens of one tool: fixed overhead plus its JSON function definition."""
    if not isinstance(tool, dict):
        return 0
    definition = tool.get("function", tool)  # legacy ``functions`` entries are the definition itself
    return TOKENS_PER_TOOL + count_tokens(_json(definition), model)


def estimate_chat_prompt_tokens(body: dict, model: str = "") -> int:
    """Estimated prompt tokens of a Chat Completions request body; ``model`` defaults to the body's."""
    if not isinstance(body, dict):
        return 0
    if not model and isinstance(body.get("model"), str):
        model = body["model"]
    total = 0
    messages = body.get("messages")
    if isinstance(messages, list):
        for i, message in enumerate(messages):
            total += _safe(f"message {i}", lambda m=message: _message_tokens(m, model))
    for key in ("tools", "functions"):
        tools = body.get(key)
        if isinstance(tools, list):
            for i, tool in enumerate(tools):
                total += _safe(f"{key}[{i}]", lambda t=tool: _tool_tokens(t, model))
    return total + REPLY_PRIMING_TOKENS


def _text_tokens(value: Any, model: str, depth: int) -> int:
    """Tokens of a string, a token id (one each), or a (nested) list of those."""
    if isinstance(value, str):
        return count_tokens(value, model)
    if isinstance(value, int) and not isinstance(value, bool):
        return 1
    if isinstance(value, list) and depth < _MAX_NESTING:
        return sum(_text_tokens(item, model, depth + 1) for item in value)
    return 0


def estimate_text_prompt_tokens(value: Any, model: str = "") -> int:
    """Tokens of a completions ``prompt`` or embeddings ``input`` (strings and/or token-id lists)."""
    return _safe("text prompt", lambda: _text_tokens(value, model, 0))


class TextTally:
    """Token count of streamed text, with flat memory however long the stream runs.

    Text is kept until ``limit`` characters are waiting, then counted and dropped; the rest is
    counted only if someone asks (:meth:`total`), which usually never happens because the
    upstream reported usage. Stream counters of every dialect share this.
    """

    __slots__ = ("_parts", "_size", "_counted", "_count", "limit")

    def __init__(self, count: Callable[[str], int] | None = None, limit: int = 64 * 1024) -> None:
        self._parts: list[str] = []
        self._size = 0
        self._counted = 0
        self._count = count if count is not None else count_tokens
        self.limit = limit

    def add(self, text: str) -> None:
        if not text:
            return
        self._parts.append(text)
        self._size += len(text)
        if self._size > self.limit:
            self._counted += self._count("".join(self._parts))
            self._parts.clear()
            self._size = 0

    def pending(self) -> tuple[int, str]:
        """(tokens already counted, text not counted yet)."""
        return self._counted, "".join(self._parts)

    @property
    def waiting(self) -> int:
        """Characters kept but not counted yet (at most ``limit`` plus one piece)."""
        return self._size
