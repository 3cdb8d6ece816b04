"""The tenant URLs plus stand-ins for the console's definitions views (another page serves them;
their contract: docs/console.md, Explore), so the explorer's pickers are tested against that
contract before they land. Used by tests/console/test_explorer_browser.py only."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

from analytics_project.urls_tenant import urlpatterns as tenant_urlpatterns

HOSTILE = "<img src=x onerror=alert(1)>"
REQUESTS: list[tuple[str, dict]] = []  # what the page asked for, in order


def _events(request: HttpRequest) -> JsonResponse:
    REQUESTS.append(("events", dict(request.GET.items())))
    names = [name for name in ("Buy", "Visit", HOSTILE) if request.GET.get("search", "").lower() in name.lower()]
    return JsonResponse({"results": [{"name": n, "volume": 7, "first_seen": None, "last_seen": None,
                                      "description": ""} for n in names]})


def _properties(request: HttpRequest) -> JsonResponse:
    REQUESTS.append(("properties", dict(request.GET.items())))
    keys = {"Buy": ["amount", "currency"], "": ["path"]}.get(request.GET.get("event", ""), [])
    if request.GET.get("kind") == "person":
        keys = ["plan"]
    return JsonResponse({"results": [{"key": k, "kind": request.GET.get("kind"), "types": ["String"], "volume": 3,
                                      "description": ""} for k in keys]})


def _values(request: HttpRequest) -> JsonResponse:
    REQUESTS.append(("values", dict(request.GET.items())))
    values = {"plan": ["pro", "free"], "amount": [10, 12]}.get(request.GET.get("key", ""), [])
    return JsonResponse({"results": [{"value": v, "count": 2} for v in values]})


urlpatterns = [
    path("admin/definitions/events.json", _events, name="definitions_events"),
    path("admin/definitions/properties.json", _properties, name="definitions_properties"),
    path("admin/definitions/values.json", _values, name="definitions_values"),
    *tenant_urlpatterns,
]
