"""Where a method's settings come from: New API's option keys, mirrored on the Plugins page.

Each field naming an option (``json_schema_extra={"option": "PayAddress"}``) is that option: the
host shows the option's value in the field and saving the field sets the option, so a
configuration imported from New API, set with ``PUT /api/option/``, or entered on the Plugins
page is one and the same value. The option wins when set; the stored field is the fallback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr


def option(key: str) -> dict[str, Any]:
    """``json_schema_extra`` of a field that mirrors gateway option ``key``."""
    return {"option": key}


def pick(value: Any, options: Any, key: str, default: str = "") -> str:
    """Option ``key`` when set, else the stored setting, else ``default``."""
    if got := options.get(key):
        return str(got)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return str(value) if value not in (None, "") else default


def pick_number(value: float | int | None, options: Mapping[str, str], key: str, default: float) -> float:
    for candidate in (options.get(key), value):
        if candidate not in (None, ""):
            try:
                number = float(candidate)
            except ValueError:
                continue
            if number > 0:
                return number
    return default


def pick_json(value: str, options: Mapping[str, str], key: str, default: Any) -> Any:
    try:
        return json.loads(pick(value, options, key)) if pick(value, options, key) else default
    except ValueError:
        return default


def pick_bool(value: bool | None, options: Mapping[str, str], key: str) -> bool:
    if (got := options.get(key)) in ("true", "false"):
        return got == "true"
    return bool(value)


def answer(data: Any = None, error: str | None = None) -> dict[str, Any]:
    """New API's reply to its payment routes (``message`` "success", else the error, also in ``data``)
    with the host's ``success`` flag."""
    if error is not None:
        return {"success": False, "message": error, "data": error}
    return {"success": True, "message": "success", "data": data}
