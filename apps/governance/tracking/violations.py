"""Violations of the tracking plan: counted per (day, event, kind) and sampled (the last
TRACKING_PLAN_SAMPLES offending events per event and kind, trimmed), without a database write per
event.

Per batch with violations, one Redis round trip (a pipeline): HINCRBY of the batch's aggregated
counts into the tenant's hash, LPUSH of at most TRACKING_PLAN_SAMPLES samples per (event, kind),
LTRIM of the pending list, SADD of the tenant to the dirty set. `violations_flush` moves a
tenant's pending counts and samples into its tables with one upsert, one insert and one prune; beat
runs it every minute for the tenants that have some (`tracking_violations_flush_all`), and the
violations API and console pages run it for their tenant before reading, so what they show is
current. With Redis unreachable, the batch's aggregate is written to the tables directly (one
upsert per batch, still never per event). A flush takes and deletes the pending data in one Redis
transaction: a crash between that and the database commit loses at most those counts, never
counts them twice.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict, deque
from datetime import date, datetime, timezone
from typing import Any, Iterable

from django.conf import settings
from django.db import connection, transaction
from django_tenants.utils import schema_context
from redis.exceptions import RedisError

from apps.core.redis import get_redis
from apps.events.ingestion import EventRow

logger = logging.getLogger(__name__)

DIRTY_KEY = "tracking_plan:violations:dirty"
MAX_PENDING_SAMPLES = 2_000
MAX_SAMPLE_KEYS = 30
MAX_SAMPLE_TEXT = 200


def samples_kept() -> int:
    return settings.TRACKING_PLAN_SAMPLES


def _counts_key(schema_name: str) -> str:
    return f"tracking_plan:violations:counts:{schema_name}"


def _samples_key(schema_name: str) -> str:
    return f"tracking_plan:violations:samples:{schema_name}"


def _trim(value: Any) -> Any:
    if isinstance(value, str):
        return value if len(value) <= MAX_SAMPLE_TEXT else value[:MAX_SAMPLE_TEXT] + "…"
    if isinstance(value, (dict, list)):
        text = json.dumps(value, default=str)
        return value if len(text) <= MAX_SAMPLE_TEXT else text[:MAX_SAMPLE_TEXT] + "…"
    return value


def sample_payload(row: EventRow) -> dict[str, Any]:
    """What a sample keeps of an event: its name, type, ids, time and (trimmed) properties."""
    properties = dict(list(row.properties.items())[:MAX_SAMPLE_KEYS])
    return {
        "event": row.event, "event_type": row.event_type, "distinct_id": row.distinct_id,
        "message_id": row.message_id, "timestamp": row.timestamp.isoformat(),
        "properties": {key[:MAX_SAMPLE_TEXT]: _trim(value) for key, value in properties.items()},
        "properties_trimmed": len(row.properties) > MAX_SAMPLE_KEYS,
    }


def violations_record(*, schema_name: str, received_at: datetime,
                      found: Iterable[tuple[EventRow, list[tuple[str, str]]]]) -> None:
    """Count and sample one batch's violations (see the module docstring). Never raises: the
    batch's events are already answered for."""
    try:
        counts: Counter[tuple[str, str, str]] = Counter()
        samples: dict[tuple[str, str], deque] = defaultdict(lambda: deque(maxlen=samples_kept()))
        day = received_at.date().isoformat()
        for row, violations in found:
            for kind, message in violations:
                counts[(day, str(kind), row.event)] += 1
                samples[(row.event, str(kind))].append(
                    {"event": row.event, "kind": str(kind), "message": message,
                     "received_at": received_at.isoformat(), "payload": sample_payload(row)})
        flat = [sample for kept in samples.values() for sample in kept]
        try:
            _to_redis(schema_name, counts, flat)
        except RedisError:
            logger.warning("tracking plan violations written directly (Redis unavailable)", exc_info=True)
            _store(counts, flat)
    except Exception:  # noqa: BLE001 - recording must never fail a request whose events are stored
        logger.exception("tracking plan violations not recorded")


def _to_redis(schema_name: str, counts: Counter, samples: list[dict[str, Any]]) -> None:
    pipe = get_redis().pipeline(transaction=False)
    counts_key, samples_key = _counts_key(schema_name), _samples_key(schema_name)
    for (day, kind, event), n in counts.items():
        pipe.hincrby(counts_key, f"{day}|{kind}|{event}", n)
    if samples:
        pipe.lpush(samples_key, *(json.dumps(sample) for sample in samples))
        pipe.ltrim(samples_key, 0, MAX_PENDING_SAMPLES - 1)
    pipe.sadd(DIRTY_KEY, schema_name)
    pipe.execute()


def _store(counts: Counter, samples: list[dict[str, Any]]) -> None:
    """Into the current schema's tables: one upsert of the counts, one insert of the samples, one
    prune of the samples past the last TRACKING_PLAN_SAMPLES of each touched (event, kind)."""
    if not counts and not samples:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        if counts:
            keys = list(counts)
            cursor.execute(
                "INSERT INTO tracking_violation_counts (day, kind, event, count) "
                "SELECT * FROM unnest(%s::date[], %s::text[], %s::text[], %s::bigint[]) "
                "ON CONFLICT (day, event, kind) DO UPDATE "
                "SET count = tracking_violation_counts.count + EXCLUDED.count",
                [[date.fromisoformat(k[0]) for k in keys], [k[1] for k in keys], [k[2] for k in keys],
                 [counts[k] for k in keys]])
        if samples:
            cursor.execute(
                "INSERT INTO tracking_violation_samples (event, kind, message, received_at, payload) "
                "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::jsonb[])",
                [[s["event"] for s in samples], [s["kind"] for s in samples], [s["message"] for s in samples],
                 [datetime.fromisoformat(s["received_at"]) for s in samples],
                 [json.dumps(s["payload"]) for s in samples]])
            touched = sorted({(s["event"], s["kind"]) for s in samples})
            cursor.execute(
                "DELETE FROM tracking_violation_samples s USING ("
                "  SELECT id, row_number() OVER (PARTITION BY event, kind ORDER BY received_at DESC, id DESC) AS n"
                "  FROM tracking_violation_samples"
                "  WHERE (event, kind) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
                ") ranked WHERE s.id = ranked.id AND ranked.n > %s",
                [[t[0] for t in touched], [t[1] for t in touched], samples_kept()])


def violations_flush(*, schema_name: str) -> int:
    """Move one tenant's pending counts and samples from Redis into its tables (in its schema).
    Returns the number of violations counted. Redis down: nothing to move (0)."""
    try:
        pipe = get_redis().pipeline(transaction=True)
        pipe.hgetall(_counts_key(schema_name)).delete(_counts_key(schema_name))
        pipe.lrange(_samples_key(schema_name), 0, -1).delete(_samples_key(schema_name))
        raw_counts, _, raw_samples, _ = pipe.execute()
    except RedisError:
        logger.warning("tracking plan violations not flushed (Redis unavailable)", exc_info=True)
        return 0
    counts: Counter[tuple[str, str, str]] = Counter()
    for field_name, n in raw_counts.items():
        day, kind, event = field_name.decode().split("|", 2)
        counts[(day, kind, event)] += int(n)
    samples = [json.loads(raw) for raw in reversed(raw_samples)]  # oldest first, so ids follow time
    with schema_context(schema_name):
        _store(counts, samples)
    return sum(counts.values())


def violations_flush_all() -> int:
    """Flush every tenant with pending violations (beat). Only schemas of existing tenants."""
    from apps.tenancy.models import Tenant

    redis = get_redis()
    total = 0
    for raw in redis.smembers(DIRTY_KEY):
        schema_name = raw.decode()
        redis.srem(DIRTY_KEY, schema_name)
        if not Tenant.objects.filter(schema_name=schema_name).exclude(schema_name="public").exists():
            continue
        total += violations_flush(schema_name=schema_name)
    return total
