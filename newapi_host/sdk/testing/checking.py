"""What the offline checks share: canned values, and small judgements of what a plugin hands over."""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from newapi_host.sdk import Usage

from .findings import Findings

KIT_BASE_URL = "https://upstream.kit.test"
KIT_KEY = "sk-kit-key-0123"
GUIDE = "docs/plugin-testing.md"
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def what(exc: BaseException) -> str:
    """An exception as a report shows it: its type and (the start of) its message."""
    return f"{type(exc).__name__}: {str(exc)[:400]}"


def tokens_of(usage: Any) -> tuple[int, int] | None:
    return (usage.prompt_tokens, usage.completion_tokens) if isinstance(usage, Usage) else None


def as_json(value: Any) -> str | None:
    """``value`` as JSON text, or None when it is not JSON-serialisable."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return None


def run_async(function: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Await ``function()`` on a fresh event loop in a thread of its own (the caller may be inside
    a running loop, as a pytest-asyncio test is)."""
    result: dict[str, Any] = {}

    def target() -> None:
        async def bounded() -> Any:
            return await asyncio.wait_for(function(), timeout)

        try:
            result["value"] = asyncio.run(bounded())
        except BaseException as exc:  # handed back to the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, name="kit-async-check", daemon=True)
    thread.start()
    thread.join(timeout + 5)
    if "error" in result:
        raise result["error"]
    if "value" not in result:
        raise TimeoutError(f"no answer within {timeout} s")
    return result["value"]


def is_async(function: Any) -> bool:
    """An ``async def`` function, or an object whose ``__call__`` is one."""
    call = type(function).__call__ if not inspect.isroutine(function) else None
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(call)


def web_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def own(objects: Iterable[Any], cls: type, kind: str, found: Findings) -> list[Any]:
    """The objects of the right class; the others are failures of ``found``'s check."""
    good = []
    for obj in objects:
        if isinstance(obj, cls):
            good.append(obj)
        else:
            found.fail(f"{kind} {obj!r}", f"registered a {type(obj).__name__} as a {kind}; pass a {cls.__name__}")
    return good
