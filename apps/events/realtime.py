"""Real-time figures from counters kept in Redis at ingestion: never a scan of the events table, so
reading them costs the same for a tenant with ten events or a billion.

Per tenant (its schema name in every key, so tenants never share a figure):
- `rt:<schema>:<minute>:n`  events received that minute (INCRBY);
- `rt:<schema>:<minute>:e`  a sorted set event name -> count that minute (ZINCRBY);
- `rt:<schema>:<minute>:u`  a sorted set page -> count that minute, page events only (ZINCRBY);
- `rt:<schema>:persons`     a sorted set distinct id -> when last seen (ZADD), trimmed of anyone
                            not seen for 30 minutes on every write (ZREMRANGEBYSCORE).
`<minute>` is the minute's start in seconds since the epoch. Every key expires 35 minutes after
it was last written: nothing to clean up.

Rules:
1. "Now" is the time an event is received, not the time it claims: an event counts in the minute
   its batch was received.
2. An event whose own timestamp is more than 30 minutes before it was received (a backfill, a
   replayed queue) does not count at all.
3. A person is a distinct id (an identify/alias merge is not followed). Active persons over 5 or
   30 minutes are counted exactly (ZCOUNT of the last-seen set from the start of the window's
   first minute). Its memory grows with the persons active in 30 minutes (about 100 bytes each):
   chosen over per-minute HyperLogLogs (PFADD/PFCOUNT, at most 12 kB a key) because those are
   estimates even for a few dozen persons (37 distinct ids read as 36), and a console that shows
   "36" to a tenant who knows it has 37 users is wrong where it is most checked.
4. Counted when the request's events are written, by the request (a retried batch whose events
   were already stored counts again: rare, and these are live figures, not the record).

Writing costs one pipelined round trip per batch (shared with the event definitions' counts);
reading, one round trip. Redis being down never fails an ingestion (logged, counted); reading
then raises `RealtimeUnavailable` (a 503).
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from prometheus_client import Counter as PromCounter

from django.conf import settings

from apps.core.exceptions import NotFound, Unavailable
from apps.core.redis import get_redis

logger = logging.getLogger(__name__)

WINDOW_MINUTES = 30
SHORT_WINDOW_MINUTES = 5
TOP = 10
KEY_TTL_SECONDS = 35 * 60
LAST_RECEIVED_TTL_SECONDS = 400 * 24 * 3600  # the last-received time outlives any retention gap
MAX_OLD = timedelta(minutes=WINDOW_MINUTES)
MAX_NAME = 200  # names and pages are cut to this length in the counters

REALTIME_UNAVAILABLE = PromCounter("realtime_counters_unavailable_total",
                                   "Ingested batches whose real-time counters could not be updated (Redis)")

# Where a page event names its page, in order of preference.
_PAGE_PROPERTIES = ("path", "$pathname", "url", "$current_url", "name")


class RealtimeUnavailable(Unavailable):
    code = "realtime_unavailable"


@dataclass(frozen=True)
class RealtimeEvent:
    """What the counters need of one stored event."""

    timestamp: datetime
    event: str
    event_type: str
    distinct_id: str
    page: str | None = None


def _minute(moment: datetime) -> int:
    seconds = int(moment.timestamp())
    return seconds - seconds % 60


def _key(schema: str, minute: int, kind: str) -> str:
    return f"rt:{schema}:{minute}:{kind}"


def _persons_key(schema: str) -> str:
    return f"rt:{schema}:persons"


def _last_key(schema: str) -> str:
    return f"rt:{schema}:last_received"


def last_received_get(*, schema: str) -> datetime | None:
    """When the tenant's newest stored batch was received (None: nothing in the last
    LAST_RECEIVED_TTL_SECONDS, or not since this was recorded). Raises RealtimeUnavailable when
    Redis cannot be reached."""
    try:
        value = get_redis().get(_last_key(schema))
    except Exception as exc:  # noqa: BLE001
        raise RealtimeUnavailable("The real-time store (Redis) is unavailable.") from exc
    return None if value is None else datetime.fromtimestamp(float(value), timezone.utc)


def page_of(event_type: str, properties: dict[str, Any], context: dict[str, Any]) -> str | None:
    """The page a page event names (its path, else its URL, else its name); None for other events."""
    if event_type != "page":
        return None
    page_context = context.get("page") if isinstance(context.get("page"), dict) else {}
    for source in (properties, page_context):
        for name in _PAGE_PROPERTIES:
            value = source.get(name)
            if isinstance(value, str) and value:
                return value[:MAX_NAME]
    return "(unknown)"


def realtime_record(*, schema: str, events: Iterable[RealtimeEvent], received_at: datetime,
                    also: Callable[[Any], None] | None = None) -> bool:
    """Count a stored batch in the current minute's counters: one pipelined round trip. `also`
    stages more of the batch's counts into the same pipeline (the event definitions',
    apps.events.definitions), which runs whether or not ENABLE_REAL_TIME is on. The pipeline is one
    MULTI/EXEC transaction, so a reader renaming keys away (the definitions' fold) sees all of a
    batch or none of it. Never raises: answers False (logged, counted) when Redis could not be
    reached."""
    oldest = received_at - MAX_OLD
    count = 0
    ids: set[str] = set()
    names: Counter[str] = Counter()
    pages: Counter[str] = Counter()
    for event in events:
        if event.timestamp < oldest:
            continue  # rule 2: a backfill is not "now"
        count += 1
        ids.add(event.distinct_id)
        names[event.event[:MAX_NAME]] += 1
        if event.page is not None:
            pages[event.page[:MAX_NAME]] += 1
    if not settings.ENABLE_REAL_TIME:
        count = 0  # the live view is switched off: only the last-received time is kept
    minute = _minute(received_at)
    keys = {kind: _key(schema, minute, kind) for kind in "neu"}
    persons = _persons_key(schema)
    seen = received_at.timestamp()
    try:
        pipe = get_redis().pipeline(transaction=True)
        # When the tenant last received an event (a backfill too): GET /api/v1/status's ingestion lag.
        pipe.set(_last_key(schema), repr(seen), ex=LAST_RECEIVED_TTL_SECONDS)
        if also is not None:
            also(pipe)
        if not count:
            pipe.execute()
            return True
        pipe.incrby(keys["n"], count)
        # A batch's receive time is the latest any of its ids was seen (batches arrive in time order;
        # two concurrent ones may swap by milliseconds).
        pipe.zadd(persons, dict.fromkeys(ids, seen))
        pipe.zremrangebyscore(persons, "-inf", f"({seen - MAX_OLD.total_seconds() - 60}")
        pipe.expire(persons, KEY_TTL_SECONDS)
        for name, n in names.items():
            pipe.zincrby(keys["e"], n, name)
        for page, n in pages.items():
            pipe.zincrby(keys["u"], n, page)
        for kind, key in keys.items():
            if kind != "u" or pages:
                pipe.expire(key, KEY_TTL_SECONDS)
        pipe.execute()
    except Exception:  # noqa: BLE001 - fail open: the events are stored, their answer stands
        REALTIME_UNAVAILABLE.inc()
        logger.warning("real-time counters unavailable (Redis); batch not counted", exc_info=True)
        return False
    return True


@dataclass(frozen=True)
class Realtime:
    at: datetime
    active_persons_5m: int
    active_persons_30m: int
    events_30m: int
    events_per_minute: list[dict[str, Any]]
    top_events: list[dict[str, Any]]
    top_pages: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at),
            "window_minutes": WINDOW_MINUTES,
            "active_persons": {"last_5_minutes": self.active_persons_5m, "last_30_minutes": self.active_persons_30m},
            "events": self.events_30m,
            "events_per_minute": self.events_per_minute,
            "top_events": self.top_events,
            "top_pages": self.top_pages,
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def realtime_get(*, schema: str, now: datetime | None = None, top: int = TOP) -> Realtime:
    """The tenant's figures over the last 30 minutes (the current minute and the 29 before it), in
    one round trip. Raises RealtimeUnavailable when Redis cannot be read, NotFound when
    ENABLE_REAL_TIME is off."""
    if not settings.ENABLE_REAL_TIME:
        raise NotFound("The live view is switched off on this server (ENABLE_REAL_TIME=false).",
                       code="realtime_disabled")
    now = now or datetime.now(timezone.utc)
    current = _minute(now)
    minutes = [current - 60 * back for back in range(WINDOW_MINUTES - 1, -1, -1)]  # oldest first
    short = minutes[-SHORT_WINDOW_MINUTES:]
    scratch = f"rt:{schema}:tmp:{uuid.uuid4().hex}"
    try:
        pipe = get_redis().pipeline(transaction=True)
        pipe.mget([_key(schema, m, "n") for m in minutes])
        pipe.zcount(_persons_key(schema), short[0], "+inf")
        pipe.zcount(_persons_key(schema), minutes[0], "+inf")
        for kind in "eu":
            # Merged in Redis (only the top comes back), then dropped in the same transaction.
            pipe.zunionstore(f"{scratch}:{kind}", [_key(schema, m, kind) for m in minutes])
            pipe.zrevrange(f"{scratch}:{kind}", 0, top - 1, withscores=True)
            pipe.delete(f"{scratch}:{kind}")
        results = pipe.execute()
    except Exception as exc:  # noqa: BLE001
        logger.warning("real-time counters unreadable (Redis)", exc_info=True)
        raise RealtimeUnavailable("Real-time figures are unavailable just now; try again shortly.") from exc
    counts, persons_5, persons_30 = results[0], results[1], results[2]
    per_minute = [{"minute": _iso(datetime.fromtimestamp(m, timezone.utc)), "events": int(c or 0)}
                  for m, c in zip(minutes, counts)]
    return Realtime(
        at=now, active_persons_5m=int(persons_5), active_persons_30m=int(persons_30),
        events_30m=sum(row["events"] for row in per_minute), events_per_minute=per_minute,
        top_events=_top(results[4], "event"), top_pages=_top(results[7], "page"),
    )


def _top(rows: list[tuple[bytes, float]], name: str) -> list[dict[str, Any]]:
    # Ties in count are broken by name, so the answer does not depend on Redis' internal order.
    merged = [{name: member.decode("utf-8", "replace"), "count": int(score)} for member, score in rows]
    return sorted(merged, key=lambda row: (-row["count"], row[name]))


def events_of_rows(rows: Iterable[Any]) -> list[RealtimeEvent]:
    """RealtimeEvents from ingestion's EventRows."""
    return [RealtimeEvent(timestamp=row.timestamp, event=row.event, event_type=row.event_type,
                          distinct_id=row.distinct_id,
                          page=page_of(row.event_type, row.properties, row.context)) for row in rows]

