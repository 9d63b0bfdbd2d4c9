"""Helpers for the Cohere plugin's tests: build Cohere stream events, run converters, replay streams."""

from __future__ import annotations

import json
from typing import Any

import httpx2 as httpx  # the transport library of the openai SDK installed here
import openai

from newapi_host.sdk import SSEEvent


def cohere_events(payloads: list[dict[str, Any]]) -> list[SSEEvent]:
    """Cohere stream events, named by their ``type`` as Cohere sends them."""
    return [SSEEvent(data=json.dumps(p), event=p["type"]) for p in payloads]


def run(converter: Any, events: list[SSEEvent]) -> list[SSEEvent]:
    out: list[SSEEvent] = []
    for event in events:
        out.extend(converter.feed(event))
    out.extend(converter.finish())
    return out


def payloads(events: list[SSEEvent]) -> list[Any]:
    """The JSON payloads of events; ``[DONE]`` stays a string."""
    return [e.data if e.data == "[DONE]" else json.loads(e.data) for e in events]


def sse_bytes(events: list[SSEEvent]) -> bytes:
    """Events as they go over the wire."""
    out = []
    for event in events:
        if event.event:
            out.append(f"event: {event.event}\n")
        out.append(f"data: {event.data}\n\n")
    return "".join(out).encode()


def openai_final_completion(events: list[SSEEvent]) -> Any:
    """Replay converted chunks through the OpenAI SDK's stream helper and return what it assembled."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=sse_bytes(events))

    client = openai.OpenAI(
        api_key="k",
        base_url="http://upstream.test/v1",
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    with client.chat.completions.stream(model="m", messages=[{"role": "user", "content": "hi"}]) as stream:
        for _ in stream:
            pass
        return stream.get_final_completion()
