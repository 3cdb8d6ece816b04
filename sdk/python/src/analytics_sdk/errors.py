"""Typed errors. The server answers every error with `{"error": {"code", "message", "details"}}`;
each exception keeps those three and the HTTP status, so callers can branch on the class or the code
without parsing bodies."""

from __future__ import annotations

from typing import Any


class AnalyticsError(Exception):
    """The base of every error the SDK raises. `status` is None when no HTTP answer came."""

    def __init__(self, message: str, *, status: int | None = None, code: str = "error",
                 details: Any = None) -> None:
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
    """403: a write key was used where a secret key is needed."""


class NotFoundError(AnalyticsError):
    """404: no such object in the key's tenant."""


class ValidationError(AnalyticsError):
    """400, 413, 415 or 422: the request was refused as sent; `details` says what is wrong (for a
    batch, `{"accepted", "rejected": [{"index", "error"}]}`)."""


class ConflictError(AnalyticsError):
    """409: the name is already taken."""


class RateLimitError(AnalyticsError):
    """429: the per-key rate or the monthly quota; `retry_after` is the server's wait in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(AnalyticsError):
    """5xx: the server failed or is unavailable; the same request may succeed later."""


class TransportError(AnalyticsError):
    """No HTTP answer: connection refused or reset, timeout, DNS failure."""


class QueueFullError(AnalyticsError):
    """The client's queue holds `max_queue` items and its policy is `on_full="raise"`."""


class TenantMismatchError(AnalyticsError):
    """The client was given a tenant id, and its secret key belongs to another tenant."""


class DeliveryError(AnalyticsError):
    """Queued items the server did not store, reported after the fact (they were sent in the
    background): to `on_error`, in the log, and in the result of `flush()`.

    - `items`: the refused events or metric values, as sent;
    - `reasons`: the server's reason for each item, in the same order (the batch's message when the
      whole batch was refused or out of retries);
    - `channel`: "events" or "metrics";
    - `status`, `code`, `message`, `details`: those of the server's answer (`status` None when no
      answer came); `cause`: the underlying error, if any.
    """

    def __init__(self, message: str, *, channel: str, items: list[dict[str, Any]], reasons: list[str],
                 cause: Exception | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.channel, self.items, self.reasons, self.cause = channel, items, reasons, cause


_BY_STATUS: dict[int, type[AnalyticsError]] = {
    400: ValidationError, 401: AuthenticationError, 403: PermissionDeniedError, 404: NotFoundError,
    409: ConflictError, 413: ValidationError, 415: ValidationError, 422: ValidationError,
}


def from_response(status: int, body: Any, retry_after: str | None) -> AnalyticsError:
    """The typed error for an HTTP error answer; tolerates bodies that are not the standard shape
    (a proxy's HTML page), so a misbehaving middlebox still yields the right class."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    message = str(error.get("message") or f"HTTP {status}")
    kwargs: dict[str, Any] = {"status": status, "code": str(error.get("code") or "error"),
                              "details": error.get("details")}
    if status == 429:
        return RateLimitError(message, retry_after=_seconds(retry_after), **kwargs)
    if status >= 500:
        return ServerError(message, **kwargs)
    return _BY_STATUS.get(status, AnalyticsError)(message, **kwargs)


def _seconds(value: str | None) -> float | None:
    """Retry-After in seconds. The server sends seconds; an HTTP date (rare) is treated as absent,
    and the backoff applies instead."""
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None
