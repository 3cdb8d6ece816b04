"""Domain exceptions. Services raise these; `apps.core.errors.exception_handler` maps each to its
HTTP status and the stable error body `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code


class ValidationFailed(DomainError):
    status_code = 400
    code = "invalid"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Unavailable(DomainError):
    """The work could not be done now (a query past its time limit); retrying later may succeed."""

    status_code = 503
    code = "unavailable"


class RateLimited(DomainError):
    """Too many requests; `retry_after` seconds until one may succeed."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
