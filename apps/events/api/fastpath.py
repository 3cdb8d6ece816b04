"""A direct WSGI route for ingestion POSTs, in front of Django's handler.

Ingestion is the hot path: a single event costs about 1.2 ms of CPU in gunicorn, and Django's
middleware stack and URL resolution are a sixth of that. Here the ingestion POSTs go straight to
their views with only what those paths need from the stack:
- connection lifecycle: Django's request_started / request_finished signals, as its handler sends;
- tenant routing by key: the same function the routing middleware uses (fails closed; it also
  refuses an expired key, and a key without the `write` scope, before any view runs);
- CORS: ingestion accepts any origin (no credentials), as the CORS settings say for these paths;
- request metrics: the same Prometheus series as RequestMetricsMiddleware;
- Content-Length, as CommonMiddleware sets it;
- any exception becomes the standard 500 body (503 for a database outage), logged like Django logs it.
Every other request (other paths, other methods, CORS preflights) goes through Django unchanged.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Iterable

from django.core import signals
from django.core.handlers.wsgi import WSGIRequest
from django.db import connection
from django.http import HttpRequest, HttpResponse

from apps.core.errors import handler500
from apps.core.metrics import REQUEST_LATENCY, REQUESTS
from apps.events.api import ingest
from apps.tenancy.middleware import route_by_key

logger = logging.getLogger("django.request")

ROUTES: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/v1/track": ingest.segment_track,
    "/v1/identify": ingest.segment_identify,
    "/v1/page": ingest.segment_page,
    "/v1/screen": ingest.segment_screen,
    "/v1/group": ingest.segment_group,
    "/v1/alias": ingest.segment_alias,
    "/v1/batch": ingest.segment_batch,
    "/api/v1/events/track": ingest.native_track,
    "/api/v1/events/batch": ingest.native_batch,
    "/api/v1/events/track/batch": ingest.native_batch,
    "/batch/": ingest.posthog_capture,
    "/batch": ingest.posthog_capture,
    "/capture/": ingest.posthog_capture,
    "/capture": ingest.posthog_capture,
    "/e/": ingest.posthog_capture,
}


class IngestionFastPath:
    def __init__(self, application: Callable[..., Iterable[bytes]]) -> None:
        self.application = application

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        # A trailing slash is tolerated on the native paths, as on every other API path.
        view = (ROUTES.get(path) or ROUTES.get(path.rstrip("/"))) if environ.get("REQUEST_METHOD") == "POST" else None
        if view is None:
            return self.application(environ, start_response)
        started = time.perf_counter()
        signals.request_started.send(sender=self.__class__, environ=environ)
        request = WSGIRequest(environ)
        try:
            connection.set_schema_to_public()
            response = route_by_key(request) or view(request)
        except Exception:
            logger.exception("Internal Server Error: %s", path, extra={"status_code": 500, "request": request})
            response = handler500(request)  # a database outage is a 503, as through Django
        finally:
            connection.set_schema_to_public()
        if "HTTP_ORIGIN" in environ:
            response["Access-Control-Allow-Origin"] = "*"
        # As CommonMiddleware does: lets the server keep the connection alive without chunking.
        response["Content-Length"] = str(len(response.content))
        route = path.lstrip("/") if path in ROUTES else path.strip("/")
        REQUESTS.labels("POST", route, str(response.status_code)).inc()
        REQUEST_LATENCY.labels("POST", route).observe(time.perf_counter() - started)
        # As Django's WSGIHandler: closing the response sends request_finished.
        response._handler_class = self.__class__
        start_response(f"{response.status_code} {response.reason_phrase}",
                       [*response.items(), *(("Set-Cookie", c.output(header="")) for c in response.cookies.values())])
        return response
