"""Where a method's settings come from: the Plugins page first, New API's option keys second.

Every field of a method's settings is empty by default; an empty field falls back to the option
New API keeps the same value in (``PayAddress``, ``StripeApiSecret`` ...), so a configuration
imported from New API, or set with ``PUT /api/option/``, keeps working, and what root enters on
the Plugins page wins over it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr


def pick(value: Any, options: Mapping[str, str], key: str, default: str = "") -> str:
    """The setting when set, else option ``key``, else ``default``."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value not in (None, ""):
        return str(value)
    return options.get(key) or default


def pick_number(value: float | int | None, options: Mapping[str, str], key: str, default: float) -> float:
    if value is not None:
        return float(value)
    try:
        return float(options.get(key) or default)
    except ValueError:
        return default


def pick_json(value: str, options: Mapping[str, str], key: str, default: Any) -> Any:
    try:
        return json.loads(pick(value, options, key)) if pick(value, options, key) else default
    except ValueError:
        return default


def pick_bool(value: bool | None, options: Mapping[str, str], key: str) -> bool:
    return value if value is not None else options.get(key) == "true"


def answer(data: Any = None, error: str | None = None) -> dict[str, Any]:
    """New API's reply to its payment routes (``message`` "success", else the error, also in ``data``)
    with the host's ``success`` flag."""
    if error is not None:
        return {"success": False, "message": error, "data": error}
    return {"success": True, "message": "success", "data": data}
