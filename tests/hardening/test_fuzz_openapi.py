"""Property-based fuzzing of every operation in our own OpenAPI document (Schemathesis), and the
regressions of what it found.

The document is read from `/api/schema/`, and every request goes to the production WSGI application
(`analytics_project.wsgi.application`, the ingestion fast path included) in process, so the test
database and its rollback apply. One tenant holds a little of everything: events and persons, a
metric with values, a dashboard with a widget and a share link, a segment with rules, a report
with a subscriber and a generated run, and a privacy job. Path parameters can therefore name things
that exist: each example either keeps its generated values or takes the seeded ones. Every request
carries a valid key (the platform token on /platform/v1/); the answers without one are checked
once per operation by the test after it.

Each response must not be a 5xx. Its status must be one the document declares for the operation,
its content type a declared one, and its body must match the declared schema of that status.

It is bounded for CI: the coverage phase (schemathesis' deterministic boundary and type-mismatch
cases), then EXAMPLES_PER_OPERATION generated examples, valid and invalid, per operation. Runs
are derandomized, so every run sends the same cases. There is no shrinking and no example
database. For a deeper local run: `FUZZ_EXAMPLES=200 FUZZ_RANDOM=1` (new random cases each run).
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta, timezone

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from django_tenants.utils import schema_context
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from analytics_project.wsgi import application
from tests.helpers import assert_error, bearer

EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "25"))
DERANDOMIZE = not os.environ.get("FUZZ_RANDOM")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

CONFIG = schemathesis.Config.from_dict({
    "generation": {
        "mode": "all", "max-examples": EXAMPLES_PER_OPERATION, "deterministic": DERANDOMIZE, "no-shrink": True,
        "database": "none",
        # Valid credentials on every request (see the module docstring): no generated Authorization.
        "with-security-parameters": False,
    },
    # Stateful links: the document declares none.
    "phases": {"stateful": {"enabled": False}},
})

schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=CONFIG)

# Path parameter values naming the seeded objects, filled by the `seeded` fixture (ids come from
# sequences, so they are known only once the objects exist).
KNOWN: dict[str, object] = {}


@schema.hook
def flatmap_path_parameters(context, path_parameters):  # noqa: ANN001, ANN201
    """Each example either names the seeded objects or keeps its generated path parameters."""
    if not path_parameters:
        return st.just(path_parameters)
    return st.sampled_from(["known", "generated"]).map(
        lambda source: {name: KNOWN.get(name, value) for name, value in path_parameters.items()}
        if source == "known" else path_parameters)


NOW = datetime.now(timezone.utc).replace(microsecond=0)


def _ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat()


@pytest.fixture
def seeded(make_tenant):  # noqa: ANN001, ANN201
    """The tenant with a little of everything; KNOWN names its objects."""
    from apps.dashboards import services as dashboards
    from apps.events import privacy
    from apps.governance.bi import services as bi
    from apps.events.ingestion import Clock, parse_segment
    from apps.events.storage import events_write
    from apps.metrics import services as metrics
    from apps.reports import services as reports
    from apps.segments import services as segments
    from apps.tenancy import services as tenancy

    handle = make_tenant("fuzz", name="Fuzz")
    tenant = handle.tenant
    spare_key = tenancy.api_key_create(tenant=tenant, kind="secret", name="spare")
    with schema_context(tenant.schema_name):
        clock = Clock(received_at=NOW, sent_at=None, retention_days=3650)
        messages = [
            {"type": "identify", "userId": "ann", "traits": {"plan": "pro", "seats": 3}, "timestamp": _ago(days=3)},
            {"type": "identify", "userId": "bob", "traits": {"plan": "free"}, "timestamp": _ago(days=3)},
            {"type": "track", "userId": "ann", "event": "View", "properties": {"path": "/"},
             "timestamp": _ago(days=2)},
            {"type": "track", "userId": "ann", "event": "Buy", "properties": {"amount": 10},
             "timestamp": _ago(days=1)},
            {"type": "track", "userId": "bob", "event": "View", "timestamp": _ago(days=1)},
            {"type": "track", "anonymousId": "visitor-1", "event": "View", "timestamp": _ago(hours=5)},
        ]
        events_write(received_at=NOW, rows=[parse_segment({"messageId": f"seed-{index}", **message}, clock)
                                            for index, message in enumerate(messages)])
        metrics.metric_create(name="latency", metric_type="histogram", dimensions=["region"])
        metrics.metric_values_record_batch(data={"values": [
            {"metric": "latency", "value": value, "dimensions": {"region": "eu"},
             "timestamp": _ago(hours=hours)} for hours, value in [(1, 100), (2, 200), (3, 300)]]})
        dashboard = dashboards.dashboard_create(name="main", display_name="Main")
        widget = dashboards.widget_create(
            dashboard=dashboard, tenant=tenant, name="views", widget_type="line",
            query_config={"kind": "trends", "interval": "day", "series": [{"event": "View"}], "date_from": "-7d"})
        share, _token = dashboards.share_create(dashboard=dashboard)
        segment = segments.segment_create(name="pro", rules={"op": "and", "rules": [
            {"field": "plan", "operator": "eq", "value": "pro"}, {"event": "View", "operator": "gte", "value": 1}]})
        report = reports.report_create(
            tenant=tenant, name="weekly", report_type="queries", formats=["html", "csv", "xlsx"],
            query_config={"queries": [{"name": "views",
                                       "query": {"kind": "trends", "series": [{"event": "View"}]}}]})
        reports.subscribe(report=report, email="ops@example.com")
        run = reports.run_now(report=report, send=False)
        reports.run_execute(run_id=run.pk)  # generated, so its downloads exist
        job = privacy.person_delete_request(distinct_id="bob")  # recorded; its task runs after a commit
        from apps.governance.tracking import services as tracking  # a tracking plan: ingestion checks it

        tracking.event_definition_create(name="View", properties=[{"name": "path", "type": "string"}])
        bi_credential = bi.bi_credential_issue(tenant=tenant, name="fuzz").credential  # its role goes at rollback
        from apps.events import sessions as explicit_sessions

        explicit = explicit_sessions.session_start(tenant=tenant, api_key=handle.created.write_key.api_key,
                                                   user_id="ann")
        from apps.alerts import services as alerts

        alert = alerts.rule_create(tenant=tenant, name="slow", condition="above", threshold=500, period="1h",
                                   query={"kind": "metric", "metric": "latency", "aggregation": "p95"},
                                   channels=[{"type": "email", "address": "ops@example.com"}])
        from apps.events.definitions import definitions_rebuild
        from apps.events.models import EventDefinition, PropertyDefinition

        definitions_rebuild()  # the events above were stored directly: their definitions from the table
        seen_event = EventDefinition.objects.get(name="View")
        seen_property = PropertyDefinition.objects.get(kind="event", key="path")
    KNOWN.update({
        "slug": handle.slug, "prefix": spare_key.api_key.prefix, "name": "latency", "distinct_id": "ann",
        "job_id": job.pk, "dashboard_id": dashboard.pk, "widget_id": widget.pk, "share_id": share.pk,
        "segment_id": segment.pk, "rule_id": segment.rules["rules"][0]["id"], "report_id": report.pk,
        "run_id": run.pk, "ref": "View", "credential_id": bi_credential.pk, "session_id": explicit.id,
        "alert_id": alert.pk, "event_definition_id": seen_event.pk, "property_definition_id": seen_property.pk,
    })
    yield handle
    KNOWN.clear()


@pytest.fixture
def in_process_requests():  # noqa: ANN201
    """Django's WSGI handler closes the database connection after each request, as it should in
    production. Here the connection must stay open, inside the test's transaction, as Django's
    own test client arranges."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _credentials(path: str, seeded, settings) -> dict[str, str]:  # noqa: ANN001
    token = settings.PLATFORM_API_TOKEN if path.startswith("/platform/") else seeded.secret_key
    return {"Authorization": f"Bearer {token}"}


@schema.parametrize()
@hypothesis.settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=DERANDOMIZE, database=None,
                     phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_the_document(case, seeded, in_process_requests, settings):  # noqa: ANN001
    settings.QUERY_RATE_LIMIT_PER_MINUTE = 0  # examples by the hundred: each should reach its view
    case.call_and_validate(headers=_credentials(case.path, seeded, settings), checks=CHECKS)


def test_every_operation_documents_its_answer_to_missing_and_wrong_credentials(seeded, in_process_requests):
    """No key: 401 (a 400 on ingestion, whose key may be in the body that is missing). A write key
    on a secret-key operation: 403. Both declared, with the error body."""
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 70
    for operation in operations:
        definition = schema.raw_schema["paths"][operation.path][operation.method.lower()]
        case = operation.Case(path_parameters={name: KNOWN[name] for name in re.findall(r"{(\w+)}", operation.path)})
        response = case.call()
        assert response.status_code in (400, 401), (operation.label, response.status_code)
        case.validate_response(response, checks=CHECKS)
        if {"secretKey": []} in definition["security"]:
            response = case.call(headers={"Authorization": f"Bearer {seeded.write_key}"})
            assert response.status_code == 403, (operation.label, response.status_code)
            case.validate_response(response, checks=CHECKS)


def test_unsubscribing_answers_as_documented(seeded, in_process_requests, settings):  # noqa: ANN001
    """The one answer the fuzzing cannot reach by itself (it needs the subscriber's address): 200 with
    the subscription, which the document used to declare as a 204 without a body."""
    operation = schema["/api/v1/reports/{report_id}/subscriptions"]["DELETE"]
    case = operation.Case(path_parameters={"report_id": KNOWN["report_id"]}, query={"email": "ops@example.com"})
    response = case.call_and_validate(headers=_credentials(case.path, seeded, settings), checks=CHECKS)
    assert response.status_code == 200
    assert response.json()["unsubscribed_at"] is not None


def test_the_served_document_validates_without_warnings(tmp_path):
    """The served document (tenant and platform APIs): tests/core checks the tenant urlconf's."""
    from django.core.management import call_command

    call_command("spectacular", validate=True, fail_on_warn=True, urlconf="analytics_project.urls_openapi",
                 file=str(tmp_path / "schema.yaml"))


# --- what the fuzzing found: each was a 500 ------------------------------------------------------------


def _post(client, path: str, body, key: str):  # noqa: ANN001, ANN201
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.generic("POST", path, raw, content_type="application/json", **bearer(key))


@pytest.mark.parametrize("timestamp, sent_at, reason", [
    # sentAt in the far future: the correction (received_at - sentAt) pulls the time before year 1.
    ("0058-06-19T18:34:53-16:28", "2104-01-24T19:16:47-20:11",
     "timestamp is older than the tenant's retention"),
    # sentAt in the far past: it pushes the time past year 9999.
    ("9000-01-01T00:00:00Z", "0002-01-01T00:00:00Z", "timestamp is more than 24 hours in the future"),
])
def test_a_clock_correction_out_of_the_calendar_is_a_400(client, acme, timestamp, sent_at, reason):
    for path, event in [
        ("/v1/track", {"userId": "u", "event": "e", "timestamp": timestamp, "sentAt": sent_at}),
        ("/api/v1/events/track", {"event_name": "e", "user_id": "u", "timestamp": timestamp, "sent_at": sent_at}),
        ("/capture/", {"api_key": acme.write_key, "event": "e", "distinct_id": "u", "timestamp": timestamp,
                       "sent_at": sent_at}),
    ]:
        error = assert_error(_post(client, path, event, acme.write_key), 400, "invalid")
        assert error["details"]["rejected"][0]["error"].startswith(reason), (path, error)


@pytest.mark.parametrize("path, body", [
    ("/api/v1/events/batch", {"events": [{"event_name": "e", "user_id": "u", "event_type": [None]}]}),
    ("/api/v1/events/batch", {"events": [{"event_name": "e", "user_id": "u", "event_type": {"a": 1}}]}),
    ("/v1/batch", {"batch": [{"type": ["track"], "userId": "u", "event": "e"}]}),
])
def test_an_event_type_that_is_not_a_string_is_refused(client, acme, path, body):
    error = assert_error(_post(client, path, body, acme.write_key), 400, "invalid")
    assert error["details"]["rejected"][0]["error"].startswith(("event_type must be", "type must be"))


@pytest.mark.parametrize("path, body, where", [
    ("/api/v1/query", {"kind": "trends", "series": [{"event": "x", "math": "max", "property": "p\x00"}]},
     "$.series[0].property"),
    ("/api/v1/query", {"kind": "trends", "series": [{"event": "x"}], "segment": "\x00"}, "$.segment"),
    ("/api/v1/query", {"kind": "trends", "series": [{"event": "x"}],
                       "filters": [{"property": "a", "operator": "in", "value": ["b", "\x00"]}]},
     "$.filters[0].value[1]"),
    ("/api/v1/metrics/values/batch", {"values": [{"metric": "\x00", "value": 1}]}, "$.values[0].metric"),
    ("/api/v1/metrics/latency/values", {"value": 1, "dimensions": {"region": "eu\x00"}}, "$.dimensions.region"),
    ("/api/v1/dashboards", {"name": "d", "layout": {"a\x00": 1}}, "$.layout"),
    ("/api/v1/segments", {"name": "s", "rules": {"op": "and", "rules": [
        {"field": "plan", "operator": "eq", "value": "\x00"}]}}, "$.rules.rules[0].value"),
    ("/api/v1/segments/preview", {"rules": {"op": "and", "rules": [
        {"event": "\x00", "operator": "gte", "value": 1}]}}, "$.rules.rules[0].event"),
    ("/api/v1/reports", {"name": "r", "report_type": "queries", "query_config": {
        "queries": [{"name": "q", "query": {"kind": "trends", "series": [{"event": "\x00"}]}}]}},
     "$.query_config.queries[0].query.series[0].event"),
    # A lone UTF-16 surrogate cannot be encoded for the database either.
    ("/api/v1/dashboards", b'{"name": "d", "description": "\\ud800"}', "$.description"),
])
def test_text_the_database_cannot_store_is_a_400_naming_where(client, seeded, path, body, where):
    error = assert_error(_post(client, path, body, seeded.secret_key), 400, "invalid")
    assert where in error["details"], error


@pytest.mark.parametrize("label, path_parameters, query, name", [
    ("GET /api/v1/metrics/{name}", {"name": "\x00"}, {}, "name"),
    ("GET /api/v1/persons/{distinct_id}/export", {"distinct_id": "\x00"}, {}, "distinct_id"),
    ("DELETE /api/v1/persons/{distinct_id}", {"distinct_id": "a\x00"}, {}, "distinct_id"),
    ("GET /api/v1/segments/{segment_id}/contains/{distinct_id}", {"segment_id": "1", "distinct_id": "a\x00"}, {},
     "distinct_id"),
    ("GET /api/v1/dashboards", {}, {"category": "\x00"}, "category"),
    ("GET /api/v1/persons", {}, {"traits.plan": "\x00"}, "traits.plan"),
    ("GET /api/v1/events", {}, {"properties.path": "\x00"}, "properties.path"),
    ("GET /api/v1/metrics/{name}/aggregate", {"name": "latency"}, {"dimensions.region": "\x00"}, "dimensions.region"),
    ("POST /platform/v1/keys/{prefix}/revoke", {"prefix": "\x00"}, {}, "prefix"),
])
def test_a_nul_in_a_parameter_is_a_documented_400_naming_it(seeded, in_process_requests, settings, label,
                                                           path_parameters, query, name):
    method, path = label.split(" ")
    case = schema[path][method].Case(path_parameters=path_parameters, query=query)
    response = case.call_and_validate(headers=_credentials(path, seeded, settings), checks=CHECKS)
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {name: "holds a NUL character"}


@pytest.mark.parametrize("depth", [100, 900, 5000])
def test_json_nested_too_deep_is_a_400(client, acme, depth):
    body = b'{"name": "d", "layout": ' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"
    response = _post(client, "/api/v1/dashboards", body, acme.secret_key)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] in ("invalid", "malformed_request")


@pytest.mark.parametrize("field, value", [
    ("date_from", "-99999y"), ("date_from", "-99999M"),  # before year 1
    ("date_from", "0001-01-01T00:00:00+05:00"),  # before year 1 in UTC
    ("date_to", "9999-12-31T23:59:59-05:00"),  # after year 9999 in UTC
    ("date_from", "0050-01-01"),  # representable, but week buckets and zone shifts would not be
])
def test_a_time_range_beyond_the_calendar_is_a_400_naming_the_field(client, acme, field, value):
    spec = {"kind": "trends", "series": [{"event": "x"}], "interval": "week", "date_from": "-7d", field: value}
    error = assert_error(_post(client, "/api/v1/query", spec, acme.secret_key), 400, "invalid")
    assert error["details"] == {field: value}


def test_the_widest_time_range_still_answers(client, acme, settings):
    """Early years in a far zone: the widest range allowed answers; a wider one is a 400, not a 500."""
    spec = {"kind": "trends", "series": [{"event": "x"}], "interval": "month", "timezone": "Pacific/Kiritimati",
            "date_from": "0100-01-02", "date_to": "0500-01-01"}
    assert_error(_post(client, "/api/v1/query", spec, acme.secret_key), 400, "invalid")
    settings.QUERY_MAX_RANGE_DAYS = 150000  # 400 years and a day or two
    response = _post(client, "/api/v1/query", spec, acme.secret_key)
    assert response.status_code == 200, response.content


def test_a_metric_value_whose_utc_time_is_before_year_1_is_refused(client, seeded):
    response = _post(client, "/api/v1/metrics/latency/values", {"value": 1, "timestamp": "0001-01-01T00:00:00+05:00"},
                     seeded.write_key)
    error = assert_error(response, 400, "invalid")
    assert error["message"] == "`timestamp` is out of range."


TRENDS = {"kind": "trends", "series": [{"event": "x"}]}


@pytest.mark.parametrize("change, field", [
    ({"formats": [["html"]]}, "formats"),
    ({"formats": [{"a": 1}]}, "formats"),
    ({"query_config": {"queries": [{"name": "q", "chart": ["line"], "query": TRENDS}]}}, "query_config"),
])
def test_report_formats_and_charts_that_are_not_strings_are_refused(client, acme, change, field):
    body = {"name": "r", "report_type": "queries", "query_config": {"queries": [{"name": "q", "query": TRENDS}]},
            **change}
    error = assert_error(_post(client, "/api/v1/reports", body, acme.secret_key), 400, "invalid")
    assert field in error["details"], error
