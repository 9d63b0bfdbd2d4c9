"""Keeping credentials out of upstream error text that reaches anyone but root.

Upstreams quote what they were sent: OpenAI answers a bad key with "Incorrect API key provided:
sk-...", proxies and gateways echo headers and URLs. That text reaches users (relay errors, their
error logs) and admins (channel tests, disable reasons), who must not learn a channel's key.
Every key of the channel is masked, and so is anything shaped like a credential (bearer tokens,
well-known key prefixes, ``key=`` query parameters, passwords in URLs), whichever channel it came
from. All of this runs on error paths only.

For admin tools, :func:`status_error` also drops raw body text: a non-root admin sees the status
and, when the answer is a JSON error, its message; never the page an internal service returned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

MASK = "***"
UNREACHABLE = "upstream unreachable"  # all a non-root caller learns of a failed or refused connection
MIN_SECRET = 6  # shorter "keys" (test fixtures, placeholders) would mask ordinary words

_SHAPES = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{4,}"), r"\1 " + MASK),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{6,}"), "sk-" + MASK),  # OpenAI, Anthropic (sk-ant-) and kin
    (re.compile(r"\bAIza[0-9A-Za-z_-]{20,}"), "AIza" + MASK),  # Google API keys
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@:]*:[^/\s@]*@"), r"\1" + MASK + "@"),  # user:password@
    (
        re.compile(r"(?i)([?&](?:key|api[_-]?key|access[_-]?token|token|secret|sig|signature)=)[^&\s\"'<>]+"),
        r"\1" + MASK,
    ),
)


def secrets_of(keys: Iterable[str]) -> list[str]:
    """A channel's keys and the parts of compound keys (``AK|SK|region`` style), longest first."""
    found: set[str] = set()
    for key in keys:
        key = key.strip()
        found.add(key)
        found.update(part.strip() for part in re.split(r"[|\n]", key))
    return sorted((s for s in found if len(s) >= MIN_SECRET), key=len, reverse=True)


def redact(text: str, keys: Iterable[str] = ()) -> str:
    """``text`` with the given keys and every credential-shaped string masked."""
    for secret in secrets_of(keys):
        text = text.replace(secret, MASK)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


def json_error_message(body: bytes) -> str | None:
    """The message of a JSON error answer (OpenAI, Anthropic, Gemini shapes), None otherwise."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    if isinstance(error, str):
        return error
    return data["message"] if isinstance(data.get("message"), str) else None


def status_error(status: int, body: bytes, keys: Iterable[str] = ()) -> str:
    """What a non-root admin reads of an error status: the JSON error's message, redacted."""
    message = json_error_message(body)
    if not message:
        return f"status {status}"
    return f"status {status}: {redact(message, keys)[:300]}"
