"""OpenAPI entries for the ingestion endpoints. They are plain Django views (the hot path skips
DRF), so drf-spectacular cannot see them; this post-processing hook adds them to the document."""

from __future__ import annotations

from typing import Any

from apps.core.openapi import WRITE_KEY_SCHEME, error_response

_ACCEPTED = {
    "type": "object", "required": ["accepted", "rejected"],
    "properties": {
        "accepted": {"type": "integer", "description": "Valid events (stored, or already stored by a retry)."},
        "rejected": {"type": "array", "items": {"type": "object", "properties": {
            "index": {"type": "integer"}, "error": {"type": "string"}}}},
        "warnings": {"type": "array", "description": "Only when there are some: events stored with warnings "
                     "(a tracking plan in `warn` mode), by index.",
                     "items": {"type": "object", "properties": {
                         "index": {"type": "integer"}, "warnings": {"type": "array", "items": {"type": "string"}}}}},
    },
}
_SEGMENT_MESSAGE = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["track", "identify", "page", "screen", "group", "alias"]},
        "userId": {"type": "string"}, "anonymousId": {"type": "string"}, "event": {"type": "string"},
        "name": {"type": "string"}, "previousId": {"type": "string"}, "groupId": {"type": "string"},
        "properties": {"type": "object"}, "traits": {"type": "object"}, "context": {"type": "object"},
        "timestamp": {"type": "string", "format": "date-time"}, "sentAt": {"type": "string", "format": "date-time"},
        "messageId": {"type": "string", "description": "De-duplicates retries."},
        "integrations": {"type": "object"},
    },
}
_NATIVE_EVENT = {
    "type": "object", "required": ["event_name"],
    "properties": {
        "event_type": {"type": "string", "default": "track"}, "event_name": {"type": "string"},
        "user_id": {"type": "string"}, "anonymous_id": {"type": "string"}, "session_id": {"type": "string"},
        "properties": {"type": "object"}, "context": {"type": "object"}, "traits": {"type": "object"},
        "previous_id": {"type": "string"}, "timestamp": {"type": "string", "format": "date-time"},
        "sent_at": {"type": "string", "format": "date-time"}, "message_id": {"type": "string"},
    },
}


def _operation(operation_id: str, summary: str, body: dict[str, Any], tag: str) -> dict[str, Any]:
    errors = {str(code): error_response(code, text)
              for code, text in [(400, "Unreadable body, or no valid event"), (401, "Missing, unknown or revoked key"),
                                 (413, "Body or batch too large"), (415, "Unsupported Content-Encoding"),
                                 (429, "Rate limit or monthly quota (Retry-After)")]}
    return {"post": {
        "operationId": operation_id, "tags": [tag], "summary": summary, "security": [{"writeKey": []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {"200": {"description": "Committed", "content": {"application/json": {"schema": _ACCEPTED}}},
                      **errors},
    }}


def add_ingestion_paths(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    paths = result.setdefault("paths", {})
    for kind in ("track", "identify", "page", "screen", "group", "alias"):
        paths[f"/v1/{kind}"] = _operation(f"segment_{kind}", f"Segment {kind}", _SEGMENT_MESSAGE,
                                          "ingestion (Segment)")
    paths["/v1/batch"] = _operation("segment_batch", "Segment batch", {"type": "object", "required": ["batch"], "properties": {
        "batch": {"type": "array", "maxItems": 1000, "items": _SEGMENT_MESSAGE}, "sentAt": {"type": "string"},
        "writeKey": {"type": "string"}, "context": {"type": "object"}}}, "ingestion (Segment)")
    paths["/api/v1/events/track"] = _operation("events_track", "Track one event", _NATIVE_EVENT, "ingestion")
    paths["/api/v1/events/batch"] = _operation("events_batch", "Track a batch", {"type": "object", "required": ["events"],
        "properties": {"events": {"type": "array", "maxItems": 1000, "items": _NATIVE_EVENT},
                       "sent_at": {"type": "string"}}}, "ingestion")
    posthog = {"type": "object", "properties": {"api_key": {"type": "string"}, "batch": {"type": "array"},
                                                "sent_at": {"type": "string"}}}
    for path in ("/batch/", "/capture/", "/e/"):
        paths[path] = _operation(f"posthog_{path.strip('/')}", "PostHog capture (v0)", posthog,
                                 "ingestion (PostHog)")
    schemes = result.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["writeKey"] = WRITE_KEY_SCHEME
    return result
