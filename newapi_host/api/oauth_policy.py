"""Access policies of custom OAuth providers (New API's ``access_policy``): who may sign in.

A policy is JSON: ``{"logic": "and"|"or", "conditions": [{"field", "op", "value"}], "groups":
[<policy>...]}``, checked against the provider's user-info answer after the code was traded.
``field`` is a dotted path as in the claim mapping; ``op`` one of eq, ne, gt, gte, lt, lte (numbers
compared as numbers when both sides are, text otherwise), in, not_in (``value`` a list),
contains, not_contains (a substring of text, or an element of a list), exists, not_exists.

The refusal's message is root's ``access_denied_message`` with ``{{provider}}``, ``{{field}}``,
``{{op}}``, ``{{required}}``, ``{{current}}`` and ``{{current.<path>}}`` filled in (New API's
placeholders), or a fixed sentence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OPS = frozenset(
    {"eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "contains", "not_contains", "exists", "not_exists"}
)
MAX_CHARS = 16384
MAX_DEPTH = 8
DENIED = "Access denied: your account does not meet this provider's access requirements."
_MISSING = object()


class PolicyError(ValueError):
    """The policy is not one this module can check; the message says where."""


@dataclass(frozen=True, slots=True)
class Failure:
    field: str = ""
    op: str = ""
    expected: Any = None
    current: Any = None


def lookup(data: Any, path: str) -> Any:
    """The value at a dotted path (``data.user.id``, ``roles.0``), or ``_MISSING``."""
    value = data
    for part in [p for p in path.strip().split(".") if p]:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def as_text(value: Any) -> str:
    """A value as text: JSON's spelling for true/false/null and containers, integers without .0."""
    if value is _MISSING or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value).strip()


def parse(raw: str) -> dict[str, Any]:
    """The policy in ``raw``, checked; :class:`PolicyError` when it cannot be used."""
    if len(raw) > MAX_CHARS:
        raise PolicyError(f"it is longer than {MAX_CHARS} characters")
    try:
        policy = json.loads(raw)
    except ValueError:
        raise PolicyError("it is not valid JSON") from None
    _check(policy, "policy", 0)
    return policy


def _check(policy: Any, where: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise PolicyError(f"groups nest deeper than {MAX_DEPTH} levels")
    if not isinstance(policy, dict):
        raise PolicyError(f"{where} must be a JSON object")
    logic = str(policy.get("logic") or "and").strip().lower()
    if logic not in ("and", "or"):
        raise PolicyError(f"{where}.logic must be and or or")
    conditions, groups = policy.get("conditions") or [], policy.get("groups") or []
    if not isinstance(conditions, list) or not isinstance(groups, list):
        raise PolicyError(f"{where}.conditions and {where}.groups must be lists")
    if not conditions and not groups:
        raise PolicyError(f"{where} needs at least one condition or group")
    for n, condition in enumerate(conditions):
        here = f"{where}.conditions[{n}]"
        if not isinstance(condition, dict) or not str(condition.get("field") or "").strip():
            raise PolicyError(f"{here}.field is required")
        op = str(condition.get("op") or "").strip().lower()
        if op not in OPS:
            raise PolicyError(f"{here}.op must be one of {', '.join(sorted(OPS))}")
        if op in ("in", "not_in") and not isinstance(condition.get("value"), list):
            raise PolicyError(f"{here}.value must be a list for {op}")
    for n, group in enumerate(groups):
        _check(group, f"{where}.groups[{n}]", depth + 1)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is _MISSING or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _compare(left: Any, right: Any) -> int:
    a, b = _number(left), _number(right)
    if a is None or b is None:
        a, b = as_text(left), as_text(right)  # type: ignore[assignment]
    return (a > b) - (a < b)  # type: ignore[operator]


def _holds(user: Any, condition: Mapping[str, Any]) -> tuple[bool, Failure]:
    field = str(condition["field"]).strip()
    op = str(condition["op"]).strip().lower()
    expected = condition.get("value")
    current = lookup(user, field)
    failure = Failure(field, op, expected, None if current is _MISSING else current)
    if op in ("exists", "not_exists"):
        return (current is not _MISSING) == (op == "exists"), failure
    if current is _MISSING:  # a missing field equals nothing, not even the empty text
        return op in ("ne", "not_in", "not_contains"), failure
    if op in ("in", "not_in"):
        inside = any(_compare(current, item) == 0 for item in expected)
        return inside == (op == "in"), failure
    if op in ("contains", "not_contains"):
        if isinstance(current, str):
            found = as_text(expected) in current
        elif isinstance(current, list):
            found = any(_compare(item, expected) == 0 for item in current)
        else:
            found = False
        return found == (op == "contains"), failure
    order = _compare(current, expected)
    result = {
        "eq": order == 0,
        "ne": order != 0,
        "gt": order > 0,
        "gte": order >= 0,
        "lt": order < 0,
        "lte": order <= 0,
    }
    return result[op], failure


def evaluate(user: Any, policy: Mapping[str, Any]) -> tuple[bool, Failure | None]:
    """Whether ``user`` (the user-info answer) passes; the first failed condition otherwise."""
    logic = str(policy.get("logic") or "and").strip().lower()
    outcomes = [_holds(user, c) for c in policy.get("conditions") or []]
    outcomes += [evaluate(user, g) for g in policy.get("groups") or []]
    if logic == "or":
        if any(ok for ok, _ in outcomes):
            return True, None
        return False, next((f for _, f in outcomes if f is not None), None)
    for ok, failure in outcomes:
        if not ok:
            return False, failure
    return True, None


def denied_message(template: str, provider: str, user: Any, failure: Failure | None) -> str:
    """Root's refusal text with New API's placeholders filled in, or the fixed sentence."""
    message = template.strip()
    if not message:
        return DENIED
    failure = failure or Failure()
    message = re.sub(r"\{\{current\.([^}]+)\}\}", lambda m: as_text(lookup(user, m.group(1).strip())), message)
    message = re.sub(
        r"\{\{required\.([^}]+)\}\}",
        lambda m: as_text(failure.expected) if m.group(1).strip() == failure.field else "",
        message,
    )
    for key, value in (
        ("provider", provider),
        ("field", failure.field),
        ("op", failure.op),
        ("required", as_text(failure.expected)),
        ("current", as_text(failure.current)),
    ):
        message = message.replace("{{" + key + "}}", value)
    return message.strip()[:500]
