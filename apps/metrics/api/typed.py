"""Typed tracking forms (seed 003's `track/action`, `track/api-request`, `track/error`,
`track/system-metrics`): thin translations onto event ingestion (apps.events.api.ingest) and metric
values (apps.metrics.services). Plain Django views on the ingestion path, like the other ingestion
endpoints: a write or a secret key with the `write` scope, the same body limits, the stable error
body on any refusal, nothing stored unless the whole request is valid.

- action:         an event named by `action` (`user_id`/`anonymous_id`, `session_id`, `details` as
                  its properties).
- api-request:    a value of the histogram `api_request.duration` (ms; dimensions endpoint, method,
                  status) and, when `status` >= 500, an event `$api_error`.
- error:          an event `$error` with `error_type`, `message` and `stack` (bounded sizes).
- system-metrics: one value per numeric field, of the gauge `system.<field>`.
The metrics are created on first use (an existing metric of that name is used as it is declared).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any

import msgspec
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.core.errors import error_response
from apps.core.exceptions import DomainError
from apps.events import limits
from apps.events.api.ingest import receive_built
from apps.events.ingestion import BodyError, EventRejected, read_body
from apps.metrics import services
from apps.metrics.exceptions import MetricAlreadyExists, MetricNotFound
from apps.metrics.ingestion import Refused, Rules, ValueIn, latest_allowed, value_row
from apps.metrics.models import Metric
from apps.metrics.selectors import metric_get
from apps.tenancy.middleware import enter_tenant_by_key

API_REQUEST_METRIC = "api_request.duration"
SYSTEM_METRIC_PREFIX = "system."
MAX_MESSAGE = 2_000
MAX_STACK = 16_000
MAX_ENDPOINT = 200
MAX_SYSTEM_FIELDS = 50
SYSTEM_FIELD = re.compile(r"^[a-z0-9][a-z0-9_]{0,63}$")
_ACTOR_FIELDS = ("user_id", "anonymous_id", "session_id", "timestamp")


def _finite_number(number: int | float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an integer beyond any float
        return False


def _json(status: int, body: dict[str, Any]) -> HttpResponse:
    return HttpResponse(msgspec.json.encode(body), status=status, content_type="application/json")


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise EventRejected("The body must be a JSON object.")
    return body


def _actor(body: dict[str, Any]) -> dict[str, Any]:
    """The event fields the typed forms share with the native event (validated by parse_native)."""
    return {field: body[field] for field in _ACTOR_FIELDS if body.get(field) is not None}


def _text(body: dict[str, Any], field: str, limit: int, *, required: bool) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()) or "\x00" in value:
        raise EventRejected(f"`{field}` must be a non-empty string." if required else f"`{field}` must be a string.")
    if len(value) > limit:
        raise EventRejected(f"`{field}` is longer than {limit} characters.")
    return value


def _unknown(body: dict[str, Any], allowed: set[str]) -> None:
    extra = set(body) - allowed
    if extra:
        raise EventRejected(f"Unknown fields: {', '.join(sorted(map(str, extra)))[:500]}.")


# --- events ----------------------------------------------------------------------------------------


def _action_event(body: Any) -> dict[str, Any]:
    body = _object(body)
    _unknown(body, {"action", "details", *_ACTOR_FIELDS})
    return {"event_name": body.get("action"), "properties": body.get("details"), **_actor(body)}


def _error_event(body: Any) -> dict[str, Any]:
    body = _object(body)
    _unknown(body, {"error_type", "message", "stack", "context", *_ACTOR_FIELDS})
    properties = {"error_type": _text(body, "error_type", 200, required=True),
                  "message": _text(body, "message", MAX_MESSAGE, required=True)}
    stack = _text(body, "stack", MAX_STACK, required=False)
    if stack is not None:
        properties["stack"] = stack
    context = body.get("context")
    if context is not None and not isinstance(context, dict):
        raise EventRejected("`context` must be an object.")
    if context:
        properties["context"] = context
    # A server-side error may have no user: it is then the anonymous `$server`'s.
    actor = _actor(body)
    if "user_id" not in actor and "anonymous_id" not in actor:
        actor["anonymous_id"] = "$server"
    return {"event_name": "$error", "properties": properties, **actor}


@csrf_exempt
@require_POST
def track_action(request: HttpRequest) -> HttpResponse:
    return receive_built(request, _action_event)


@csrf_exempt
@require_POST
def track_error(request: HttpRequest) -> HttpResponse:
    return receive_built(request, _error_event)


# --- metric values ---------------------------------------------------------------------------------


def _read(request: HttpRequest) -> tuple[Any, HttpResponse | None]:
    """The body, after the limits every ingestion body has, and the request's tenant entered."""
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > settings.INGEST_MAX_BODY_BYTES:
        return None, error_response(413, "body_too_large",
                                    f"The body is larger than {settings.INGEST_MAX_BODY_BYTES} bytes.")
    try:
        body = read_body(request.body, request.META.get("HTTP_CONTENT_ENCODING", ""))
    except BodyError as exc:
        return None, error_response(exc.status, exc.code, exc.message)
    if request.api_key is None:
        refusal = enter_tenant_by_key(request, None)  # no key in the header: 401
        if refusal is not None:
            return None, refusal
    refusal = limits.limits_check(key_prefix=request.api_key.prefix, tenant_id=request.tenant.id,
                                  monthly_quota=2**62, events=0)
    if refusal is not None:
        return None, error_response(429, refusal.code, refusal.message,
                                    headers={"Retry-After": str(refusal.retry_after)})
    if not isinstance(body, dict):
        return None, error_response(400, "invalid", "The body must be a JSON object.")
    return body, None


def _metric(name: str, metric_type: str, *, unit: str = "", dimensions: list[str] | None = None) -> Metric:
    """The metric `name`, created on first use."""
    try:
        return metric_get(name=name)
    except MetricNotFound:
        try:
            return services.metric_create(name=name, metric_type=metric_type, unit=unit, dimensions=dimensions,
                                          description="Created by a typed tracking endpoint.")
        except MetricAlreadyExists:  # a concurrent first use
            return metric_get(name=name)


def _value(metric: Metric, value: Any, timestamp: Any, dimensions: dict[str, Any] | None, now: datetime):  # noqa: ANN202
    try:
        return value_row(Rules.of(metric), ValueIn(value=value, timestamp=timestamp, dimensions=dimensions),
                         now, latest_allowed(now))
    except Refused as exc:
        raise EventRejected(f"{metric.name}: {exc}") from None


@csrf_exempt
@require_POST
def track_api_request(request: HttpRequest) -> HttpResponse:
    """`{endpoint, method, status, duration_ms, user_id?, session_id?, timestamp?}`."""
    body, refusal = _read(request)
    if refusal is not None:
        return refusal
    try:
        _unknown(body, {"endpoint", "method", "status", "duration_ms", *_ACTOR_FIELDS})
        endpoint = _text(body, "endpoint", MAX_ENDPOINT, required=True)
        method = _text(body, "method", 16, required=True).upper()
        status = body.get("status")
        if type(status) is not int or not 100 <= status <= 599:
            raise EventRejected("`status` must be an HTTP status code (100 to 599).")
        duration = body.get("duration_ms")
        if type(duration) not in (int, float) or not _finite_number(duration) or duration < 0:
            raise EventRejected("`duration_ms` must be a non-negative number.")
        now = datetime.now(timezone.utc)
        metric = _metric(API_REQUEST_METRIC, Metric.Type.HISTOGRAM, unit="ms",
                         dimensions=["endpoint", "method", "status"])
        row = _value(metric, duration, body.get("timestamp"),
                     {"endpoint": endpoint, "method": method, "status": status}, now)
        event = None
        if status >= 500:
            event = {"event_name": "$api_error", **_actor(body),
                     "properties": {"endpoint": endpoint, "method": method, "status": status,
                                    "duration_ms": duration}}
            if "user_id" not in event and "anonymous_id" not in event:
                event["anonymous_id"] = "$server"
    except EventRejected as exc:
        return error_response(400, "invalid", str(exc))
    except DomainError as exc:
        return error_response(exc.status_code, exc.code, exc.message, exc.details)
    if event is not None:
        # The event first: its checks, quota and validation may refuse the request; then the value.
        answer = receive_built(request, lambda _body: event)
        if answer.status_code != 200:
            return answer
    try:
        services.metric_rows_record([row], now)
    except DomainError as exc:
        return error_response(exc.status_code, exc.code, exc.message, exc.details)
    return _json(200, {"accepted": 1, "rejected": [], "values": 1, "events": 1 if event else 0})


@csrf_exempt
@require_POST
def track_system_metrics(request: HttpRequest) -> HttpResponse:
    """`{"cpu_percent": 12.5, "memory_percent": 40, ..., "dimensions"?: {"host": "web-1"}, "timestamp"?}`."""
    body, refusal = _read(request)
    if refusal is not None:
        return refusal
    fields = {k: v for k, v in body.items() if k not in ("timestamp", "dimensions")}
    try:
        if not fields or len(fields) > MAX_SYSTEM_FIELDS:
            raise EventRejected(f"Send 1 to {MAX_SYSTEM_FIELDS} numeric fields (such as cpu_percent).")
        bad = [k for k in fields if not SYSTEM_FIELD.match(k)]
        if bad:
            raise EventRejected(f"Field {bad[0][:64]!r} must be 1 to 64 lowercase letters, digits or `_`.")
        dimensions = body.get("dimensions")
        now = datetime.now(timezone.utc)
        rows = [_value(_metric(SYSTEM_METRIC_PREFIX + field, Metric.Type.GAUGE), value, body.get("timestamp"),
                       dimensions, now) for field, value in sorted(fields.items())]
        services.metric_rows_record(rows, now)
    except EventRejected as exc:
        return error_response(400, "invalid", str(exc))
    except DomainError as exc:
        return error_response(exc.status_code, exc.code, exc.message, exc.details)
    return _json(200, {"accepted": len(rows), "rejected": []})
