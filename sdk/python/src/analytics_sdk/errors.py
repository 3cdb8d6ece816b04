"""Typed errors. Every error the server answers carries its stable body
`{"error": {"code", "message", "details"}}`; the exception keeps all three and the status."""

from __future__ import annotations

from typing import Any


class AnalyticsError(Exception):
    def __init__(self, message: str, *, status: int | None = None, code: str = "error", details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = details

    def __str__(self) -> str:
        return f"{self.status or '-'} {self.code}: {self.message}"


class AuthenticationError(AnalyticsError):
    """401: the key is missing, unknown or revoked."""


class PermissionDeniedError(AnalyticsError):
    """403: a write key where a secret key is needed."""


class NotFoundError(AnalyticsError):
    """404."""


class ValidationError(AnalyticsError):
    """400, 413, 415 or 422: the request was refused as it is; `details` says what is wrong."""


class ConflictError(AnalyticsError):
    """409: the name is taken."""


class RateLimitError(AnalyticsError):
    """429: `retry_after` seconds until a request may succeed (when the server said)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(AnalyticsError):
    """5xx: the server failed or is unavailable; retrying later may succeed."""


class TransportError(AnalyticsError):
    """No answer: connection refused or reset, timeout."""


class QueueFullError(AnalyticsError):
    """The client's queue is full and its policy is `on_full="raise"`."""


_BY_STATUS: dict[int, type[AnalyticsError]] = {401: AuthenticationError, 403: PermissionDeniedError,
                                               404: NotFoundError, 409: ConflictError, 429: RateLimitError}


def from_response(status: int, body: Any, retry_after: str | None) -> AnalyticsError:
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    kwargs: dict[str, Any] = {"status": status, "code": str(error.get("code") or "error"),
                              "details": error.get("details")}
    message = str(error.get("message") or f"HTTP {status}")
    if status == 429:
        return RateLimitError(message, retry_after=parse_retry_after(retry_after), **kwargs)
    if status >= 500:
        return ServerError(message, **kwargs)
    return _BY_STATUS.get(status, ValidationError)(message, **kwargs)


def parse_retry_after(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from this server; the backoff applies instead
