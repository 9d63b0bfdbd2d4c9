"""Helpers for the Claude plugin tests: run stream converters and replay streams through the SDKs."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx2 as httpx
import openai

from newapi_host.sdk import SSEEvent, encode_event


def openai_events(chunks: list[Any]) -> list[SSEEvent]:
    """OpenAI chat stream events: dict chunks as JSON, strings as they are (``[DONE]``)."""
    return [SSEEvent(data=c if isinstance(c, str) else json.dumps(c)) for c in chunks]


def claude_events(payloads: list[dict[str, Any]]) -> list[SSEEvent]:
    """Anthropic stream events, named by their ``type`` as Anthropic sends them."""
    return [SSEEvent(data=json.dumps(p), event=p["type"]) for p in payloads]


def run(converter: Any, events: list[SSEEvent]) -> list[SSEEvent]:
    out: list[SSEEvent] = []
    for event in events:
        out.extend(converter.feed(event))
    out.extend(converter.finish())
    return out


def decoded(events: list[SSEEvent]) -> list[Any]:
    """(event name, JSON payload) pairs; ``[DONE]`` stays a string."""
    return [(e.event, e.data if e.data == "[DONE]" else json.loads(e.data)) for e in events]


def sse_bytes(events: list[SSEEvent]) -> bytes:
    return b"".join(encode_event(e) for e in events)


def _client_transport(body: bytes) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    return httpx.Client(transport=httpx.MockTransport(handler))


def anthropic_final_message(events: list[SSEEvent]) -> anthropic.types.Message:
    """Replay a converted stream through the Anthropic SDK's streaming helper."""
    client = anthropic.Anthropic(
        api_key="k", base_url="http://upstream.test", http_client=_client_transport(sse_bytes(events))
    )
    with client.messages.stream(
        model="claude-test", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        return stream.get_final_message()


def openai_chunks(events: list[SSEEvent]) -> list[Any]:
    """Replay a converted stream through the OpenAI SDK's stream decoder."""
    client = openai.OpenAI(
        api_key="k", base_url="http://upstream.test/v1", http_client=_client_transport(sse_bytes(events))
    )
    stream = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}], stream=True)
    return list(stream)


def openai_final_completion(events: list[SSEEvent]) -> Any:
    client = openai.OpenAI(
        api_key="k", base_url="http://upstream.test/v1", http_client=_client_transport(sse_bytes(events))
    )
    with client.chat.completions.stream(model="m", messages=[{"role": "user", "content": "hi"}]) as stream:
        for _ in stream:
            pass
        return stream.get_final_completion()
