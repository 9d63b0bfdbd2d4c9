"""Function-parameter schemas between JSON Schema (OpenAI) and Gemini's OpenAPI subset."""

from __future__ import annotations

from typing import Any

# What Gemini's Schema object accepts (New API's allow-list, shared/gemini/schema.go); the rest
# (additionalProperties, $schema, $ref, const, oneOf, ...) makes Gemini reject the request.
GEMINI_SCHEMA_FIELDS = frozenset(
    {
        "anyOf",
        "default",
        "description",
        "enum",
        "example",
        "format",
        "items",
        "maxItems",
        "maxLength",
        "maxProperties",
        "maximum",
        "minItems",
        "minLength",
        "minProperties",
        "minimum",
        "nullable",
        "pattern",
        "properties",
        "propertyOrdering",
        "required",
        "title",
        "type",
    }
)
_TYPES = {"object", "array", "string", "integer", "number", "boolean"}
MAX_DEPTH = 64


def _gemini_type(schema: dict[str, Any]) -> None:
    raw = schema.get("type")
    if raw is None:
        return
    values = raw if isinstance(raw, list) else [raw]
    chosen = ""
    nullable = False
    for value in values:
        if not isinstance(value, str):
            continue
        low = value.strip().lower()
        if low == "null":
            nullable = True
        elif not chosen:
            chosen = low.upper() if low in _TYPES else value
    if nullable:
        schema["nullable"] = True
    if chosen:
        schema["type"] = chosen
    else:
        schema.pop("type", None)


def to_gemini_schema(schema: Any, depth: int = 0) -> Any:
    """JSON Schema -> Gemini Schema: unsupported keys dropped, types upper-cased, ``null`` -> nullable."""
    if isinstance(schema, list):
        return [to_gemini_schema(item, depth + 1) for item in schema] if depth < MAX_DEPTH else []
    if not isinstance(schema, dict):
        return schema
    out = {k: v for k, v in schema.items() if k in GEMINI_SCHEMA_FIELDS}
    _gemini_type(out)
    if depth >= MAX_DEPTH:
        for key in ("properties", "items", "anyOf"):
            out.pop(key, None)
        return out
    if isinstance(out.get("properties"), dict):
        out["properties"] = {name: to_gemini_schema(value, depth + 1) for name, value in out["properties"].items()}
    items = out.get("items")
    if isinstance(items, list):
        if items:
            out["items"] = to_gemini_schema(items[0], depth + 1)
        else:
            out.pop("items")
    elif isinstance(items, dict):
        out["items"] = to_gemini_schema(items, depth + 1)
    if isinstance(out.get("anyOf"), list):
        out["anyOf"] = [to_gemini_schema(item, depth + 1) for item in out["anyOf"]]
    if isinstance(out.get("enum"), list):
        out["enum"] = [str(v) for v in out["enum"] if v is not None]  # Gemini enums are strings
    return out


def to_json_schema(schema: Any, depth: int = 0) -> Any:
    """Gemini Schema -> JSON Schema: types lower-cased, ``nullable`` -> a ``null`` type."""
    if depth >= MAX_DEPTH:
        return schema
    if isinstance(schema, list):
        return [to_json_schema(item, depth + 1) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, str):
            low = value.lower()
            out["type"] = low if low in _TYPES else value
        elif key == "properties" and isinstance(value, dict):
            out["properties"] = {name: to_json_schema(v, depth + 1) for name, v in value.items()}
        elif key in ("items", "anyOf", "oneOf", "allOf", "not", "additionalProperties") and isinstance(
            value, (dict, list)
        ):
            out[key] = to_json_schema(value, depth + 1)
        elif key in ("nullable", "propertyOrdering", "example"):
            continue
        else:
            out[key] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out
