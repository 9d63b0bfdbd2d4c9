"""What both Responses converters share: ids derived from upstream ids, text of content parts."""

from __future__ import annotations

import re
import uuid
from typing import Any

import msgspec

_NOT_ID = re.compile(r"[^A-Za-z0-9]")


def read_event(data: str) -> Any:
    """An upstream stream event's JSON, or ValueError (the host then ends the stream with an error)."""
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError:
        raise ValueError("the upstream sent an event that is not JSON") from None


def id_base(value: Any, *prefixes: str) -> str:
    """A stable, id-safe base derived from an upstream id (``chatcmpl-abc`` -> ``abc``)."""
    text = value if isinstance(value, str) else ""
    for prefix in prefixes:
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    text = _NOT_ID.sub("", text)
    return text or uuid.uuid4().hex


def fc_id(call_id: str) -> str:
    return "fc_" + id_base(call_id, "call_", "fc_")


def copy_fields(src: dict, dst: dict, *keys: str) -> None:
    for key in keys:
        if src.get(key) is not None:
            dst[key] = src[key]


def text_of(content: Any) -> str:
    """Plain text of a content value: a string or a list of text-like parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    out = []
    for part in content:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, dict):
            text = part.get("text")
            if isinstance(text, str):
                out.append(text)
            elif isinstance(part.get("refusal"), str):
                out.append(part["refusal"])
    return "".join(out)
