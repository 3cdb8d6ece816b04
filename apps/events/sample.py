"""Sample data for the local `demo` tenant: a month of plausible traffic, sent through the same
validation and storage as real events (no shortcut into the tables); their event and property
definitions are counted too."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from django.db import connection

from apps.events.ingestion import Clock, parse_segment
from apps.events.definitions import definitions_counts, definitions_store, fold
from apps.events.storage import events_store
from apps.tenancy.models import Tenant

PAGES = ["/", "/pricing", "/docs", "/blog", "/signup"]
PLANS = ["free", "pro", "team"]
ERRORS = [("TypeError", "Cannot read properties of undefined"),
          ("NetworkError", "Failed to fetch /api/cart"), ("ChunkLoadError", "Loading chunk 7 failed")]


def sample_events_generate(*, users: int = 300, days: int = 30, seed: int = 7) -> int:
    """In the current tenant schema: anonymous visits, some coming back on later days (page views
    with paths, a session per visit: `context.sessionId`), a front-end `$error` now and then, sign-ups (identify merges the visitor),
    purchases for some. Returns the number of events stored."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    tenant = Tenant.objects.get(schema_name=connection.schema_name)
    clock = Clock(received_at=now, sent_at=None, retention_days=tenant.retention_days)
    messages: list[dict] = []
    for n in range(users):
        anonymous_id = f"anon-{seed}-{n}"
        start = now - timedelta(days=rng.uniform(0, days), hours=rng.uniform(0, 24))
        moment = start
        for visit in range(rng.choice([1, 1, 1, 2, 3])):
            if visit:  # a return visit, days later (it may fall after now: dropped below)
                moment += timedelta(days=rng.uniform(1, 10))
            session = {"sessionId": f"session-{seed}-{n}-{visit}"}
            for _ in range(rng.randint(1, 6)):
                moment += timedelta(minutes=rng.uniform(1, 20))
                path = rng.choice(PAGES)
                messages.append({"type": "page", "anonymousId": anonymous_id, "name": "Page", "context": session,
                                 "properties": {"path": path}, "timestamp": moment.isoformat(),
                                 "messageId": f"sample-{seed}-{len(messages)}"})
                if rng.random() < 0.04:
                    error_type, message = rng.choice(ERRORS)
                    messages.append({"type": "track", "anonymousId": anonymous_id, "event": "$error",
                                     "context": session,
                                     "properties": {"error_type": error_type, "message": message, "path": path},
                                     "timestamp": (moment + timedelta(seconds=5)).isoformat(),
                                     "messageId": f"sample-{seed}-{len(messages)}"})
        if rng.random() < 0.45:
            user_id = f"user-{seed}-{n}"
            moment += timedelta(minutes=rng.uniform(1, 30))
            plan = rng.choice(PLANS)
            messages.append({"type": "identify", "userId": user_id, "anonymousId": anonymous_id, "context": session,
                             "traits": {"plan": plan, "email": f"{user_id}@example.com"},
                             "timestamp": moment.isoformat(), "messageId": f"sample-{seed}-{len(messages)}"})
            messages.append({"type": "track", "userId": user_id, "event": "Signed Up", "properties": {"plan": plan},
                             "context": session,
                             "timestamp": moment.isoformat(), "messageId": f"sample-{seed}-{len(messages)}"})
            for _ in range(rng.choice([0, 0, 1, 2, 3])):
                moment += timedelta(hours=rng.uniform(1, 96))
                if moment >= now:
                    break
                messages.append({"type": "track", "userId": user_id, "event": "Purchased",
                                 "properties": {"amount": round(rng.uniform(5, 250), 2), "currency": "EUR"},
                                 "timestamp": moment.isoformat(), "messageId": f"sample-{seed}-{len(messages)}"})
    messages = [m for m in messages if m["timestamp"] < now.isoformat()]
    messages.sort(key=lambda m: m["timestamp"])
    stored = []
    for start in range(0, len(messages), 1000):
        rows = [parse_segment(message, clock) for message in messages[start:start + 1000]]
        stored += events_store(rows=rows, received_at=now)
    # Not through an ingestion request: the definitions are counted here, straight into the tables.
    definitions_store(fold(definitions_counts(rows=stored, received_at=now)))
    return len(stored)
