"""Event and property definitions: every event name and top-level property key a tenant sends,
with its volume, when first and last seen, and (keys) the JSON types observed; kept up to date by
ingestion without ever scanning the events table.

Counting (the hot path, after a batch commits):
1. Only the batch's newly stored events count (a retried batch, whose message ids were already
   claimed, counts nothing: apps.events.storage.events_store answers the new rows).
2. Per event: its name; each top-level key of its properties (an event property), and each
   top-level key of the traits it sets (identify traits, PostHog's $set / $set_once: a person
   property), with the type of its value; and the (event, key) pair. At most MAX_KEYS_PER_EVENT keys
   per event and per traits object are looked at (in the order sent); keys longer than
   MAX_KEY_LENGTH are skipped.
3. An event's time is its own timestamp, never later than its receipt (a clock 24 hours fast does
   not make "last seen" tomorrow). First seen is the earliest such time, last seen the latest,
   to the millisecond.
4. The batch's counts are aggregated in the process, then staged into the same Redis pipeline as
   the real-time counters (apps.events.realtime.realtime_record): one round trip, one MULTI/EXEC,
   whether or not ENABLE_REAL_TIME is on, as one script call. Per tenant: `defs:<schema>:n` (hash
   field -> count, HINCRBY), `defs:<schema>:first` (sorted set field -> earliest ms, ZADD LT) and
   `defs:<schema>:last` (ZADD GT). Redis down: the events stand and are answered 2xx; their
   definitions' counts are lost (logged, `definitions_counts_unavailable_total`).

Folding (beat, every minute, per tenant: `definitions_flush`): under a per-tenant lock, the three
keys are renamed (atomically, by a script) to `defs:<schema>:flushing:*` with a new fold id; the
counts are upserted into the tables (volume += n, first_seen = LEAST, last_seen = GREATEST, types
= union) together with a `definitions_flushes` row holding the fold id, in one transaction; then
the flushing keys are deleted. A fold that dies before its commit leaves its keys for the next
run, which applies them first; one that dies after its commit leaves keys whose id is already in
`definitions_flushes`, which the next run deletes without applying them again. So no count is
lost or counted twice by a crash.

Field names in the hash: `e:<event>`, `p:<kind>:<type>:<key>` (kind `event` or `person`; the
type has no colon, so the key is the rest), `k:<len(event)>:<event><key>`.
"""

from __future__ import annotations

import logging
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import Any, Iterable

from django.db import OperationalError, connection, transaction
from django.utils import timezone as django_timezone
from django_tenants.utils import schema_context
from prometheus_client import Counter as PromCounter
from redis.exceptions import RedisError

from apps.core.exceptions import Unavailable, ValidationFailed
from apps.core.names import object_get
from apps.core.redis import get_redis
from apps.events import realtime
from apps.events.ingestion import EventRow
from apps.events.models import EventDefinition, EventPropertyKey, PropertyDefinition

logger = logging.getLogger(__name__)

MAX_KEYS_PER_EVENT = 200
MAX_KEY_LENGTH = 200
LOCK_SECONDS = 600  # longer than the flush task's hard time limit
FLUSH_IDS_KEPT = timedelta(days=7)
TYPES = ("array", "boolean", "datetime", "null", "number", "object", "string")
KINDS = ("event", "person")

DEFINITIONS_UNAVAILABLE = PromCounter(
    "definitions_counts_unavailable_total",
    "Ingested batches whose event/property definitions could not be counted (Redis)")

# ISO 8601 as clients send it: a date, or a date and time with optional seconds, fraction and
# offset. The same pattern is used by the rebuild's SQL (POSIX regex) so both agree.
DATETIME_PATTERN = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$"
_DATETIME = re.compile(DATETIME_PATTERN)


def value_type(value: Any) -> str:
    """The observed type of one JSON value."""
    if isinstance(value, str):
        # Cheap pre-check first: most strings are not dates.
        return "datetime" if len(value) >= 10 and value[:1].isdigit() and _DATETIME.match(value) else "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, dict):
        return "object"
    return "array" if isinstance(value, list) else "string"


def _key(schema: str, part: str) -> str:
    return f"defs:{schema}:{part}"


LIVE_PARTS = ("n", "first", "last")


# --- counting at ingestion --------------------------------------------------------------------------

Pending = dict[str, list[int]]  # field -> [count, first ms, last ms]


def definitions_counts(*, rows: Iterable[EventRow], received_at: datetime) -> Pending:
    """The batch's counts, aggregated per field (see the module docstring). Pure: no I/O. Counted
    per (event, key, type) first, and the fields' names made once per distinct one: most batches
    repeat a few shapes many times."""
    ceiling = int(received_at.timestamp() * 1000)
    seen: dict[Any, list[int]] = {}  # event name, or (event, key, type), or (None, key, type) for traits
    get = seen.get
    for row in rows:
        at = min(int(row.timestamp.timestamp() * 1000), ceiling)
        event = row.event
        shapes = [event]
        for key, value in islice(row.properties.items(), MAX_KEYS_PER_EVENT):
            if len(key) <= MAX_KEY_LENGTH:
                shapes.append((event, key, value_type(value)))
        for traits in (row.traits, row.traits_once):
            if traits:
                for key, value in islice(traits.items(), MAX_KEYS_PER_EVENT):
                    if len(key) <= MAX_KEY_LENGTH:
                        shapes.append((None, key, value_type(value)))
        for shape in shapes:
            entry = get(shape)
            if entry is None:
                seen[shape] = [1, at, at]
            else:
                entry[0] += 1
                if at < entry[1]:
                    entry[1] = at
                elif at > entry[2]:
                    entry[2] = at
    pending: Pending = {}
    for shape, (n, first, last) in seen.items():
        if isinstance(shape, str):
            names = ("e:" + shape,)
        elif shape[0] is None:
            names = (f"p:person:{shape[2]}:{shape[1]}",)
        else:
            names = (f"p:event:{shape[2]}:{shape[1]}", f"k:{len(shape[0])}:{shape[0]}{shape[1]}")
        for name in names:
            entry = pending.get(name)
            if entry is None:
                pending[name] = [n, first, last]
            else:
                entry[0] += n
                entry[1] = min(entry[1], first)
                entry[2] = max(entry[2], last)
    return pending


# One command for a whole batch: redis-py packs one command of many arguments several times faster
# than a HINCRBY per field (measured: bench/definitions.py). Redis keeps the compiled script by its
# hash, so sending its text each time costs only the bytes.
_STAGE = """
for i = 1, #ARGV, 4 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[2], 'LT', ARGV[i + 2], ARGV[i])
  redis.call('ZADD', KEYS[3], 'GT', ARGV[i + 3], ARGV[i])
end
return 0
"""


def definitions_stage(pipe: Any, *, schema: str, pending: Pending) -> None:
    """Stage a batch's counts into a Redis pipeline (no round trip of its own): one script call."""
    if not pending:
        return
    args: list[Any] = []
    for name, entry in pending.items():
        args += (name, entry[0], entry[1], entry[2])
    pipe.eval(_STAGE, 3, *(_key(schema, part) for part in LIVE_PARTS), *args)


def batch_record(*, schema: str, rows: list[EventRow], stored: list[EventRow], received_at: datetime) -> bool:
    """After a batch commits: its real-time counters (all `rows`, apps.events.realtime) and its
    definitions' counts (the newly `stored` rows) in one Redis round trip. Never raises: False
    (logged, counted) when Redis could not be reached."""
    try:
        pending = definitions_counts(rows=stored, received_at=received_at)
    except Exception:  # noqa: BLE001 - the events are committed: their answer must stand
        logger.exception("event definitions not counted")
        pending = {}
    recorded = realtime.realtime_record(
        schema=schema, events=realtime.events_of_rows(rows), received_at=received_at,
        also=(lambda pipe: definitions_stage(pipe, schema=schema, pending=pending)) if pending else None)
    if not recorded and pending:
        DEFINITIONS_UNAVAILABLE.inc()
        logger.warning("event definitions' counts unavailable (Redis); batch not counted")
    return recorded


# --- folding into the tables ------------------------------------------------------------------------


@dataclass
class Folded:
    """Pending counts aggregated per definition (what one fold writes)."""

    events: dict[str, list] = field(default_factory=dict)  # name -> [n, first, last]
    properties: dict[tuple[str, str], list] = field(default_factory=dict)  # (kind, key) -> [n, first, last, types]
    links: dict[tuple[str, str], list] = field(default_factory=dict)  # (event, key) -> [n, last]

    def __bool__(self) -> bool:
        return bool(self.events or self.properties or self.links)


def _moment(ms: int | float | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(int(ms) / 1000, timezone.utc)


def fold(pending: Pending) -> Folded:
    """Pending fields (as counted, or as read back from Redis) per definition. A field with no
    time (never from ingestion's MULTI/EXEC, but cheap to tolerate) is stamped now."""
    now_ms = int(datetime.now(timezone.utc).timestamp() * 1000)
    folded = Folded()
    for name, (n, first, last) in pending.items():
        first = now_ms if first is None else first
        last = now_ms if last is None else last
        if name.startswith("e:"):
            _merge(folded.events, name[2:], n, first, last)
        elif name.startswith("p:"):
            _, kind, kind_type, key = name.split(":", 3)
            if kind not in KINDS or kind_type not in TYPES:
                continue
            entry = _merge(folded.properties, (kind, key), n, first, last, extra=set())
            entry[3].add(kind_type)
        elif name.startswith("k:"):
            length, _, rest = name[2:].partition(":")
            if not length.isdigit():
                continue
            event, key = rest[:int(length)], rest[int(length):]
            entry = folded.links.get((event, key))
            if entry is None:
                folded.links[(event, key)] = [n, last]
            else:
                entry[0] += n
                entry[1] = max(entry[1], last)
    return folded


def _merge(into: dict, name: Any, n: int, first: int, last: int, *, extra: Any = None) -> list:
    entry = into.get(name)
    if entry is None:
        entry = into[name] = [n, first, last] + ([extra] if extra is not None else [])
    else:
        entry[0] += n
        entry[1] = min(entry[1], first)
        entry[2] = max(entry[2], last)
    return entry


# The SET clauses of the upserts: add (a fold) or replace (a rebuild from the events table).
_ADD = {
    "events": "volume = d.volume + EXCLUDED.volume, first_seen = LEAST(d.first_seen, EXCLUDED.first_seen), "
              "last_seen = GREATEST(d.last_seen, EXCLUDED.last_seen)",
    "properties": "volume = d.volume + EXCLUDED.volume, first_seen = LEAST(d.first_seen, EXCLUDED.first_seen), "
                  "last_seen = GREATEST(d.last_seen, EXCLUDED.last_seen), types = (SELECT jsonb_agg(DISTINCT t "
                  "ORDER BY t) FROM jsonb_array_elements_text(d.types || EXCLUDED.types) t)",
    "links": "volume = d.volume + EXCLUDED.volume, last_seen = GREATEST(d.last_seen, EXCLUDED.last_seen)",
}
_REPLACE = {
    "events": "volume = EXCLUDED.volume, first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen",
    "properties": "volume = EXCLUDED.volume, first_seen = EXCLUDED.first_seen, last_seen = EXCLUDED.last_seen, "
                  "types = EXCLUDED.types",
    "links": "volume = EXCLUDED.volume, last_seen = EXCLUDED.last_seen",
}


def definitions_store(folded: Folded, *, replace: bool = False) -> None:
    """Upsert folded counts into the current schema's tables: three statements, in the caller's
    transaction (or its own). Rows go in sorted order, so two writers lock them in the same order."""
    if not folded:
        return
    sets = _REPLACE if replace else _ADD
    with transaction.atomic(), connection.cursor() as cursor:
        if folded.events:
            names = sorted(folded.events)
            cursor.execute(
                "INSERT INTO event_definitions AS d (name, volume, first_seen, last_seen, description) "
                "SELECT u.name, u.n, u.f, u.l, '' FROM unnest(%s::text[], %s::bigint[], %s::timestamptz[], "
                "%s::timestamptz[]) AS u(name, n, f, l) "
                "ON CONFLICT (name) DO UPDATE SET " + sets["events"],
                [names, [folded.events[k][0] for k in names], [_moment(folded.events[k][1]) for k in names],
                 [_moment(folded.events[k][2]) for k in names]])
        if folded.properties:
            keys = sorted(folded.properties)
            cursor.execute(
                "INSERT INTO property_definitions AS d (kind, key, types, volume, first_seen, last_seen, description) "
                "SELECT u.kind, u.key, to_jsonb(string_to_array(u.types, ',')), u.n, u.f, u.l, '' "
                "FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[], %s::timestamptz[], %s::timestamptz[]) "
                "AS u(kind, key, types, n, f, l) "
                "ON CONFLICT (kind, key) DO UPDATE SET " + sets["properties"],
                [[k[0] for k in keys], [k[1] for k in keys],
                 [",".join(sorted(folded.properties[k][3])) for k in keys],
                 [folded.properties[k][0] for k in keys], [_moment(folded.properties[k][1]) for k in keys],
                 [_moment(folded.properties[k][2]) for k in keys]])
        if folded.links:
            pairs = sorted(folded.links)
            cursor.execute(
                "INSERT INTO event_property_keys AS d (event, key, volume, last_seen) "
                "SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::timestamptz[]) "
                "ON CONFLICT (event, key) DO UPDATE SET " + sets["links"],
                [[p[0] for p in pairs], [p[1] for p in pairs], [folded.links[p][0] for p in pairs],
                 [_moment(folded.links[p][1]) for p in pairs]])


# Moves the live keys (those that exist) to the flushing keys and names the fold, atomically:
# between two ingestion transactions, never inside one.
_TAKE = """
local moved = 0
for i = 1, 3 do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('RENAME', KEYS[i], KEYS[i + 3])
    moved = moved + 1
  end
end
if moved > 0 then redis.call('SET', KEYS[7], ARGV[1]) end
return moved
"""
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _flushing_keys(schema: str) -> list[str]:
    return [_key(schema, f"flushing:{part}") for part in LIVE_PARTS]


def _read_taken(redis: Any, schema: str) -> Pending:
    counts_key, first_key, last_key = _flushing_keys(schema)
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(counts_key)
    pipe.zrange(first_key, 0, -1, withscores=True)
    pipe.zrange(last_key, 0, -1, withscores=True)
    counts, firsts, lasts = pipe.execute()
    first = {name.decode(): score for name, score in firsts}
    last = {name.decode(): score for name, score in lasts}
    pending: Pending = {}
    for raw, n in counts.items():
        name = raw.decode()
        pending[name] = [int(n), first.get(name), last.get(name)]
    for name in first.keys() - pending.keys():  # a time without a count: nothing to add, times only
        pending[name] = [0, first[name], last.get(name, first[name])]
    return pending


def _apply(schema: str, fold_id: str, pending: Pending) -> int:
    """Apply one taken fold in the tenant's schema, at most once (by its id). Returns the events counted."""
    folded = fold(pending)
    with schema_context(schema), transaction.atomic():
        # The row lock of a concurrent fold with the same id is waited on, then this one conflicts.
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO definitions_flushes (id, flushed_at) VALUES (%s, now()) "
                           "ON CONFLICT DO NOTHING RETURNING id", [fold_id])
            if cursor.fetchone() is None:
                return 0  # applied by a run that died before deleting its keys
            cursor.execute("DELETE FROM definitions_flushes WHERE flushed_at < now() - %s", [FLUSH_IDS_KEPT])
        definitions_store(folded)
    return sum(entry[0] for entry in folded.events.values())


def _finish(redis: Any, schema: str) -> None:
    redis.delete(*_flushing_keys(schema), _key(schema, "flushing:id"))


def definitions_flush(*, schema_name: str) -> int:
    """Fold the tenant's pending counts from Redis into its tables (see the module docstring).
    Returns the number of events counted. Skipped (0) while another fold of the tenant holds the
    lock, or when Redis is unreachable (logged; the counts wait in Redis)."""
    try:
        redis = get_redis()
        token = secrets.token_hex(8)
        lock = _key(schema_name, "lock")
        if not redis.set(lock, token, nx=True, ex=LOCK_SECONDS):
            return 0
    except RedisError:
        logger.warning("event definitions not folded (Redis unavailable)", exc_info=True)
        return 0
    try:
        total = 0
        for _ in range(2):  # a fold left by a dead run first, then what is pending now
            fold_id = redis.get(_key(schema_name, "flushing:id"))
            if fold_id is None:
                fold_id = uuid.uuid4().hex.encode()
                keys = [_key(schema_name, part) for part in LIVE_PARTS] + _flushing_keys(schema_name)
                if not redis.eval(_TAKE, 7, *keys, _key(schema_name, "flushing:id"), fold_id):
                    break
            total += _apply(schema_name, fold_id.decode(), _read_taken(redis, schema_name))
            _finish(redis, schema_name)
        return total
    finally:
        try:
            redis.eval(_UNLOCK, 1, lock, token)
        except RedisError:
            logger.warning("event definitions' fold lock not released (it expires)", exc_info=True)


def definitions_pending_drop(*, schema_name: str) -> None:
    """Forget the tenant's pending counts (a rebuild replaces them; tests)."""
    get_redis().delete(*[_key(schema_name, part) for part in LIVE_PARTS], *_flushing_keys(schema_name),
                       _key(schema_name, "flushing:id"))


# --- the one-off rebuild from stored data -----------------------------------------------------------

_REBUILD_SQL = {
    "events": """
        SELECT event, count(*), min(LEAST("timestamp", received_at)), max(LEAST("timestamp", received_at))
        FROM events WHERE received_at < %(before)s GROUP BY event""",
    "properties": """
        SELECT p.key, CASE jsonb_typeof(p.value)
                   WHEN 'string' THEN CASE WHEN p.value #>> '{}' ~ %(datetime)s THEN 'datetime' ELSE 'string' END
                   ELSE jsonb_typeof(p.value) END AS kind_type,
               count(*), min(LEAST(e."timestamp", e.received_at)), max(LEAST(e."timestamp", e.received_at))
        FROM events e CROSS JOIN LATERAL jsonb_each(e.properties) p
        WHERE e.received_at < %(before)s AND length(p.key) <= %(max_key)s
        GROUP BY 1, 2""",
    "links": """
        SELECT e.event, p.key, count(*), max(LEAST(e."timestamp", e.received_at))
        FROM events e CROSS JOIN LATERAL jsonb_object_keys(e.properties) p(key)
        WHERE e.received_at < %(before)s AND length(p.key) <= %(max_key)s
        GROUP BY 1, 2""",
    # Traits are not kept per identify call: a person property's volume is the persons holding it.
    "traits": """
        SELECT t.key, CASE jsonb_typeof(t.value)
                   WHEN 'string' THEN CASE WHEN t.value #>> '{}' ~ %(datetime)s THEN 'datetime' ELSE 'string' END
                   ELSE jsonb_typeof(t.value) END,
               count(*), min(p.created_at), max(p.updated_at)
        FROM persons p CROSS JOIN LATERAL jsonb_each(p.traits) t
        WHERE length(t.key) <= %(max_key)s
        GROUP BY 1, 2""",
}


def definitions_rebuild() -> Folded:
    """In the current tenant schema: the definitions recomputed from the stored events (and persons'
    traits), replacing volumes, times and types (descriptions are kept). A full scan: for data
    stored before definitions were counted (`manage.py definitions_rebuild`). Pending counts are
    folded first; events received after the scan's start are left to the counters. A batch
    received while it runs may be counted twice (run it when ingestion is quiet)."""
    schema = connection.schema_name
    definitions_flush(schema_name=schema)
    before = datetime.now(timezone.utc)
    params = {"before": before, "datetime": DATETIME_PATTERN, "max_key": MAX_KEY_LENGTH}
    folded = Folded()
    ms = lambda moment: int(moment.timestamp() * 1000)  # noqa: E731
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_REBUILD_SQL["events"], params)
        for name, n, first, last in cursor.fetchall():
            folded.events[name] = [n, ms(first), ms(last)]
        for kind, query in (("event", "properties"), ("person", "traits")):
            cursor.execute(_REBUILD_SQL[query], params)
            for key, kind_type, n, first, last in cursor.fetchall():
                _merge(folded.properties, (kind, key), n, ms(first), ms(last), extra=set())[3].add(kind_type)
        cursor.execute(_REBUILD_SQL["links"], params)
        for event, key, n, last in cursor.fetchall():
            folded.links[(event, key)] = [n, ms(last)]
        definitions_store(folded, replace=True)
    return folded


# --- reads for the console pickers and the API ------------------------------------------------------

VALUES_SAMPLE = 10_000
VALUES_DAYS = 30
VALUES_EVENTS = 20  # without a chosen event: the events that carry the key most, at most this many
VALUES_TIMEOUT_MS = 5_000


def event_definition_list(*, search: str | None = None) -> Any:
    queryset = EventDefinition.objects.all()
    if search:
        queryset = queryset.filter(name__icontains=search)
    return queryset


def property_definition_list(*, kind: str | None = None, event: str | None = None, search: str | None = None) -> Any:
    queryset = PropertyDefinition.objects.all()
    if kind:
        queryset = queryset.filter(kind=kind)
    if event:
        queryset = queryset.filter(kind=PropertyDefinition.Kind.EVENT,
                                   key__in=EventPropertyKey.objects.filter(event=event).values("key"))
    if search:
        queryset = queryset.filter(key__icontains=search)
    return queryset


def event_definition_get(*, definition_id: Any) -> EventDefinition:
    return object_get(EventDefinition.objects.all(), definition_id, "event definition")


def property_definition_get(*, definition_id: Any) -> PropertyDefinition:
    return object_get(PropertyDefinition.objects.all(), definition_id, "property definition")


def definition_describe(*, definition: EventDefinition | PropertyDefinition, description: str) -> Any:
    """Set a definition's description (the only field anyone writes); audited as a model save."""
    if definition.description != description:
        definition.description = description
        definition.updated_at = django_timezone.now()
        definition.save(update_fields=["description", "updated_at"])
    return definition


def property_values(*, kind: str, key: str, event: str | None = None, search: str | None = None,
                    limit: int = 20, now: datetime | None = None) -> list[dict[str, Any]]:
    """The most common values of a property, as text, with how often each was seen, from a bounded
    sample: for an event property, at most VALUES_SAMPLE events of the last VALUES_DAYS days (of the
    chosen event, newest first; else of the VALUES_EVENTS events carrying the key most, in no
    particular order); for a person property, the VALUES_SAMPLE newest persons holding it. Nulls are
    left out; objects and arrays read as their JSON. Bound parameters only; 503 past
    VALUES_TIMEOUT_MS. (A read of the events table outside apps/insights: a bounded sample for
    pickers, not an analytics query.)"""
    if kind not in KINDS:
        raise ValidationFailed("kind must be event or person.", details={"kind": kind})
    pattern = None
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    params: dict[str, Any] = {"key": key, "sample": VALUES_SAMPLE, "limit": limit, "pattern": pattern}
    if kind == "person":
        sample = ("SELECT traits ->> %(key)s AS v FROM persons WHERE jsonb_exists(traits, %(key)s) "
                  "ORDER BY id DESC LIMIT %(sample)s")
    else:
        params["since"] = (now or datetime.now(timezone.utc)) - timedelta(days=VALUES_DAYS)
        if event:
            params["event"] = event
            sample = ("SELECT properties ->> %(key)s AS v FROM events WHERE event = %(event)s "
                      "AND \"timestamp\" >= %(since)s AND jsonb_exists(properties, %(key)s) "
                      "ORDER BY \"timestamp\" DESC LIMIT %(sample)s")
        else:
            params["events"] = list(EventPropertyKey.objects.filter(key=key).order_by("-volume", "event")
                                    .values_list("event", flat=True)[:VALUES_EVENTS])
            sample = ("SELECT properties ->> %(key)s AS v FROM events WHERE event = ANY(%(events)s) "
                      "AND \"timestamp\" >= %(since)s AND jsonb_exists(properties, %(key)s) LIMIT %(sample)s")
    sql = ("SELECT v, count(*) AS n FROM (" + sample + ") s WHERE v IS NOT NULL "
           "AND (%(pattern)s::text IS NULL OR v ILIKE %(pattern)s) GROUP BY v ORDER BY n DESC, v LIMIT %(limit)s")
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(VALUES_TIMEOUT_MS)])
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == "57014":  # query_canceled: the time limit
            raise Unavailable("Reading this property's values took too long; try again later.") from exc
        raise
    return [{"value": value, "count": n} for value, n in rows]
