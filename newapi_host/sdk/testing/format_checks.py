"""The offline checks of a plugin's wire formats: its dialects, and how they count usage.

Everything is fed the canonical traffic of :mod:`.samples` (or the plugin's own samples, from its
``NEWAPI_CONFORMANCE`` set-up), the very requests, answers and streams of the live checks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from newapi_host.sdk import Dialect, InvalidRequest, Peek, SSEEvent

from . import samples
from .checking import GUIDE, METHODS, own, tokens_of, what
from .findings import Finding, Findings
from .samples import DialectSample
from .subject import PluginUnderTest

GARBAGE = (b"{not json", b"[1, 2]")


# -- dialects and usage ------------------------------------------------------------------------


def no_sample(name: str) -> str:
    return (
        f"the kit has no canonical traffic for {name!r}, so its peek, usage and converters cannot be exercised: "
        f"describe it with kit.sample(DialectSample({name!r}, ...)) in the plugin's NEWAPI_CONFORMANCE "
        f"function ({GUIDE})"
    )


def _peek_problem(dialect: Dialect, sample: DialectSample, stream: bool) -> str | None:
    model = "kit-model"
    body = json.dumps(sample.request(model, stream)).encode()
    try:
        peek = dialect.peek(body, sample.params_for(model, stream))
    except Exception as exc:
        return f"peek raised {what(exc)} for the canonical {'stream ' if stream else ''}request {body[:200]!r}"
    if not isinstance(peek, Peek):
        return f"peek returned {type(peek).__name__}; return a Peek(model, stream, max_tokens, ...)"
    wanted = (model, stream, sample.max_tokens)
    got = (peek.model, peek.stream, peek.max_tokens)
    if got != wanted:
        return f"peek read (model, stream, max_tokens) = {got} from the canonical request; expected {wanted}"
    return None


def _dialects(s: PluginUnderTest) -> list[Dialect]:
    return [d for d in s.contributions.dialects if isinstance(d, Dialect)]


def check_dialects(s: PluginUnderTest) -> list[Finding]:
    found = Findings("dialects")
    for dialect in own(s.contributions.dialects, Dialect, "dialect", found):
        subject = f"dialect {dialect.name}"
        if not isinstance(dialect.name, str) or not re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", dialect.name):
            found.fail(subject, "dialect names are dotted, lower case, owner first: 'acme.chat'")
        for route in dialect.routes:
            if route.method.upper() not in METHODS or not route.path.startswith("/"):
                found.fail(subject, f"route {route.method} {route.path} needs an HTTP method and a path from '/'")
        try:
            error = dialect.error_body(429, "kit error message", "rate_limit_error", "kit_code")
            if not isinstance(error, bytes) or b"kit error message" not in error:
                raise ValueError(f"it returned {error!r}")
            json.loads(error)
        except Exception as exc:
            found.fail(
                subject, f"error_body(429, message, type, code) must return JSON bytes holding the message: {exc}"
            )
        sample = s.sample(dialect.name)
        if sample is None:
            found.fail(subject, no_sample(dialect.name))
            continue
        for stream in (False, True) if sample.stream is not None else (False,):
            if problem := _peek_problem(dialect, sample, stream):
                found.fail(subject, problem)
        for garbage in GARBAGE:
            try:
                dialect.peek(garbage, sample.params_for("kit-model", False))
            except InvalidRequest:
                continue
            except Exception as exc:
                found.fail(subject, f"peek raised {what(exc)} for {garbage!r}; raise InvalidRequest('what is wrong')")
            else:
                found.fail(subject, f"peek accepted {garbage!r}; refuse it with InvalidRequest (a 400 to the client)")
        _check_estimates(found, subject, dialect, sample)
        if not found.failed_for(subject):
            found.ok(subject, "peek, garbage, error_body" + (", estimates" if dialect.estimate_prompt else ""))
    if not found.items:
        found.none("the plugin registers no dialects")
    return found.items


def _check_estimates(found: Findings, subject: str, dialect: Dialect, sample: DialectSample) -> None:
    if dialect.estimate_prompt is not None:
        try:
            tokens = dialect.estimate_prompt(json.dumps(sample.request("kit-model", False)).encode(), "kit-model")
            if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
                raise ValueError(f"it returned {tokens!r}")
        except Exception as exc:
            found.fail(subject, f"estimate_prompt(body, model) must return a whole number >= 0: {exc}")
    if dialect.response_text is not None:
        answer = sample.response("kit-model")
        try:
            text = dialect.response_text(json.dumps(answer).encode())
            if not isinstance(text, str):
                raise ValueError(f"it returned {type(text).__name__}")
            if samples.KIT_TEXT in json.dumps(answer) and samples.KIT_TEXT not in text:
                raise ValueError(f"it returned {text!r} for an answer saying {samples.KIT_TEXT!r}")
        except Exception as exc:
            found.fail(subject, f"response_text(body) must return the answer's text: {exc}")


def count_stream(dialect: Dialect, events: Iterable[Any]) -> tuple[Any, list[bool]]:
    """Feed ``events`` to a fresh counter; (counter, usage-only flags). ValueError passes through."""
    counter = dialect.stream_usage()
    flags = []
    for item in events:
        flags.append(counter.feed(item))
    return counter, flags


def check_usage(s: PluginUnderTest) -> list[Finding]:
    found = Findings("usage")
    for dialect in _dialects(s):
        subject = f"usage of {dialect.name}"
        sample = s.sample(dialect.name)
        if sample is None:
            found.skip(subject, "no canonical traffic for this format (see the dialects check)")
            continue
        answer = json.dumps(sample.response("kit-model")).encode()
        try:
            usage = dialect.usage(answer)
            if sample.usage is not None and tokens_of(usage) != sample.usage:
                found.fail(
                    subject,
                    f"usage() read {tokens_of(usage)} (prompt, completion) from the canonical answer, which reports "
                    f"{sample.usage}",
                )
        except Exception as exc:
            found.fail(subject, f"usage() raised {what(exc)} for the canonical answer")
        try:
            dialect.usage(b"{not json")
        except ValueError:
            pass
        except Exception as exc:
            found.fail(subject, f"usage() raised {what(exc)} for a body that is not JSON; raise ValueError")
        if sample.stream is not None:
            _check_stream_counter(found, subject, dialect, sample)
        if not found.failed_for(subject):
            found.ok(subject, "answer" + (" and stream" if sample.stream is not None else ""))
    if not found.items:
        found.none("the plugin registers no dialects")
    return found.items


def _check_stream_counter(found: Findings, subject: str, dialect: Dialect, sample: DialectSample) -> None:
    assert sample.stream is not None
    try:
        counter, flags = count_stream(dialect, sample.stream("kit-model"))
    except Exception as exc:
        found.fail(subject, f"the stream counter raised {what(exc)} on the canonical stream")
        return
    if not all(isinstance(flag, bool) for flag in flags):
        found.fail(subject, "feed(event) must return True (a usage-only event) or False")
    if counter.finished is not True:
        found.fail(
            subject,
            "the counter's finished stayed False after a complete stream: set it when the stream says it is done "
            "(a finish reason, a final event), or the host logs every stream as cut short",
        )
    if sample.usage is not None and tokens_of(counter.result()) != sample.usage:
        found.fail(
            subject,
            f"the stream counter's result() is {tokens_of(counter.result())}; the stream reports {sample.usage}",
        )
    tally = counter.output_text()
    if not (isinstance(tally, tuple) and len(tally) == 2 and isinstance(tally[0], int) and isinstance(tally[1], str)):
        found.fail(subject, f"output_text() must return (tokens counted, text not yet counted), not {tally!r}")
    try:
        dialect.stream_usage().feed(SSEEvent(data="{not json"))
    except ValueError:
        pass
    except Exception as exc:
        found.fail(subject, f"the stream counter raised {what(exc)} for an event that is not JSON; raise ValueError")
    else:
        found.fail(subject, "the stream counter accepted an event that is not JSON; raise ValueError")
