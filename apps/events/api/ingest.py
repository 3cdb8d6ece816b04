"""Ingestion endpoints: plain Django views on the hot path (no DRF request/serializer machinery).

Every answer is either `{"accepted": n, "rejected": [{"index", "error"}]}` (2xx, after the commit;
plus `"warnings": [{"index", "warnings": [...]}]` when a registered check, such as a tracking plan
in `warn` mode, has something to say) or the error body with a 4xx. Nothing is stored unless the
whole request was readable and allowed.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Callable

import msgspec
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.core.errors import error_response
from apps.events import definitions, limits
from apps.events.checks import event_checks_run
from apps.events.ingestion import (
    MAX_ID_LENGTH,
    BodyError,
    Clock,
    EventRejected,
    EventRow,
    batch_list,
    parse_native,
    parse_posthog,
    parse_segment,
    parse_time,
    read_body,
)
from apps.events.storage import events_store
from apps.tenancy.middleware import enter_tenant_by_key

_encode = msgspec.json.encode
logger = logging.getLogger(__name__)


def _json(status: int, body: dict[str, Any]) -> HttpResponse:
    return HttpResponse(_encode(body), status=status, content_type="application/json")


def _receive(request: HttpRequest, *, body_key: str | None, parse_batch: Callable[[Any, Clock], tuple[list, list]],
             single: bool) -> HttpResponse:
    """The shared path: limits on the body, decode, authenticate, rate/quota, validate, write."""
    received_at = datetime.now(timezone.utc)
    length = request.META.get("CONTENT_LENGTH") or "0"
    if length.isdigit() and int(length) > settings.INGEST_MAX_BODY_BYTES:
        return error_response(413, "body_too_large", f"The body is larger than {settings.INGEST_MAX_BODY_BYTES} bytes.")
    try:
        body = read_body(request.body, request.META.get("HTTP_CONTENT_ENCODING", ""))
    except BodyError as exc:
        return error_response(exc.status, exc.code, exc.message)

    if request.api_key is None:
        raw_key = body.get(body_key) if body_key and isinstance(body, dict) else None
        refusal = enter_tenant_by_key(request, raw_key if isinstance(raw_key, str) else None)
        if refusal is not None:
            return refusal
    tenant = request.tenant

    try:
        clock_sent_at = parse_time(body.get("sentAt") or body.get("sent_at"), "sentAt") if isinstance(body, dict) else None
    except EventRejected as exc:
        return error_response(400, "invalid", str(exc))
    clock = Clock(received_at=received_at, sent_at=clock_sent_at, retention_days=tenant.retention_days)
    try:
        rows, rejected = parse_batch(body, clock)
    except BodyError as exc:
        return error_response(exc.status, exc.code, exc.message)

    # Checks registered by higher layers (the tracking plan): may reject events by index or warn.
    verdict = event_checks_run(rows, rejected, tenant=tenant)
    rows, rejected = verdict.rows, verdict.rejected

    refusal = limits.limits_check(key_prefix=request.api_key.prefix, tenant_id=tenant.id,
                                  monthly_quota=tenant.monthly_event_quota, events=len(rows))
    if refusal is not None:
        return error_response(429, refusal.code, refusal.message, headers={"Retry-After": str(refusal.retry_after)})

    if not rows:
        _after(verdict.after)
        return error_response(400, "invalid", rejected[0]["error"] if single else "No event in the batch is valid.",
                              details={"accepted": 0, "rejected": rejected})
    stored = events_store(rows=rows, received_at=received_at)
    # Committed: count them for the live figures and the definitions (one Redis round trip; fails
    # open, logged).
    definitions.batch_record(schema=tenant.schema_name, rows=rows, stored=stored, received_at=received_at)
    _after(verdict.after)
    body: dict[str, Any] = {"accepted": len(rows), "rejected": rejected}
    if verdict.warnings:  # only when a check warns: the answer is otherwise unchanged
        body["warnings"] = verdict.warnings
    return _json(200, body)


def _after(calls: list[Callable[[], None]]) -> None:
    for call in calls:
        try:
            call()
        except Exception:  # noqa: BLE001 - the events are committed: their answer must stand
            logger.exception("an ingestion check's follow-up failed")


def _each(items: list[Any], parse: Callable[[Any], EventRow]) -> tuple[list[EventRow], list[dict[str, Any]]]:
    rows, rejected = [], []
    for index, item in enumerate(items):
        try:
            row = parse(item)
            row.index = index
            rows.append(row)
        except EventRejected as exc:
            rejected.append({"index": index, "error": str(exc)})
    return rows, rejected


# --- Segment ---------------------------------------------------------------------------------------


def _segment_single(event_type: str):  # noqa: ANN202
    @csrf_exempt
    @require_POST
    def view(request: HttpRequest) -> HttpResponse:
        def parse(body: Any, clock: Clock) -> tuple[list, list]:
            return _each([body], lambda message: parse_segment(message, clock, default_type=event_type))

        return _receive(request, body_key="writeKey", parse_batch=parse, single=True)

    view.__name__ = f"segment_{event_type}"
    return view


segment_track = _segment_single("track")
segment_identify = _segment_single("identify")
segment_page = _segment_single("page")
segment_screen = _segment_single("screen")
segment_group = _segment_single("group")
segment_alias = _segment_single("alias")


@csrf_exempt
@require_POST
def segment_batch(request: HttpRequest) -> HttpResponse:
    def parse(body: Any, clock: Clock) -> tuple[list, list]:
        if not isinstance(body, dict):
            raise BodyError(400, "malformed_request", "The body must be an object with a `batch` array.")
        items = batch_list(body.get("batch"))
        shared_context = body.get("context") if isinstance(body.get("context"), dict) else None

        def one(message: Any) -> EventRow:
            # A message's own context that is not an object is left for parse_segment to refuse.
            own = message.get("context") if isinstance(message, dict) else None
            if shared_context and isinstance(message, dict) and (own is None or isinstance(own, dict)):
                message = {**message, "context": {**shared_context, **(own or {})}}
            return parse_segment(message, clock)

        return _each(items, one)

    return _receive(request, body_key="writeKey", parse_batch=parse, single=False)


# --- native ----------------------------------------------------------------------------------------


@csrf_exempt
@require_POST
def native_track(request: HttpRequest) -> HttpResponse:
    return _receive(request, body_key=None, single=True,
                    parse_batch=lambda body, clock: _each([body], lambda event: parse_native(event, clock)))


@csrf_exempt
@require_POST
def native_batch(request: HttpRequest) -> HttpResponse:
    """`{"events": [...], "source"?, "sent_at"?}` or a bare list; also the seed's `/events/track/batch`."""

    def parse(body: Any, clock: Clock) -> tuple[list, list]:
        items = body.get("events") if isinstance(body, dict) else body
        source = body.get("source") if isinstance(body, dict) else None
        if source is not None and (not isinstance(source, str) or len(source) > MAX_ID_LENGTH or "\x00" in source):
            raise BodyError(400, "invalid", f"source must be a string of at most {MAX_ID_LENGTH} characters.")
        return _each(batch_list(items, name="events"), lambda event: parse_native(event, clock, source=source))

    return _receive(request, body_key=None, parse_batch=parse, single=False)


def receive_built(request: HttpRequest, build: Callable[[Any], dict[str, Any]]) -> HttpResponse:
    """One native event built from the body by `build` (which raises EventRejected on a bad body):
    the typed tracking forms (apps.metrics.api.typed) go through the same path as `native_track`."""
    return _receive(request, body_key=None, single=True,
                    parse_batch=lambda body, clock: _each([body], lambda raw: parse_native(build(raw), clock)))


# --- PostHog ---------------------------------------------------------------------------------------


@csrf_exempt
@require_POST
def posthog_capture(request: HttpRequest) -> HttpResponse:
    """`/batch/`, `/capture/`, `/e/`: `{api_key, batch: [...]}`, a single event, or a bare list."""

    def parse(body: Any, clock: Clock) -> tuple[list, list]:
        if isinstance(body, dict) and "batch" in body:
            items = batch_list(body["batch"])
        elif isinstance(body, list):
            items = batch_list(body)
        else:
            items = [body]
        return _each(items, lambda event: parse_posthog(event, clock))

    response = _receive(request, body_key="api_key", parse_batch=parse, single=False)
    return response
