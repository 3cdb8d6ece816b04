"""Decoding and validating incoming events (the hot path: no DRF serializers).

Three wire formats map to one `EventRow`:
- Segment's HTTP Tracking API (`/v1/track|identify|page|screen|group|alias|batch`),
- PostHog's capture API v0 (`/batch/`, `/capture/`, `/e/`),
- the native API (`/api/v1/events/track|batch`).

Each event is checked on its own; a bad one is rejected with a reason and the rest go on.
"""

from __future__ import annotations

import gzip
import re
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
from django.conf import settings

from apps.events.types import ACCEPTED_TYPES, FIXED_EVENT_NAMES, canonical_type

_JSON_ENCODER = msgspec.json.Encoder()
_JSON_DECODER = msgspec.json.Decoder()

MAX_ID_LENGTH = 200
MAX_EVENT_NAME_LENGTH = 200
MAX_DEPTH = 20
FUTURE_TOLERANCE = timedelta(hours=24)


class BodyError(Exception):
    """The request body as a whole cannot be read: answered with one error, nothing stored."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class EventRejected(Exception):
    """One event is invalid; the reason goes back to the client with the event's index."""


@dataclass(slots=True)
class EventRow:
    timestamp: datetime
    event_type: str
    event: str
    distinct_id: str
    user_id: str | None
    anonymous_id: str | None
    session_id: str | None
    message_id: str
    properties: dict[str, Any]
    context: dict[str, Any]
    # Identity side effects, applied with the batch.
    traits: dict[str, Any] | None = None
    traits_once: dict[str, Any] | None = None  # set only where the person has no such trait yet
    merge_from: str | None = None  # a distinct id to merge into `distinct_id`
    json_properties: bytes = field(default=b"")
    json_context: bytes = field(default=b"")
    index: int = 0  # the event's position in the request (for answers by index)


# --- the body ------------------------------------------------------------------------------------


def read_body(raw: bytes, content_encoding: str) -> Any:
    """Decompress (gzip/deflate) within the body limit and decode JSON."""
    limit = settings.INGEST_MAX_BODY_BYTES
    if len(raw) > limit:
        raise BodyError(413, "body_too_large", f"The body is larger than {limit} bytes.")
    encoding = content_encoding.strip().lower()
    if encoding in ("gzip", "deflate") or raw[:2] == b"\x1f\x8b":
        raw = _inflate(raw, limit, gzip_header=encoding != "deflate")
    elif encoding not in ("", "identity"):
        raise BodyError(415, "unsupported_encoding", f"Content-Encoding {encoding!r} is not supported.")
    if not raw.strip():
        raise BodyError(400, "malformed_request", "The body is empty.")
    try:
        return _JSON_DECODER.decode(raw)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise BodyError(400, "malformed_request", f"The body is not valid JSON: {exc}") from None


def _inflate(raw: bytes, limit: int, *, gzip_header: bool) -> bytes:
    # Bounded: a small gzip bomb must not expand past the body limit in memory.
    decompressor = zlib.decompressobj(wbits=31 if gzip_header else 15)
    try:
        out = decompressor.decompress(raw, limit + 1)
        if len(out) > limit or decompressor.unconsumed_tail:
            raise BodyError(413, "body_too_large", f"The decompressed body is larger than {limit} bytes.")
        if not decompressor.eof:
            raise BodyError(400, "malformed_request", "The compressed body is truncated.")
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise BodyError(400, "malformed_request", f"The body is not valid gzip: {exc}") from None
    return out


def batch_list(items: Any, *, name: str = "batch") -> list[Any]:
    if not isinstance(items, list):
        raise BodyError(400, "malformed_request", f"`{name}` must be an array of events.")
    if not items:
        raise BodyError(400, "malformed_request", f"`{name}` is empty.")
    if len(items) > settings.INGEST_MAX_BATCH_EVENTS:
        raise BodyError(413, "too_many_events",
                        f"A batch holds at most {settings.INGEST_MAX_BATCH_EVENTS} events, got {len(items)}.")
    return items


# --- field checks --------------------------------------------------------------------------------


def _id(value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise EventRejected(f"{name} must be a string.")
    text = str(value)
    if len(text) > MAX_ID_LENGTH:
        raise EventRejected(f"{name} is longer than {MAX_ID_LENGTH} characters.")
    if "\x00" in text:
        raise EventRejected(f"{name} contains a NUL character.")
    return text


def _object(value: Any, name: str) -> dict[str, Any]:
    """An object field. Its contents are checked once encoded (see _check_encoded)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EventRejected(f"{name} must be an object.")
    return value


# A NUL in the JSON: `\u0000` preceded by an even number of backslashes (an odd number means the
# text itself contained a backslash followed by "u0000").
_ENCODED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def _check_encoded(encoded: bytes, value: Any, name: str) -> None:
    """The fast path of _check_tree on the encoded JSON (C-speed scans); the slow walk runs only
    when a scan finds something, to name the problem precisely."""
    suspicious = b"\\u0000" in encoded and _ENCODED_NUL.search(encoded)
    if suspicious or encoded.count(b"{") + encoded.count(b"[") > MAX_DEPTH:
        _check_tree(value, name)


def _check_tree(root: Any, name: str) -> None:
    """No NUL in any key or string (PostgreSQL's jsonb refuses \\u0000) and at most MAX_DEPTH levels."""
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise EventRejected(f"{name} is nested deeper than {MAX_DEPTH} levels.")
        if isinstance(node, dict):
            for key, value in node.items():
                if "\x00" in key:
                    raise EventRejected(f"{name} has a key with a NUL character.")
                if isinstance(value, str):
                    if "\x00" in value:
                        raise EventRejected(f"{name}.{key} contains a NUL character.")
                elif isinstance(value, (dict, list)):
                    stack.append((value, depth + 1))
        elif isinstance(node, list):
            for value in node:
                if isinstance(value, str):
                    if "\x00" in value:
                        raise EventRejected(f"{name} contains a NUL character.")
                elif isinstance(value, (dict, list)):
                    stack.append((value, depth + 1))


def parse_time(value: Any, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise EventRejected(f"{name} must be an ISO 8601 string.")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise EventRejected(f"{name} is not a valid ISO 8601 time: {value[:40]!r}.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)  # Segment's convention: no offset means UTC
    return parsed


@dataclass(frozen=True)
class Clock:
    """The receiving side of one request: when it arrived, the batch's sentAt, the tenant's retention."""

    received_at: datetime
    sent_at: datetime | None
    retention_days: int

    def __post_init__(self) -> None:
        # Computed once per request, not per event.
        object.__setattr__(self, "latest", self.received_at + FUTURE_TOLERANCE)
        object.__setattr__(self, "earliest", self.received_at - timedelta(days=self.retention_days))

    def event_time(self, timestamp: datetime | None, sent_at: datetime | None) -> datetime:
        """The corrected event time: timestamp + (received_at - sentAt) when sentAt is known."""
        if timestamp is None:
            return self.received_at
        sent = sent_at or self.sent_at
        if sent is not None:
            skew = self.received_at - sent
            try:
                timestamp = timestamp + skew
            except OverflowError:
                # The correction leaves years 1-9999: out of range one way or the other.
                timestamp = datetime.max.replace(tzinfo=timezone.utc) if skew > timedelta(0) \
                    else datetime.min.replace(tzinfo=timezone.utc)
        if timestamp > self.latest:
            raise EventRejected("timestamp is more than 24 hours in the future.")
        if timestamp < self.earliest:
            raise EventRejected(f"timestamp is older than the tenant's retention ({self.retention_days} days).")
        return timestamp


def _finish(row: EventRow) -> EventRow:
    """Encode the JSON columns once, check their contents, and enforce the per-event size limit."""
    row.json_properties = _JSON_ENCODER.encode(row.properties)
    _check_encoded(row.json_properties, row.properties, "properties")
    row.json_context = _JSON_ENCODER.encode(row.context)
    _check_encoded(row.json_context, row.context, "context")
    size = len(row.json_properties) + len(row.json_context) + len(row.event) + len(row.distinct_id)
    for name, traits in (("traits", row.traits), ("traits", row.traits_once)):
        if traits:
            encoded = _JSON_ENCODER.encode(traits)
            _check_encoded(encoded, traits, name)
            size += len(encoded)
    if size > settings.INGEST_MAX_EVENT_BYTES:
        raise EventRejected(f"The event is larger than {settings.INGEST_MAX_EVENT_BYTES} bytes.")
    return row


def _message_id(value: Any) -> str:
    return _id(value, "messageId") or str(uuid.uuid4())


# --- Segment ---------------------------------------------------------------------------------------

SEGMENT_TYPES = {"track", "identify", "page", "screen", "group", "alias"}


def parse_segment(message: Any, clock: Clock, default_type: str | None = None) -> EventRow:
    if not isinstance(message, dict):
        raise EventRejected("An event must be an object.")
    event_type = message.get("type", default_type)
    if default_type and message.get("type") not in (None, default_type):
        raise EventRejected(f"type must be {default_type!r} on this endpoint.")
    if not isinstance(event_type, str) or event_type not in SEGMENT_TYPES:  # a list or object is unhashable
        raise EventRejected(f"type must be one of {', '.join(sorted(SEGMENT_TYPES))}.")
    user_id = _id(message.get("userId"), "userId")
    anonymous_id = _id(message.get("anonymousId"), "anonymousId")
    properties = _object(message.get("properties"), "properties")
    context = _object(message.get("context"), "context")
    traits = _object(message.get("traits"), "traits") if event_type in ("identify", "group") else None
    merge_from = None
    if event_type == "alias":
        previous_id = _id(message.get("previousId"), "previousId")
        if not previous_id or not user_id:
            raise EventRejected("alias needs userId and previousId.")
        merge_from = previous_id
    elif not user_id and not anonymous_id:
        raise EventRejected("userId or anonymousId is required.")
    elif event_type == "identify" and user_id and anonymous_id:
        merge_from = anonymous_id
    if event_type == "track":
        event = message.get("event")
        if not isinstance(event, str) or not event.strip():
            raise EventRejected("event must be a non-empty string.")
        if len(event) > MAX_EVENT_NAME_LENGTH or "\x00" in event:
            raise EventRejected(f"event must be at most {MAX_EVENT_NAME_LENGTH} characters, without NUL.")
    else:
        event = FIXED_EVENT_NAMES[event_type]
        name = message.get("name")
        if event_type in ("page", "screen") and name is not None:
            if not isinstance(name, str) or "\x00" in name:
                raise EventRejected("name must be a string.")
            properties = {**properties, "name": name}
        if event_type == "group":
            group_id = _id(message.get("groupId"), "groupId")
            if not group_id:
                raise EventRejected("group needs groupId.")
            properties = {**properties, "groupId": group_id, "traits": traits or {}}
            traits = None
    timestamp = clock.event_time(parse_time(message.get("timestamp"), "timestamp"),
                                 parse_time(message.get("sentAt"), "sentAt"))
    session_id = _id((context or {}).get("sessionId") or properties.get("session_id"), "sessionId")
    return _finish(EventRow(
        timestamp=timestamp, event_type=event_type, event=event, distinct_id=user_id or anonymous_id,
        user_id=user_id, anonymous_id=anonymous_id, session_id=session_id,
        message_id=_message_id(message.get("messageId")), properties=properties, context=context,
        traits=traits if event_type == "identify" else None, merge_from=merge_from,
    ))


# --- native ----------------------------------------------------------------------------------------

_NATIVE_FIELDS = frozenset({"event_type", "event_name", "user_id", "anonymous_id", "session_id", "properties",
                            "context", "timestamp", "sent_at", "message_id", "traits", "previous_id"})


def parse_native(event: Any, clock: Clock, *, source: str | None = None) -> EventRow:
    """A native event (DESIGN §4) in our names or the seed API's (`page_view`; see apps.events.types).
    `source` (the batch's, as the seed's `/events/track/batch` sends it) becomes `context.source`."""
    if not isinstance(event, dict):
        raise EventRejected("An event must be an object.")
    unknown = set(event) - _NATIVE_FIELDS
    if unknown:
        raise EventRejected(f"Unknown fields: {', '.join(sorted(unknown))}.")
    given_type = event.get("event_type", "track")
    # A list or object is unhashable: check the type first.
    event_type = canonical_type(given_type) if isinstance(given_type, str) else None
    if event_type is None:
        raise EventRejected(f"event_type must be one of {', '.join(sorted(ACCEPTED_TYPES))}.")
    name = event.get("event_name")
    fixed_name = FIXED_EVENT_NAMES.get(event_type)
    # A type with a fixed event name (a page view) needs no name, as in Segment.
    named = name is not None or fixed_name is None
    if named and (not isinstance(name, str) or not name.strip() or len(name) > MAX_EVENT_NAME_LENGTH
                  or "\x00" in name):
        raise EventRejected(f"event_name must be a non-empty string of at most {MAX_EVENT_NAME_LENGTH} characters.")
    properties = _object(event.get("properties"), "properties")
    if fixed_name is not None:
        if name is not None and name != fixed_name and "name" not in properties:
            properties = {**properties, "name": name}
        name = fixed_name
    context = _object(event.get("context"), "context")
    if source is not None and "source" not in context:
        context = {**context, "source": source}
    user_id = _id(event.get("user_id"), "user_id")
    anonymous_id = _id(event.get("anonymous_id"), "anonymous_id")
    if not user_id and not anonymous_id:
        raise EventRejected("user_id or anonymous_id is required.")
    merge_from = None
    if event_type == "alias":
        merge_from = _id(event.get("previous_id"), "previous_id")
        if not merge_from or not user_id:
            raise EventRejected("alias needs user_id and previous_id.")
    elif event_type == "identify" and user_id and anonymous_id:
        merge_from = anonymous_id
    traits = _object(event.get("traits"), "traits") if event_type == "identify" else None
    timestamp = clock.event_time(parse_time(event.get("timestamp"), "timestamp"),
                                 parse_time(event.get("sent_at"), "sent_at"))
    return _finish(EventRow(
        timestamp=timestamp, event_type=event_type, event=name, distinct_id=user_id or anonymous_id,
        user_id=user_id, anonymous_id=anonymous_id, session_id=_id(event.get("session_id"), "session_id"),
        message_id=_message_id(event.get("message_id")), properties=properties, context=context,
        traits=traits, merge_from=merge_from,
    ))


# --- PostHog (capture API v0) ----------------------------------------------------------------------


def parse_posthog(event: Any, clock: Clock) -> EventRow:
    if not isinstance(event, dict):
        raise EventRejected("An event must be an object.")
    name = event.get("event")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_EVENT_NAME_LENGTH or "\x00" in name:
        raise EventRejected(f"event must be a non-empty string of at most {MAX_EVENT_NAME_LENGTH} characters.")
    properties = _object(event.get("properties"), "properties")
    distinct_id = _id(event.get("distinct_id", properties.get("distinct_id")), "distinct_id")
    if not distinct_id:
        raise EventRejected("distinct_id is required.")
    properties = {k: v for k, v in properties.items() if k != "distinct_id"}
    event_type, merge_from = "track", None
    # PostHog sends one distinct_id, anonymous or not; only $identify says it is a user's.
    user_id, anonymous_id = None, None
    # Person properties: `$set` / `$set_once` in the properties or beside them, on any event.
    traits = {**_object(properties.get("$set"), "$set"), **_object(event.get("$set"), "$set")} or None
    traits_once = {**_object(properties.get("$set_once"), "$set_once"),
                   **_object(event.get("$set_once"), "$set_once")} or None
    if name == "$identify":
        event_type = "identify"
        merge_from = _id(properties.get("$anon_distinct_id"), "$anon_distinct_id")
        user_id, anonymous_id = distinct_id, merge_from
    elif name == "$create_alias":
        event_type = "alias"
        merge_from = _id(properties.get("alias"), "alias")
        if not merge_from:
            raise EventRejected("$create_alias needs properties.alias.")
    elif name == "$pageview":
        event_type = "page"
    elif name == "$screen":
        event_type = "screen"
    elif name == "$groupidentify":
        event_type = "group"
    timestamp = clock.event_time(parse_time(event.get("timestamp"), "timestamp"),
                                 parse_time(event.get("sent_at"), "sent_at"))
    session_id = _id(properties.get("$session_id"), "$session_id")
    return _finish(EventRow(
        timestamp=timestamp, event_type=event_type, event=name, distinct_id=distinct_id, user_id=user_id,
        anonymous_id=anonymous_id, session_id=session_id, message_id=_message_id(event.get("uuid")),
        properties=properties, context={}, traits=traits, traits_once=traits_once, merge_from=merge_from,
    ))
