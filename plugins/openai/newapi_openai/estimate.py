"""Offline prompt-token estimates per OpenAI dialect (for holds, and when usage is missing)."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec

from newapi_host.sdk import Dialect, estimate_chat_prompt_tokens, estimate_text_prompt_tokens


def _decode(body: bytes) -> dict[str, Any]:
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def chat(body: bytes, model: str) -> int:
    return estimate_chat_prompt_tokens(_decode(body), model)


def completions(body: bytes, model: str) -> int:
    return estimate_text_prompt_tokens(_decode(body).get("prompt"), model)


def embeddings(body: bytes, model: str) -> int:
    return estimate_text_prompt_tokens(_decode(body).get("input"), model)


def responses(body: bytes, model: str) -> int:
    data = _decode(body)
    value = data.get("input")
    total = estimate_text_prompt_tokens(data.get("instructions"), model) if data.get("instructions") else 0
    if isinstance(value, list):
        return total + estimate_chat_prompt_tokens({"messages": value, "tools": data.get("tools")}, model)
    return total + estimate_text_prompt_tokens(value, model)


def chat_text(body: bytes) -> str:
    """Generated text of a chat or completions response: contents, tool calls, legacy text."""
    response = _decode(body)
    parts: list[str] = []
    for choice in (response.get("choices") if isinstance(response, dict) else None) or ():
        if not isinstance(choice, dict):
            continue
        message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        for key in ("content", "reasoning_content"):
            if isinstance(message.get(key), str):
                parts.append(message[key])
        for call in message.get("tool_calls") or ():
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict):
                parts.extend(str(fn.get(k) or "") for k in ("name", "arguments"))
        if isinstance(choice.get("text"), str):
            parts.append(choice["text"])
    return "".join(parts)


def responses_text(body: bytes) -> str:
    response = _decode(body)
    parts: list[str] = []
    for item in (response.get("output") if isinstance(response, dict) else None) or ():
        for content in (item.get("content") if isinstance(item, dict) else None) or ():
            if isinstance(content, dict) and isinstance(content.get("text"), str):
                parts.append(content["text"])
    return "".join(parts)


TEXT = {"openai.chat": chat_text, "openai.completions": chat_text, "openai.responses": responses_text}

ESTIMATORS = {
    "openai.chat": chat,
    "openai.completions": completions,
    "openai.embeddings": embeddings,
    "openai.responses": responses,
    "openai.moderations": embeddings,
}


def attach_estimators(dialects: tuple[Dialect, ...]) -> tuple[Dialect, ...]:
    from . import thinking

    return tuple(
        dataclasses.replace(
            d,
            estimate_prompt=ESTIMATORS[d.name],
            response_text=TEXT.get(d.name),
            thinking_to_content=(thinking.response, thinking.StreamRewriter) if d.name == "openai.chat" else None,
        )
        for d in dialects
    )
