"""One time budget for all the query work of a request.

PostgreSQL's statement_timeout bounds one statement; a request may run many (a trends query runs
one per series, a dashboard up to 50 widgets, a report every widget). Within `request_budget(ms)`
every statement's timeout is what is left of the request's budget (at most QUERY_TIMEOUT_MS), and
a statement that would start with nothing left is refused as `query_timeout` (503), like one that
ran past its limit. Outside a request (workers, commands) each statement gets QUERY_TIMEOUT_MS.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from apps.core.exceptions import Unavailable

_deadline: ContextVar[float | None] = ContextVar("query_deadline", default=None)


def budget_spent() -> Unavailable:
    return Unavailable(f"The request used its query time budget ({settings.QUERY_REQUEST_BUDGET_MS} ms); narrow "
                       "the range, the filters or the number of widgets.", code="query_timeout")


@contextmanager
def request_budget(ms: int) -> Iterator[None]:
    token = _deadline.set(time.monotonic() + ms / 1000)
    try:
        yield
    finally:
        _deadline.reset(token)


def statement_timeout_ms() -> int:
    """The timeout for the next statement; Unavailable when the request's budget is spent."""
    deadline = _deadline.get()
    if deadline is None:
        return settings.QUERY_TIMEOUT_MS
    left = int((deadline - time.monotonic()) * 1000)
    if left <= 0:
        raise budget_spent()
    return min(settings.QUERY_TIMEOUT_MS, left)


def apply(cursor: Any) -> None:
    """Sets the next statements' timeout (in the current transaction) to what is left."""
    cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{statement_timeout_ms()}ms"])


class QueryBudgetMiddleware:
    """Every request gets QUERY_REQUEST_BUDGET_MS of query time in all."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with request_budget(settings.QUERY_REQUEST_BUDGET_MS):
            return self.get_response(request)


def query_rate_check(api_key: Any) -> None:
    """A key's query, aggregate and dashboard-data requests: at most QUERY_RATE_LIMIT_PER_MINUTE a
    minute (429 with Retry-After past it)."""
    from apps.core import throttle

    throttle.rate_check(key=f"queries:{api_key.prefix}", limit=settings.QUERY_RATE_LIMIT_PER_MINUTE,
                        window_seconds=60, what="query requests")
