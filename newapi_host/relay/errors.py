"""Relay errors: one exception type carrying what the client's dialect needs to render it."""

from __future__ import annotations


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
