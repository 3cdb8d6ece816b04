"""The insight explorer's page and JSON views (apps/console/explorer.py) with the console session:
permissions by role, CSRF, the engine's answer against POST /api/v1/query, bad specs answered with
the stable error body, saving widgets, and tenant isolation. The page itself in Chromium:
tests/console/test_explorer_browser.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from apps.console.explorer_services import cell_text, percent_text
from apps.dashboards import services as dashboard_services
from apps.dashboards.models import Dashboard, Widget
from apps.governance.roles import ROLE_ADMIN, ROLE_EDITOR, ROLE_VIEWER, console_user_create
from apps.metrics import services as metric_services
from tests.helpers import assert_error, bearer
from tests.segments.test_segments_api import ago, ingest

PASSWORD = "a-long-console-pass-42"
HOSTILE = "<img src=x onerror=alert(1)>"
TRENDS = {"kind": "trends", "series": [{"event": "Buy"}, {"event": "Buy", "math": "unique_persons"}],
          "interval": "day", "date_from": "-7d"}


def log_in(client: Client, tenant: Any, role: str | None) -> Client:
    """`client` logged in to `tenant`'s console as a user of `role` (None: staff with no role)."""
    username = f"ex-{role or 'none'}"
    with schema_context(tenant.schema_name):
        if role is None:
            from django.contrib.auth import get_user_model

            get_user_model().objects.create_user(username, password=PASSWORD, is_staff=True)
        else:
            console_user_create(username=username, password=PASSWORD, role=role)
    answer = client.post("/admin/login/", {"username": username, "password": PASSWORD, "next": "/admin/"},
                         HTTP_HOST=f"{tenant.slug}.localhost")
    assert answer.status_code == 302, answer.content[:300]
    return client


def post(client: Client, tenant: Any, path: str, body: Any) -> Any:
    return client.post(path, json.dumps(body), content_type="application/json", HTTP_HOST=f"{tenant.slug}.localhost")


def get(client: Client, tenant: Any, path: str, **params: Any) -> Any:
    return client.get(path, params, HTTP_HOST=f"{tenant.slug}.localhost")


@pytest.fixture
def buys(acme):  # noqa: ANN001, ANN201
    ingest(acme.tenant, [
        {"type": "track", "userId": "ann", "event": "Buy", "properties": {"amount": 10}, "timestamp": ago(days=1)},
        {"type": "track", "userId": "ann", "event": "Buy", "properties": {"amount": 30}, "timestamp": ago(days=2)},
        {"type": "track", "userId": "bob", "event": "Buy", "properties": {"amount": 5}, "timestamp": ago(days=2)},
        {"type": "track", "userId": "bob", "event": HOSTILE, "properties": {HOSTILE: HOSTILE},
         "timestamp": ago(days=1)},
    ])
    return acme


# --- the page --------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", [ROLE_VIEWER, ROLE_EDITOR, ROLE_ADMIN])
def test_every_role_sees_the_page_and_only_editors_the_save_controls(client, acme, role):
    log_in(client, acme.tenant, role)
    index = get(client, acme.tenant, "/admin/").content.decode()
    assert 'href="/admin/explore/"' in index and ">Explore<" in index
    page = get(client, acme.tenant, "/admin/explore/")
    assert page.status_code == 200
    body = page.content.decode()
    assert ('id="ex-save-form"' in body) == (role != ROLE_VIEWER)
    initial = page.context["initial"]
    assert initial["can_save"] == (role != ROLE_VIEWER)
    assert initial["timezone"] == "America/New_York"  # the tenant's zone is the default
    # No inline script: the page's data is a json_script, its code static files.
    assert '<script src="/static/console/explorer.js"></script>' in body
    assert '<script src="/static/core/charts.js"></script>' in body


def test_staff_without_a_role_are_refused_the_page_and_its_views(client, acme):
    log_in(client, acme.tenant, None)
    assert get(client, acme.tenant, "/admin/explore/").status_code == 403
    assert post(client, acme.tenant, "/admin/explore/run", {"spec": TRENDS, "widget_type": "line"}).status_code == 403
    assert post(client, acme.tenant, "/admin/explore/save", {}).status_code == 403


def test_the_views_need_a_console_login(client, acme):
    assert get(client, acme.tenant, "/admin/explore/").status_code == 302
    answer = post(client, acme.tenant, "/admin/explore/run", {"spec": TRENDS, "widget_type": "line"})
    assert answer.status_code == 302 and "/admin/login/" in answer["Location"]


def test_the_page_loads_a_saved_widget_and_preselects_a_dashboard(client, acme):
    with schema_context(acme.tenant.schema_name):
        board = dashboard_services.dashboard_create(name="sales", display_name=HOSTILE)
        widget = dashboard_services.widget_create(dashboard=board, tenant=acme.tenant, name="buys", title=HOSTILE,
                                                  widget_type="bar", query_config=TRENDS)
    log_in(client, acme.tenant, ROLE_EDITOR)
    page = get(client, acme.tenant, "/admin/explore/", widget=widget.pk)
    assert page.status_code == 200
    initial = page.context["initial"]
    assert initial["widget"]["spec"] == TRENDS and initial["widget"]["widget_type"] == "bar"
    assert initial["dashboard"] == board.pk
    body = page.content.decode()
    assert HOSTILE not in body and "&lt;img src=x onerror=alert(1)&gt;" in body  # escaped in the HTML
    assert get(client, acme.tenant, "/admin/explore/", dashboard=board.pk).context["initial"]["dashboard"] == board.pk
    assert get(client, acme.tenant, "/admin/explore/", widget="nope").status_code == 404


def test_the_pickers_read_the_definitions_views(client, acme):
    log_in(client, acme.tenant, ROLE_VIEWER)
    definitions = get(client, acme.tenant, "/admin/explore/").context["initial"]["definitions"]
    assert definitions == {"events": "/admin/definitions/events.json",
                           "properties": "/admin/definitions/properties.json",
                           "values": "/admin/definitions/values.json"}
    for key, path in definitions.items():
        answer = get(client, acme.tenant, path, **({"key": "plan"} if key == "values" else {}))
        assert answer.status_code == 200 and "results" in answer.json(), (path, answer.content)


def test_the_metric_picker_lists_the_tenants_metrics(client, acme):
    with schema_context(acme.tenant.schema_name):
        metric_services.metric_create(name="latency", metric_type="gauge", dimensions=["region"])
    log_in(client, acme.tenant, ROLE_VIEWER)
    metrics = get(client, acme.tenant, "/admin/explore/").context["initial"]["metrics"]
    assert [(m["name"], m["type"], m["dimensions"]) for m in metrics] == [("latency", "gauge", ["region"])]


# --- running ---------------------------------------------------------------------------------------

def test_running_answers_what_the_api_answers_with_the_chart_view_and_the_table(client, api_client, buys):
    log_in(client, buys.tenant, ROLE_VIEWER)
    answer = post(client, buys.tenant, "/admin/explore/run", {"spec": TRENDS, "widget_type": "bar"})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    api = api_client.post("/api/v1/query", TRENDS, format="json", **bearer(buys.secret_key)).json()
    strip = lambda a: {k: v for k, v in a.items() if k not in ("computed_at", "cached")}  # noqa: E731
    assert strip(body["answer"]) == strip(api)
    assert body["view"]["type"] == "bar" and body["view"]["labels"] == api["series"][0]["buckets"]
    assert [s["values"] for s in body["view"]["series"]] == [s["values"] for s in api["series"]]
    table = body["table"]
    assert table["columns"] == ["bucket", "Buy", "Buy (unique_persons)"]
    assert table["rows"][-1] == ["total", "3", "2"]
    assert [row[1] for row in table["rows"][:-1]] == [str(v) for v in api["series"][0]["values"]]
    assert sum(int(row[1]) for row in table["rows"][:-1]) == 3


@pytest.mark.parametrize("spec, widget_type, columns", [
    ({"kind": "funnel", "steps": [{"event": "Buy"}, {"event": "Buy"}], "date_from": "-7d"}, "funnel",
     ["step", "event", "count", "conversion from start", "conversion from previous", "median seconds from previous"]),
    ({"kind": "retention", "start_event": "Buy", "return_event": "Buy", "period": "day", "periods": 2,
      "date_from": "-7d"}, "retention", None),
    ({"kind": "sessions", "measures": ["sessions", "bounce_rate"], "date_from": "-7d"}, "line",
     None),
])
def test_every_kind_runs_and_draws_as_its_widget_type(client, api_client, buys, spec, widget_type, columns):
    log_in(client, buys.tenant, ROLE_VIEWER)
    body = post(client, buys.tenant, "/admin/explore/run", {"spec": spec, "widget_type": widget_type}).json()
    api = api_client.post("/api/v1/query", spec, format="json", **bearer(buys.secret_key)).json()
    assert body["view"]["type"] == widget_type
    if spec["kind"] == "funnel":
        assert body["table"]["columns"] == columns
        assert [row[2] for row in body["table"]["rows"]] == [str(s["count"]) for s in api["steps"]]
        assert body["view"]["steps"][1]["count"] == api["steps"][1]["count"] == 1  # ann bought twice, bob once
    if spec["kind"] == "retention":
        assert body["table"]["columns"] == ["cohort", "size", "+1", "+2"]
        assert [row[1] for row in body["table"]["rows"]] == [str(c["size"]) for c in api["cohorts"]]
    if spec["kind"] == "sessions":
        assert body["table"]["columns"] == ["bucket", "sessions", "bounce_rate"]
        assert body["table"]["rows"][-1] == ["total", cell_text(api["series"][0]["total"]),
                                             percent_text(api["series"][1]["total"])]  # a share: 100%


def test_a_metric_runs_like_the_api(client, api_client, acme):
    with schema_context(acme.tenant.schema_name):
        metric_services.metric_create(name="latency", metric_type="gauge", dimensions=["region"])
        for value, region in ((3.5, "eu"), (1.25, "us"), (2.0, "eu")):
            metric_services.metric_value_record(name="latency", data={"value": value, "dimensions": {"region": region}})
    spec = {"kind": "metric", "metric": "latency", "aggregation": "avg", "granularity": "hour", "date_from": "-1d",
            "group_by": ["region"]}
    log_in(client, acme.tenant, ROLE_VIEWER)
    body = post(client, acme.tenant, "/admin/explore/run", {"spec": spec, "widget_type": "line"}).json()
    api = api_client.post("/api/v1/query", spec, format="json", **bearer(acme.secret_key)).json()
    assert body["table"]["columns"] == ["bucket", "region=eu", "region=us"]
    shown = [cell for row in body["table"]["rows"] for cell in row[1:] if cell != "–"]
    expected = [cell_text(v) for i in range(len(api["series"][0]["values"])) for v in
                (api["series"][0]["values"][i], api["series"][1]["values"][i]) if v is not None]
    assert shown == expected and sorted(shown) == ["1.25", "2.75"]


@pytest.mark.parametrize("body, status, code, field", [
    ({"spec": {"kind": "trends", "series": [{"event": "Buy", "math": "median"}]}, "widget_type": "line"}, 400,
     "invalid", "$.series[0].math"),
    ({"spec": {"kind": "trends", "series": [{"event": "Buy"}], "date_from": "yesterday"}, "widget_type": "line"},
     400, "invalid", "date_from"),
    ({"spec": {"kind": "funnel", "steps": [{"event": "Buy"}]}, "widget_type": "funnel"}, 400, "invalid",
     "$.steps"),
    ({"spec": {"kind": "trends", "series": [{"event": "Buy"}]}, "widget_type": "funnel"}, 400, "invalid",
     "widget_type"),
    ({"spec": {"kind": "events"}, "widget_type": "table"}, 400, "invalid", "kind"),
    ({"spec": {"kind": "metric", "metric": "nope"}, "widget_type": "line"}, 404, "metric_not_found", None),
])
def test_bad_specs_answer_the_stable_error_body_naming_the_field(client, acme, body, status, code, field):
    log_in(client, acme.tenant, ROLE_VIEWER)
    error = assert_error(post(client, acme.tenant, "/admin/explore/run", body), status, code)
    if field is not None:
        assert field in error["details"], error


def test_a_body_that_is_not_a_json_object_is_a_400(client, acme):
    log_in(client, acme.tenant, ROLE_VIEWER)
    for raw in ("not json", "[1, 2]"):
        answer = client.post("/admin/explore/run", raw, content_type="application/json", HTTP_HOST="acme.localhost")
        assert_error(answer, 400, "malformed_request")
    assert get(client, acme.tenant, "/admin/explore/run").status_code == 405


def test_the_json_views_need_the_csrf_token(acme):
    client = Client(enforce_csrf_checks=True)
    client.cookies = log_in(Client(), acme.tenant, ROLE_EDITOR).cookies  # the session, not yet a CSRF cookie
    assert post(client, acme.tenant, "/admin/explore/run", {"spec": TRENDS, "widget_type": "line"}).status_code == 403
    assert post(client, acme.tenant, "/admin/explore/save", {"spec": TRENDS, "widget_type": "line",
                                                               "new_dashboard": "x"}).status_code == 403
    token = get(client, acme.tenant, "/admin/explore/").context["csrf_token"]
    answer = client.post("/admin/explore/run", json.dumps({"spec": TRENDS, "widget_type": "line"}),
                         content_type="application/json", HTTP_HOST="acme.localhost", HTTP_X_CSRFTOKEN=str(token))
    assert answer.status_code == 200
    with schema_context(acme.tenant.schema_name):
        assert not Dashboard.objects.exists()


# --- saving ----------------------------------------------------------------------------------------

def test_an_editor_saves_to_a_new_dashboard_then_to_an_existing_one(client, acme):
    log_in(client, acme.tenant, ROLE_EDITOR)
    made = post(client, acme.tenant, "/admin/explore/save", {"spec": TRENDS, "widget_type": "bar",
                                                             "title": "Daily buys", "new_dashboard": "Sales Team"})
    assert made.status_code == 201, made.content
    with schema_context(acme.tenant.schema_name):
        board = Dashboard.objects.get()
        widget = Widget.objects.get()
    assert (board.name, board.display_name) == ("sales-team", "Sales Team")
    assert (widget.dashboard_id, widget.name, widget.title, widget.widget_type, widget.query_config) == (
        board.pk, "daily-buys", "Daily buys", "bar", TRENDS)
    assert made.json() == {"widget": widget.pk, "name": "daily-buys", "dashboard": board.pk, "updated": False,
                           "dashboard_url": f"/admin/dashboards/dashboard/{board.pk}/change/"}
    second = post(client, acme.tenant, "/admin/explore/save", {"spec": TRENDS, "widget_type": "number",
                                                               "title": "Buys", "name": "buys-total",
                                                               "dashboard": board.pk})
    assert second.status_code == 201
    with schema_context(acme.tenant.schema_name):
        assert list(board.widgets.values_list("name", "widget_type")) == [("daily-buys", "bar"),
                                                                          ("buys-total", "number")]
    # The same name twice on a dashboard is a conflict, and nothing changes.
    again = post(client, acme.tenant, "/admin/explore/save", {"spec": TRENDS, "widget_type": "line",
                                                              "name": "buys-total", "dashboard": board.pk})
    assert_error(again, 409, "widget_exists")
    with schema_context(acme.tenant.schema_name):
        assert Widget.objects.count() == 2


def test_an_editor_updates_the_widget_the_page_loaded(client, acme):
    with schema_context(acme.tenant.schema_name):
        board = dashboard_services.dashboard_create(name="sales")
        widget = dashboard_services.widget_create(dashboard=board, tenant=acme.tenant, name="buys",
                                                  widget_type="line", query_config=TRENDS)
    log_in(client, acme.tenant, ROLE_EDITOR)
    funnel = {"kind": "funnel", "steps": [{"event": "Visit"}, {"event": "Buy"}], "date_from": "-30d"}
    answer = post(client, acme.tenant, "/admin/explore/save", {"spec": funnel, "widget_type": "funnel",
                                                               "name": "buys", "title": "Visit to buy",
                                                               "widget": widget.pk})
    assert answer.status_code == 200 and answer.json()["updated"] is True
    with schema_context(acme.tenant.schema_name):
        widget.refresh_from_db()
        assert (widget.widget_type, widget.query_config, widget.title) == ("funnel", funnel, "Visit to buy")
        assert Widget.objects.count() == 1


@pytest.mark.parametrize("body, status, code, field", [
    ({"spec": {"kind": "funnel", "steps": [{"event": "A"}]}, "widget_type": "funnel", "new_dashboard": "ops"},
     400, "invalid", "query_config"),
    ({"spec": TRENDS, "widget_type": "retention", "new_dashboard": "ops"}, 400, "invalid", "query_config"),
    ({"spec": TRENDS, "widget_type": "line", "name": "Bad Name", "new_dashboard": "ops"}, 400, "invalid", "name"),
    ({"spec": TRENDS, "widget_type": "line", "title": "x"}, 400, "invalid", "dashboard"),
    ({"spec": TRENDS, "widget_type": "line", "title": "x", "dashboard": 999999}, 404, "not_found", None),
])
def test_a_refused_save_writes_nothing(client, acme, body, status, code, field):
    log_in(client, acme.tenant, ROLE_EDITOR)
    error = assert_error(post(client, acme.tenant, "/admin/explore/save", body), status, code)
    if field is not None:
        assert field in error["details"], error
    with schema_context(acme.tenant.schema_name):
        assert not Dashboard.objects.exists() and not Widget.objects.exists()


def test_a_viewer_may_not_save(client, acme):
    with schema_context(acme.tenant.schema_name):
        board = dashboard_services.dashboard_create(name="sales")
        widget = dashboard_services.widget_create(dashboard=board, tenant=acme.tenant, name="buys",
                                                  widget_type="line", query_config=TRENDS)
    log_in(client, acme.tenant, ROLE_VIEWER)
    for body in ({"spec": TRENDS, "widget_type": "bar", "dashboard": board.pk, "name": "more"},
                 {"spec": TRENDS, "widget_type": "bar", "new_dashboard": "mine"},
                 {"spec": TRENDS, "widget_type": "bar", "widget": widget.pk}):
        assert_error(post(client, acme.tenant, "/admin/explore/save", body), 403, "forbidden")
    with schema_context(acme.tenant.schema_name):
        assert Dashboard.objects.count() == 1 and Widget.objects.get().widget_type == "line"


def test_another_tenants_dashboard_and_widget_are_not_found(client, acme, globex):
    with schema_context(globex.tenant.schema_name):
        board = dashboard_services.dashboard_create(name="theirs")
        widget = dashboard_services.widget_create(dashboard=board, tenant=globex.tenant, name="secret",
                                                  widget_type="line", query_config=TRENDS)
    with schema_context(acme.tenant.schema_name):
        assert not Dashboard.objects.filter(pk=board.pk).exists() and not Widget.objects.filter(pk=widget.pk).exists()
    log_in(client, acme.tenant, ROLE_EDITOR)
    assert get(client, acme.tenant, "/admin/explore/", widget=widget.pk).status_code == 404
    assert get(client, acme.tenant, "/admin/explore/", dashboard=board.pk).status_code == 404
    assert_error(post(client, acme.tenant, "/admin/explore/save", {"spec": TRENDS, "widget_type": "line",
                                                                   "name": "x", "dashboard": board.pk}), 404,
                 "not_found")
    assert_error(post(client, acme.tenant, "/admin/explore/save", {"spec": TRENDS, "widget_type": "bar",
                                                                   "widget": widget.pk}), 404, "not_found")
    with schema_context(globex.tenant.schema_name):
        widget.refresh_from_db()
        assert widget.widget_type == "line" and Widget.objects.count() == 1
    with schema_context(acme.tenant.schema_name):
        assert not Widget.objects.exists()


def test_cell_text_writes_numbers_plainly():
    assert [cell_text(v) for v in (None, 3, 2.0, 0.333333, 1.5, "2026-11-01T00:00:00-05:00", "x")] == [
        "–", "3", "2", "0.3333", "1.5", "2026-11-01 00:00", "x"]


# --- shares as percentages, and the spec's other fields (filters per series and step, segment,
# event types, breakdown limits, metric dimensions) ------------------------------------------------

def test_percent_text_writes_shares_as_percentages():
    assert [percent_text(v) for v in (None, 0, 0.5, 1, 1.0, 0.333333, 0.125, 0.00004, "x")] == [
        "–", "0%", "50%", "100%", "100%", "33.33%", "12.5%", "0%", "x"]


def test_the_table_writes_conversions_and_the_bounce_rate_as_percentages(client, api_client, buys):
    log_in(client, buys.tenant, ROLE_VIEWER)
    funnel = {"kind": "funnel", "steps": [{"event": "Buy"}, {"event": "Buy"}], "date_from": "-7d"}
    body = post(client, buys.tenant, "/admin/explore/run", {"spec": funnel, "widget_type": "funnel"}).json()
    api = api_client.post("/api/v1/query", funnel, format="json", **bearer(buys.secret_key)).json()
    assert body["table"]["percent"] == [3, 4]
    assert [row[3] for row in body["table"]["rows"]] == [percent_text(s["conversion_from_start"]) for s in api["steps"]]
    assert [row[4] for row in body["table"]["rows"]] == [percent_text(s["conversion_from_previous"])
                                                         for s in api["steps"]]
    assert body["table"]["rows"][1][3] == "50%"  # ann bought twice, bob once
    sessions = {"kind": "sessions", "measures": ["sessions", "bounce_rate"], "date_from": "-7d"}
    body = post(client, buys.tenant, "/admin/explore/run", {"spec": sessions, "widget_type": "table"}).json()
    api = api_client.post("/api/v1/query", sessions, format="json", **bearer(buys.secret_key)).json()
    assert body["table"]["percent"] == [2]
    total = body["table"]["rows"][-1]
    assert total == ["total", str(api["series"][0]["total"]), percent_text(api["series"][1]["total"])]
    assert total[2].endswith("%") and 0 < api["series"][1]["total"] <= 1


def test_the_page_offers_the_tenants_segments_and_the_event_types(client, acme):
    from apps.segments import services as segment_services

    with schema_context(acme.tenant.schema_name):
        segment_services.segment_create(name="buyers", display_name=HOSTILE, rules=BUYERS)
    log_in(client, acme.tenant, ROLE_VIEWER)
    page = get(client, acme.tenant, "/admin/explore/")
    initial = page.context["initial"]
    assert [(s["name"], s["label"]) for s in initial["segments"]] == [("buyers", HOSTILE)]
    types = {t["value"]: t for t in initial["event_types"]}
    assert types["page"]["event"] == "$pageview" and types["conversion"]["event"] == ""
    assert "any page view" in types["page"]["label"]
    body = page.content.decode()
    assert HOSTILE not in body and 'id="ex-segment"' in body


BUYERS = {"op": "and", "rules": [{"event": "Buy", "operator": "gte", "value": 2, "within": "7d"}]}


@pytest.fixture
def shoppers(buys):  # noqa: ANN001, ANN201
    """`buys` (ann buys 2 and 1 days ago, bob 2 days ago), with page views (ann: /a before her buys,
    /b after them; bob: /a after his) and the segment `buyers` (ann: 2 buys)."""
    from apps.segments import services as segment_services
    from tests.console.helpers import ingest as ingest_more  # messageIds of its own: not taken for repeats

    ingest_more(buys.tenant, [
        {"type": "page", "userId": "ann", "properties": {"path": "/a"}, "timestamp": ago(days=3)},
        {"type": "page", "userId": "ann", "properties": {"path": "/b"}, "timestamp": ago(hours=12)},
        {"type": "page", "userId": "bob", "properties": {"path": "/a"}, "timestamp": ago(days=2, hours=-1)},
    ])
    with schema_context(buys.tenant.schema_name):
        segment_services.segment_create(name="buyers", rules=BUYERS)
    return buys


def _total(answer: dict) -> list:
    if answer["kind"] == "funnel":
        return [s["count"] for s in answer["steps"]]
    return [(s.get("breakdown_value"), s["total"]) for s in answer["series"]]


PAGES_A = [{"property": "path", "operator": "eq", "value": "/a"}]


@pytest.mark.parametrize("spec, widget_type, expected, without", [
    # A series' own filter: Buy with amount > 8 (ann's 10 and 30), next to every Buy.
    ({"kind": "trends", "series": [{"event": "Buy", "filters": [{"property": "amount", "operator": "gt", "value": 8}]},
                                   {"event": "Buy"}], "date_from": "-7d"}, "line", [(None, 2), (None, 3)],
     [(None, 3), (None, 3)]),
    # Every page view, by event type (ann's two and bob's one).
    ({"kind": "trends", "series": [{"event_type": "page_view"}], "date_from": "-7d"}, "bar", [(None, 3)], None),
    # A step's own filter: page views of /a (ann, bob), then a buy (ann; bob bought before his view);
    # a buy, then a page view of /a (bob; ann's after her buys is /b).
    ({"kind": "funnel", "steps": [{"event_type": "page", "filters": PAGES_A}, {"event": "Buy"}],
      "date_from": "-7d"}, "funnel", [2, 1], None),
    ({"kind": "funnel", "steps": [{"event": "Buy"}, {"event_type": "page", "filters": PAGES_A}],
      "date_from": "-7d"}, "funnel", [2, 1], [2, 2]),
    # The segment: ann only.
    ({"kind": "trends", "series": [{"event": "Buy"}], "segment": "buyers", "date_from": "-7d"}, "line",
     [(None, 2)], [(None, 3)]),
    # The top value of a breakdown, the rest as $other.
    ({"kind": "trends", "series": [{"event": "Buy"}], "breakdown": {"property": "amount", "limit": 1},
      "date_from": "-7d"}, "line", [("10", 1), ("$other", 2)], [("10", 1), ("30", 1), ("5", 1)]),
    ({"kind": "sessions", "measures": ["sessions"], "breakdown": {"property": "$entry_page", "type": "session",
                                                                 "limit": 1}, "date_from": "-7d"}, "table", None,
     None),
])
def test_the_specs_other_fields_run_as_the_api_runs_them(client, api_client, shoppers, spec, widget_type, expected,
                                                        without):
    """The page's run answers the API's answer; `without` is the answer without the field (a
    limit of 100, no filter, no segment): the field is applied, not dropped."""
    log_in(client, shoppers.tenant, ROLE_VIEWER)
    answer = post(client, shoppers.tenant, "/admin/explore/run", {"spec": spec, "widget_type": widget_type})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    api = api_client.post("/api/v1/query", spec, format="json", **bearer(shoppers.secret_key)).json()
    strip = lambda a: {k: v for k, v in a.items() if k not in ("computed_at", "cached")}  # noqa: E731
    assert strip(body["answer"]) == strip(api)
    if expected is not None:
        assert sorted(_total(api), key=str) == sorted(expected, key=str)
    else:  # sessions by entry page, the top one: one value and the rest merged
        values = [s.get("breakdown_value") for s in api["series"]]
        assert len(values) == 2 and "$other" in values, values
    if without is not None:
        plain = json.loads(json.dumps(spec))
        plain.pop("segment", None)
        if "breakdown" in plain:
            plain["breakdown"]["limit"] = 100
        for item in plain.get("series", []) + plain.get("steps", []):
            item.pop("filters", None)
        other = api_client.post("/api/v1/query", plain, format="json", **bearer(shoppers.secret_key)).json()
        assert sorted(_total(other), key=str) == sorted(without, key=str)


def test_a_metric_runs_with_dimension_filters(client, api_client, acme):
    with schema_context(acme.tenant.schema_name):
        metric_services.metric_create(name="latency", metric_type="gauge", dimensions=["region", "host"])
        for value, region in ((3.5, "eu"), (1.25, "us"), (2.0, "eu"), (9.0, "ap")):
            metric_services.metric_value_record(name="latency", data={
                "value": value, "dimensions": {"region": region, "host": "h1"}})
    log_in(client, acme.tenant, ROLE_VIEWER)
    for dimensions, expected in (({"region": "eu"}, ["2.75"]), ({"region": ["us", "ap"]}, ["5.125"]),
                                 ({"region": "eu", "host": "h2"}, [])):
        spec = {"kind": "metric", "metric": "latency", "aggregation": "avg", "granularity": "day",
                "date_from": "-1d", "dimensions": dimensions}
        body = post(client, acme.tenant, "/admin/explore/run", {"spec": spec, "widget_type": "table"}).json()
        api = api_client.post("/api/v1/query", spec, format="json", **bearer(acme.secret_key)).json()
        shown = [cell for row in body["table"]["rows"] for cell in row[1:] if cell != "–"]
        assert shown == [cell_text(v) for s in api["series"] for v in s["values"] if v is not None] == expected
    error = assert_error(post(client, acme.tenant, "/admin/explore/run", {"spec": {
        "kind": "metric", "metric": "latency", "dimensions": {"zone": "x"}}, "widget_type": "line"}), 400, "invalid")
    assert "dimensions" in error["details"]


def test_a_spec_with_every_new_field_is_saved_as_given(client, shoppers):
    spec = {"kind": "trends", "series": [
        {"event_type": "page_view", "filters": [{"property": "path", "operator": "eq", "value": "/a"}]},
        {"event": "Buy", "math": "sum", "property": "amount",
         "filters": [{"property": "plan", "operator": "is_set", "type": "person"}]}],
        "breakdown": {"property": "path", "limit": 3}, "segment": "buyers", "interval": "day", "date_from": "-7d",
        "timezone": "Europe/Berlin"}
    funnel = {"kind": "funnel", "steps": [{"event_type": "page", "filters": [
        {"property": "path", "operator": "in", "value": ["/a", "/b"]}]}, {"event": "Buy"}], "segment": "buyers",
        "window": "1d", "date_from": "-7d"}
    log_in(client, shoppers.tenant, ROLE_EDITOR)
    made = post(client, shoppers.tenant, "/admin/explore/save", {"spec": spec, "widget_type": "table",
                                                                 "name": "pages", "new_dashboard": "Web"})
    assert made.status_code == 201, made.content
    second = post(client, shoppers.tenant, "/admin/explore/save", {"spec": funnel, "widget_type": "funnel",
                                                                   "name": "pages-to-buys",
                                                                   "dashboard": made.json()["dashboard"]})
    assert second.status_code == 201, second.content
    with schema_context(shoppers.tenant.schema_name):
        saved = dict(Widget.objects.values_list("name", "query_config"))
    assert saved == {"pages": spec, "pages-to-buys": funnel}
    # Reloaded into the page, the widget's spec is what the form starts from.
    with schema_context(shoppers.tenant.schema_name):
        widget = Widget.objects.get(name="pages-to-buys")
    assert get(client, shoppers.tenant, "/admin/explore/", widget=widget.pk).context["initial"]["widget"]["spec"] == funnel
