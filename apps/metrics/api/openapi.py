"""OpenAPI entries for the typed tracking forms (apps.metrics.api.typed): plain Django views, which
drf-spectacular cannot see, added by this post-processing hook (after the ingestion paths)."""

from __future__ import annotations

from typing import Any

from apps.core.openapi import WRITE_KEY_SCHEME, error_response
from apps.metrics.api.typed import MAX_ENDPOINT, MAX_MESSAGE, MAX_STACK, MAX_SYSTEM_FIELDS

_ACTOR = {
    "user_id": {"type": "string"}, "anonymous_id": {"type": "string"}, "session_id": {"type": "string"},
    "timestamp": {"type": "string", "format": "date-time"},
}
_COUNTS = {
    "type": "object", "required": ["accepted", "rejected"],
    "properties": {"accepted": {"type": "integer"}, "rejected": {"type": "array", "items": {"type": "object"}},
                   "values": {"type": "integer", "description": "Metric values stored (api-request)."},
                   "events": {"type": "integer", "description": "Events stored (api-request: 1 when status >= 500)."}},
}
_BODIES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "action": ("track_action", "Track a user action: an event named by `action`", {
        "type": "object", "required": ["action"], "additionalProperties": False,
        "properties": {"action": {"type": "string", "maxLength": 200},
                       "details": {"type": "object", "description": "The event's properties."}, **_ACTOR}}),
    "api-request": ("track_api_request", "Track an API request: a value of the histogram "
                    "`api_request.duration` (and an event `$api_error` when status >= 500)", {
        "type": "object", "required": ["endpoint", "method", "status", "duration_ms"], "additionalProperties": False,
        "properties": {"endpoint": {"type": "string", "maxLength": MAX_ENDPOINT},
                       "method": {"type": "string", "maxLength": 16},
                       "status": {"type": "integer", "minimum": 100, "maximum": 599},
                       "duration_ms": {"type": "number", "minimum": 0}, **_ACTOR}}),
    "error": ("track_error", "Track an error: an event `$error`", {
        "type": "object", "required": ["error_type", "message"], "additionalProperties": False,
        "properties": {"error_type": {"type": "string", "maxLength": 200},
                       "message": {"type": "string", "maxLength": MAX_MESSAGE},
                       "stack": {"type": "string", "maxLength": MAX_STACK},
                       "context": {"type": "object"}, **_ACTOR}}),
    "system-metrics": ("track_system_metrics", "Track system metrics: one value of the gauge "
                       "`system.<field>` per numeric field", {
        "type": "object", "maxProperties": MAX_SYSTEM_FIELDS + 2,
        "properties": {"cpu_percent": {"type": "number"}, "memory_percent": {"type": "number"},
                       "timestamp": {"type": "string", "format": "date-time"},
                       "dimensions": {"type": "object", "description": "Of every value, e.g. {\"host\": \"web-1\"}."}},
        "additionalProperties": {"type": "number"}}),
}


def add_typed_track_paths(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    paths = result.setdefault("paths", {})
    errors = {str(code): error_response(code, text)
              for code, text in [(400, "Unreadable or invalid body"), (401, "Missing, unknown or revoked key"),
                                 (413, "Body too large"),
                                 (415, "Unsupported Content-Encoding"),
                                 (429, "Rate limit or monthly quota (Retry-After)")]}
    for kind, (operation_id, summary, body) in _BODIES.items():
        paths[f"/api/v1/track/{kind}"] = {"post": {
            "operationId": operation_id, "tags": ["ingestion (typed)"], "summary": summary,
            "description": f"Also at `/api/analytics/track/{kind}` (the seed's path).",
            "security": [{"writeKey": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {"200": {"description": "Stored", "content": {"application/json": {"schema": _COUNTS}}},
                          **errors},
        }}
    result.setdefault("components", {}).setdefault("securitySchemes", {})["writeKey"] = WRITE_KEY_SCHEME
    return result
