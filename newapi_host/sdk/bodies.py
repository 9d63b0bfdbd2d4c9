"""Small JSON helpers every dialect and converter needs, in one place.

Bodies arrive as bytes; the relay decodes them only where it must. These helpers read a body the
two ways plugins need: strictly (a client's request, where a bad body is the client's error) and
leniently (an estimate or a usage read, where a bad body just counts as nothing).
"""

from __future__ import annotations

from typing import Any

import msgspec

from newapi_host.plugins.contracts import InvalidRequest

_encoder = msgspec.json.Encoder()


def read_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or :class:`InvalidRequest` saying what is wrong (for ``peek``)."""
    if not body.strip():
        raise InvalidRequest("request body is empty; a JSON object is required")
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequest("request body must be a JSON object")
    return data


def object_or_empty(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or ``{}`` when it is not one (for estimates and usage reads)."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def dumps(value: Any) -> str:
    """Compact JSON text, for an SSE event's ``data``."""
    return _encoder.encode(value).decode()


def token_count(value: Any) -> int:
    """A token count read from an upstream's usage: a whole number >= 0 (``12.0`` counts, as some
    APIs type counts as numbers), anything else is 0."""
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
