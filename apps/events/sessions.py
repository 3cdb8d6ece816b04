"""Explicit sessions (seed 003's `start_user_session` / `end_user_session`): a client opens a
session, gets its id, sends it with its events, and closes it.

Start stores an event `$session_start` with the new id as its session id (the ip address, when
given, in its context.ip) and a row in `explicit_sessions`; end stores `$session_end` for the same
distinct id and session, with `duration_seconds`. Both events go through the ingestion storage
(apps.events.storage.events_store) with message ids derived from the session id, so a retried or
concurrent end never stores a second event. Ending an ended session answers the same again.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Any

from django.db import transaction

from apps.core.exceptions import NotFound, RateLimited, ValidationFailed
from apps.events import definitions, limits
from apps.events.ingestion import Clock, EventRejected, parse_native, parse_time
from apps.events.models import ExplicitSession
from apps.events.storage import events_store

SESSION_START = "$session_start"
SESSION_END = "$session_end"


def _limits(*, api_key: Any, tenant: Any) -> None:
    refusal = limits.limits_check(key_prefix=api_key.prefix, tenant_id=tenant.id,
                                  monthly_quota=tenant.monthly_event_quota, events=1)
    if refusal is not None:
        raise RateLimited(refusal.message, retry_after=refusal.retry_after, code=refusal.code)


def _store(event: dict[str, Any], *, tenant: Any, received_at: datetime) -> tuple[Any, list[Any]]:
    """The event's row and the rows newly stored ([] when its message id was already)."""
    clock = Clock(received_at=received_at, sent_at=None, retention_days=tenant.retention_days)
    try:
        row = parse_native(event, clock)
    except EventRejected as exc:
        raise ValidationFailed(str(exc)) from None
    return row, events_store(rows=[row], received_at=received_at)


def _counted(row: Any, stored: list[Any], *, tenant: Any, received_at: datetime) -> None:
    definitions.batch_record(schema=tenant.schema_name, rows=[row], stored=stored, received_at=received_at)


def session_start(*, tenant: Any, api_key: Any, user_id: str | None = None, anonymous_id: str | None = None,
                  ip_address: str | None = None, properties: dict[str, Any] | None = None,
                  timestamp: str | None = None) -> ExplicitSession:
    if not user_id and not anonymous_id:
        raise ValidationFailed("user_id or anonymous_id is required.", details={"user_id": "missing"})
    _limits(api_key=api_key, tenant=tenant)
    received_at = datetime.now(timezone.utc)
    session_id = "ses_" + secrets.token_hex(16)
    event = {"event_name": SESSION_START, "user_id": user_id, "anonymous_id": anonymous_id,
             "session_id": session_id, "properties": properties or {},
             "context": {"ip": ip_address} if ip_address else {},
             "timestamp": timestamp, "message_id": f"{SESSION_START}:{session_id}"}
    with transaction.atomic():
        row, stored = _store({k: v for k, v in event.items() if v is not None}, tenant=tenant,
                             received_at=received_at)
        session = ExplicitSession.objects.create(
            id=session_id, distinct_id=row.distinct_id, user_id=row.user_id, anonymous_id=row.anonymous_id,
            ip_address=ip_address, started_at=row.timestamp)
    _counted(row, stored, tenant=tenant, received_at=received_at)
    return session


def session_end(*, tenant: Any, api_key: Any, session_id: str, timestamp: str | None = None) -> ExplicitSession:
    """Idempotent: an ended session is answered as it is, nothing stored."""
    session = ExplicitSession.objects.filter(pk=session_id).first()
    if session is None:
        raise NotFound(f"No session {session_id!r}.")
    if session.ended_at is not None:
        return session
    _limits(api_key=api_key, tenant=tenant)
    received_at = datetime.now(timezone.utc)
    clock = Clock(received_at=received_at, sent_at=None, retention_days=tenant.retention_days)
    try:
        ended_at = clock.event_time(parse_time(timestamp, "timestamp"), None)
    except EventRejected as exc:
        raise ValidationFailed(str(exc), details={"timestamp": timestamp}) from None
    with transaction.atomic():
        session = ExplicitSession.objects.select_for_update().get(pk=session_id)
        if session.ended_at is not None:  # ended meanwhile
            return session
        if ended_at < session.started_at:
            raise ValidationFailed("The session cannot end before it started.",
                                   details={"timestamp": ended_at.isoformat(),
                                            "started_at": session.started_at.isoformat()})
        event = {"event_name": SESSION_END, "user_id": session.user_id, "anonymous_id": session.anonymous_id,
                 "session_id": session.id, "timestamp": ended_at.isoformat(),
                 "properties": {"duration_seconds": (ended_at - session.started_at).total_seconds()},
                 "message_id": f"{SESSION_END}:{session.id}"}
        row, stored = _store({k: v for k, v in event.items() if v is not None}, tenant=tenant,
                             received_at=received_at)
        session.ended_at = row.timestamp
        session.save(update_fields=["ended_at"])
    _counted(row, stored, tenant=tenant, received_at=received_at)
    return session


def session_output(session: ExplicitSession) -> dict[str, Any]:
    body: dict[str, Any] = {"session_id": session.id, "started_at": session.started_at.isoformat()}
    if session.ended_at is not None:
        body["ended_at"] = session.ended_at.isoformat()
        body["duration_seconds"] = (session.ended_at - session.started_at).total_seconds()
    return body
