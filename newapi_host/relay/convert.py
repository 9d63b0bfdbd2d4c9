"""Finding and running converter chains between dialects.

Converters are edges ``source -> target`` registered by plugins (client side -> upstream
side). A request in dialect A reaches a channel that speaks B through the shortest chain of
enabled converters from A to B; requests run through the chain forwards, responses and stream
events backwards. A plugin that adds a dialect with converters to and from ``openai.chat`` is
thereby reachable from every other dialect.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from pydantic import BaseModel

from newapi_host.plugins.contracts import ConvertContext, Converter, SSEEvent
from newapi_host.plugins.registry import Registry


def converter_path(registry: Registry, source: str, targets: Iterable[str]) -> list[Converter] | None:
    """The shortest chain from ``source`` to any of ``targets``: [] when native, None when unreachable."""
    goals = set(targets)
    if source in goals:
        return []
    edges: dict[str, list[Converter]] = {}
    for converter in registry.converters():
        edges.setdefault(converter.source, []).append(converter)
    seen = {source}
    queue: deque[tuple[str, list[Converter]]] = deque([(source, [])])
    while queue:
        dialect, path = queue.popleft()
        for converter in edges.get(dialect, ()):
            if converter.target in seen:
                continue
            step = [*path, converter]
            if converter.target in goals:
                return step
            seen.add(converter.target)
            queue.append((converter.target, step))
    return None


def step_contexts(
    path: Sequence[Converter], ctx: ConvertContext, settings: Sequence[BaseModel | None]
) -> list[ConvertContext]:
    """One context per converter of ``path``: its own plugin's settings, and ``wants_usage`` only
    for the first (the one whose answers the client reads); the rest always pass usage on."""
    return [
        replace(ctx, settings=settings[i], wants_usage=ctx.wants_usage if i == 0 else True) for i in range(len(path))
    ]


def convert_request(
    path: Sequence[Converter], body: dict[str, Any], contexts: Sequence[ConvertContext]
) -> dict[str, Any]:
    for converter, ctx in zip(path, contexts, strict=True):
        body = converter.request(body, ctx)
    return body


def convert_response(
    path: Sequence[Converter], body: dict[str, Any], contexts: Sequence[ConvertContext]
) -> dict[str, Any]:
    for converter, ctx in zip(reversed(path), reversed(contexts), strict=True):
        body = converter.response(body, ctx)
    return body


class StreamChain:
    """Upstream events in, client events out, through each converter's stream state machine."""

    def __init__(self, path: Sequence[Converter], contexts: Sequence[ConvertContext]) -> None:
        self.stages = [c.stream(ctx) for c, ctx in zip(reversed(path), reversed(contexts), strict=True)]

    def feed(self, event: SSEEvent) -> list[SSEEvent]:
        return self._through(0, [event])

    def _through(self, start: int, events: list[SSEEvent]) -> list[SSEEvent]:
        for stage in self.stages[start:]:
            events = [out for event in events for out in stage.feed(event)]
        return events

    def finish(self) -> list[SSEEvent]:
        """Flush every stage in order; what one stage flushes still passes the stages after it."""
        out: list[SSEEvent] = []
        for i, stage in enumerate(self.stages):
            flushed = list(stage.finish())
            out.extend(self._through(i + 1, flushed))
        return out
