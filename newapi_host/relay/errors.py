"""Relay errors: one exception type carrying what the client's dialect needs to render it."""

from __future__ import annotations

import msgspec


class RelayError(Exception):
    """An error answered to the API client in its own dialect's error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "new_api_error",
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code = status, message, type_, code
        self.headers = headers or {}


def invalid_request(message: str, code: str = "invalid_request") -> RelayError:
    return RelayError(400, message, type_="invalid_request_error", code=code)


def upstream_error(body: bytes, status: int) -> tuple[str, str, str | None]:
    """(message, type, code) from an upstream error body, whatever its dialect."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        text = body[:300].decode("utf-8", "replace").strip()
        return (text or f"upstream returned status {status}"), "upstream_error", None
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        code = err.get("code")
        return (
            str(err.get("message") or f"upstream returned status {status}"),
            str(err.get("type") or "upstream_error"),
            str(code) if code is not None else None,
        )
    if isinstance(err, str):
        return err, "upstream_error", None
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return data["message"], "upstream_error", None
    return f"upstream returned status {status}", "upstream_error", None
