"""The offline check of converters: canonical requests up, canonical answers and streams down.

For a converter ``source -> target`` the client's canonical ``source`` request goes up through
``request()``, then the upstream's canonical ``target`` answer and stream come back through
``response()`` and the stream converter, sharing one :class:`ConvertContext` as in the relay.
What comes out must still be valid ``source`` traffic (its dialect's counter reads it to the end),
say :data:`~.samples.KIT_TEXT` and carry the upstream's usage; streams to OpenAI chat clients end
with ``[DONE]`` and carry a usage chunk only when ``ctx.wants_usage`` is True.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from newapi_host.sdk import ConvertContext, Converter, Dialect, SSEEvent

from .checking import as_json, own, tokens_of, what
from .findings import Finding, Findings
from .format_checks import count_stream, no_sample
from .samples import KIT_PIECES, KIT_TEXT, DialectSample
from .subject import PluginUnderTest

MODEL = "kit-model"


@dataclass(frozen=True)
class End:
    """One side of a converter: its format and that format's canonical traffic."""

    dialect: Dialect
    sample: DialectSample

    @property
    def streams(self) -> bool:
        return self.sample.stream is not None


@dataclass(frozen=True)
class Pair:
    converter: Converter
    source: End
    target: End
    settings: Any

    def context(self, stream: bool, wants_usage: bool = True) -> ConvertContext:
        return ConvertContext(model=MODEL, stream=stream, options={}, wants_usage=wants_usage, settings=self.settings)

    def name(self, what: str) -> str:
        return f"converter {self.converter.source} -> {self.converter.target}, {what}"

    @property
    def usage(self) -> tuple[int, int] | None:
        """The usage both ends carry, or None when either format has no usage to carry."""
        if self.source.sample.usage is None:
            return None
        return self.target.sample.usage


def check_converters(s: PluginUnderTest) -> list[Finding]:
    found = Findings("converters")
    for converter in own(s.contributions.converters, Converter, "converter", found):
        ends = []
        for name in (converter.source, converter.target):
            dialect, sample = s.dialect(name), s.sample(name)
            subject = f"converter {converter.source} -> {converter.target}"
            if dialect is None:
                found.fail(subject, f"no installed plugin defines {name!r}: register it or depend on its plugin")
            elif sample is None:
                found.fail(subject, no_sample(name))
            else:
                ends.append(End(dialect, sample))
        if len(ends) < 2:
            continue
        pair = Pair(converter, ends[0], ends[1], s.settings())
        streams = pair.source.streams and pair.target.streams
        for stream in (False, True) if streams else (False,):
            _check_request(found, pair, stream)
        _check_response(found, pair)
        if streams:
            for wants_usage in (True, False) if converter.source == "openai.chat" else (True,):
                _check_stream(found, pair, wants_usage)
    if not found.items:
        found.none("the plugin registers no converters")
    return found.items


def _check_request(found: Findings, pair: Pair, stream: bool) -> None:
    subject = pair.name("request" + (" (stream)" if stream else ""))
    c = pair.converter
    try:
        out = c.request(copy.deepcopy(pair.source.sample.request(MODEL, stream)), pair.context(stream))
    except Exception as exc:
        found.fail(subject, f"request() raised {what(exc)} for the canonical {c.source} request")
        return
    text = as_json(out) if isinstance(out, dict) else None
    if text is None:
        found.fail(subject, f"request() must return a JSON-ready dict, not {type(out).__name__}")
        return
    if pair.target.sample.params is not None:
        # This format reads model and action from the path, which the adapter builds from the
        # call (and what the converter left in ctx.options): the body alone cannot be peeked.
        found.ok(subject)
        return
    try:
        peek = pair.target.dialect.peek(text.encode(), {})
    except Exception as exc:
        found.fail(subject, f"{c.target}'s peek refuses the converted request: {what(exc)}")
        return
    if peek.model != MODEL:
        found.fail(subject, f"the converted request names model {peek.model!r}; keep the client's model (ctx.model)")
    elif peek.stream != stream:
        found.fail(subject, f"the converted request has stream={peek.stream}; the client asked for stream={stream}")
    else:
        found.ok(subject)


def _check_response(found: Findings, pair: Pair) -> None:
    subject = pair.name("answer")
    c = pair.converter
    ctx = pair.context(False)
    answer = pair.target.sample.response(MODEL)
    try:
        c.request(copy.deepcopy(pair.source.sample.request(MODEL, False)), ctx)
        out = c.response(copy.deepcopy(answer), ctx)
    except Exception as exc:
        found.fail(subject, f"response() raised {what(exc)} for the canonical {c.target} answer")
        return
    text = as_json(out) if isinstance(out, dict) else None
    if text is None:
        found.fail(subject, f"response() must return a JSON-ready dict, not {type(out).__name__}")
        return
    if KIT_TEXT in json.dumps(answer) and KIT_TEXT not in text:
        found.fail(subject, f"the answer's text {KIT_TEXT!r} is lost in conversion: {text[:300]}")
        return
    if pair.usage is not None:
        try:
            usage = tokens_of(pair.source.dialect.usage(text.encode()))
        except Exception as exc:
            found.fail(subject, f"{c.source}'s usage() cannot read the converted answer: {what(exc)}")
            return
        if usage != pair.usage:
            found.fail(
                subject,
                f"the converted answer reports {usage} tokens (prompt, completion) as {c.source} reads it; "
                f"the upstream reported {pair.usage}: carry usage over",
            )
            return
    found.ok(subject)


def _converted_stream(pair: Pair, wants: bool) -> list[Any]:
    ctx = pair.context(True, wants)
    pair.converter.request(copy.deepcopy(pair.source.sample.request(MODEL, True)), ctx)
    machine = pair.converter.stream(ctx)
    out: list[Any] = []
    assert pair.target.sample.stream is not None
    for item in pair.target.sample.stream(MODEL):
        out.extend(machine.feed(item))
    out.extend(machine.finish())
    return out


def _check_stream(found: Findings, pair: Pair, wants: bool) -> None:
    subject = pair.name("stream" + ("" if wants else " (client did not ask for usage)"))
    c = pair.converter
    try:
        out = _converted_stream(pair, wants)
    except Exception as exc:
        found.fail(subject, f"the stream converter raised {what(exc)} on the canonical {c.target} stream")
        return
    if not all(isinstance(e, SSEEvent) for e in out):
        found.fail(subject, "feed() and finish() must yield SSEEvent objects")
        return
    try:
        counter, flags = count_stream(pair.source.dialect, out)
    except ValueError as exc:
        found.fail(subject, f"the converted stream is not valid {c.source}: {exc}")
        return
    if problem := _stream_problem(pair, out, counter, flags, wants):
        found.fail(subject, problem)
    else:
        found.ok(subject, f"{len(out)} events")


def _stream_problem(pair: Pair, out: list[SSEEvent], counter: Any, flags: list[bool], wants: bool) -> str | None:
    source = pair.converter.source
    data = "".join(e.data for e in out)
    if lost := [p for p in KIT_PIECES if p.strip() not in data]:
        return f"streamed text {lost} never reaches the client; pass every delta on"
    if counter.finished is not True:
        return f"the converted stream never says it is complete, as {source}'s counter sees it"
    usage = tokens_of(counter.result())
    if wants and pair.usage is not None and usage != pair.usage:
        return f"the converted stream reports {usage} tokens; the upstream reported {pair.usage}"
    if source != "openai.chat":
        return None
    if not out or out[-1].data != "[DONE]":
        return "an OpenAI chat stream must end with data: [DONE]; write it in finish() (or on the final event)"
    if not wants and (any(flags) or _usage_chunks(out)):
        return (
            "the client did not ask for usage (ctx.wants_usage is False), yet the stream carries a usage chunk: "
            "emit it only when ctx.wants_usage is True"
        )
    if wants and not any(flags):
        return "ctx.wants_usage is True but the stream has no usage chunk (choices: [] with usage) before [DONE]"
    return None


def _usage_chunks(events: list[SSEEvent]) -> bool:
    for e in events:
        try:
            data = json.loads(e.data)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("usage") and not data.get("choices"):
            return True
    return False
