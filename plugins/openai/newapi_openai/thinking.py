"""The channel setting ``thinking_to_content``: reasoning shown inside the answer.

Some clients ignore ``reasoning_content``; with this setting the reasoning arrives as a
``<think>...</think>`` block at the start of ``content`` instead, in full responses and streams.
"""

from __future__ import annotations

from typing import Any

import msgspec

from newapi_host.sdk import SSEEvent


def response(body: dict[str, Any]) -> dict[str, Any]:
    for choice in body.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict) and message.get("reasoning_content"):
            reasoning = message.pop("reasoning_content")
            message["content"] = f"<think>{reasoning}</think>{message.get('content') or ''}"
    return body


class StreamRewriter:
    """Per stream: open ``<think>`` with the first reasoning delta, close it before the first content."""

    def __init__(self) -> None:
        self.open = False

    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        if event.data == "[DONE]" or "reasoning_content" not in event.data and not self.open:
            return [event]
        chunk = msgspec.json.decode(event.data)
        changed = False
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                continue
            reasoning = delta.pop("reasoning_content", None)
            content = delta.get("content")
            text = ""
            if reasoning:
                text += ("" if self.open else "<think>") + reasoning
                self.open = True
                changed = True
            if self.open and (content or choice.get("finish_reason")):
                text += "</think>"
                self.open = False
                changed = True
            if changed:
                delta["content"] = text + (content or "")
        return [SSEEvent(data=msgspec.json.encode(chunk).decode(), event=event.event)] if changed else [event]

    def finish(self) -> list[SSEEvent]:
        return []
