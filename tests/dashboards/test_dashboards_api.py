"""Dashboards over the API: CRUD, widgets checked against the engine, data (cached, per-widget
errors, range override, refresh), duplicates, share links and the share page, keys and isolation."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django_tenants.utils import schema_context

from apps.dashboards import services
from apps.metrics import services as metric_services
from apps.segments import services as segment_services
from tests.helpers import assert_error, bearer
from tests.segments.test_segments_api import ingest

NOW = datetime.now(timezone.utc).replace(microsecond=0)
RANGE = {"date_from": (NOW - timedelta(days=6)).date().isoformat(),
         "date_to": (NOW + timedelta(days=1)).date().isoformat(), "timezone": "UTC"}


def api(client, key: str, method: str, path: str, body: dict | None = None):  # noqa: ANN001, ANN201
    call = getattr(client, method)
    if body is None:
        return call(f"/api/v1/{path}", **bearer(key))
    return call(f"/api/v1/{path}", body, content_type="application/json", **bearer(key))


def widgets_of_every_type() -> list[dict]:
    trends = {"kind": "trends", "interval": "day", "series": [{"event": "Buy"}, {"event": "View"}], **RANGE}
    return [
        {"name": "buys", "widget_type": "number", "query_config": {**trends, "series": [{"event": "Buy"}]}},
        {"name": "daily", "widget_type": "line", "query_config": trends},
        {"name": "daily-bars", "widget_type": "bar", "query_config": trends},
        {"name": "daily-table", "widget_type": "table", "query_config": trends},
        {"name": "conversion", "widget_type": "funnel",
         "query_config": {"kind": "funnel", "steps": [{"event": "View"}, {"event": "Buy"}], **RANGE}},
        {"name": "returning", "widget_type": "retention",
         "query_config": {"kind": "retention", "start_event": "View", "return_event": "Buy", "period": "day",
                          "periods": 3, **RANGE}},
        {"name": "latency", "widget_type": "gauge", "options": {"min": 0, "max": 500},
         "query_config": {"kind": "metric", "metric": "latency", "aggregation": "p95", "granularity": "day",
                          **RANGE}},
    ]


@pytest.fixture
def shop(acme):  # noqa: ANN001, ANN201
    ingest(acme.tenant, [
        *[{"type": "track", "userId": f"u{n}", "event": "View", "timestamp": (NOW - timedelta(days=2)).isoformat()}
          for n in range(6)],
        *[{"type": "track", "userId": f"u{n}", "event": "Buy", "timestamp": (NOW - timedelta(days=1)).isoformat()}
          for n in range(3)],
    ])
    with schema_context(acme.tenant.schema_name):
        metric_services.metric_create(name="latency", metric_type="histogram")
        metric_services.metric_values_record_batch(data={"values": [
            {"metric": "latency", "value": v, "timestamp": (NOW - timedelta(hours=3)).isoformat()}
            for v in (100, 200, 300)]})
    return acme


def make_dashboard(client, key: str, widgets: list[dict] | None = None) -> dict:  # noqa: ANN001
    created = api(client, key, "post", "dashboards", {"name": "sales", "display_name": "Sales", "category": "ops",
                                                      "owner": "ann@example.com", "is_public": True})
    assert created.status_code == 201, created.content
    for widget in widgets if widgets is not None else widgets_of_every_type():
        response = api(client, key, "post", f"dashboards/{created.json()['id']}/widgets", widget)
        assert response.status_code == 201, response.content
    return api(client, key, "get", f"dashboards/{created.json()['id']}").json()


def test_widgets_are_checked_when_saved(client, shop):
    dashboard = make_dashboard(client, shop.secret_key, widgets=[])
    path = f"dashboards/{dashboard['id']}/widgets"
    bad = [
        ({"name": "w", "widget_type": "pie", "query_config": {"kind": "trends", "series": [{"event": "x"}]}},
         "widget_type"),
        ({"name": "w", "widget_type": "line", "query_config": {"kind": "trends", "series": [{"event": "x", "math": "no"}]}},
         "query_config"),
        ({"name": "w", "widget_type": "funnel", "query_config": {"kind": "trends", "series": [{"event": "x"}]}},
         "query_config"),
        ({"name": "w", "widget_type": "line", "query_config": {"kind": "trends", "series": [{"event": "x"}],
                                                                "timezone": "Mars/Base"}}, "query_config"),
        ({"name": "w", "widget_type": "gauge", "options": {"min": 5, "max": 1},
          "query_config": {"kind": "trends", "series": [{"event": "x"}]}}, "options"),
        ({"name": "Bad Name", "widget_type": "line", "query_config": {"kind": "trends", "series": [{"event": "x"}]}},
         "name"),
        ({"name": "w", "widget_type": "line", "query_config": "trends"}, "query_config"),
    ]
    for body, field in bad:
        error = assert_error(api(client, shop.secret_key, "post", path, body), 400, "invalid")
        assert field in error["details"], (body, error)
    good = api(client, shop.secret_key, "post", path, widgets_of_every_type()[1]).json()
    assert_error(api(client, shop.secret_key, "post", path, widgets_of_every_type()[1]), 409, "widget_exists")
    assert_error(api(client, shop.secret_key, "patch", f"{path}/{good['id']}", {"widget_type": "funnel"}), 400,
                 "invalid")
    changed = api(client, shop.secret_key, "patch", f"{path}/{good['id']}", {"widget_type": "bar", "title": "Bars"})
    assert changed.json()["widget_type"] == "bar" and changed.json()["title"] == "Bars"
    assert api(client, shop.secret_key, "delete", f"{path}/{good['id']}").status_code == 204
    assert api(client, shop.secret_key, "get", path).json() == []


def test_dashboard_crud_and_duplicate(client, shop):
    dashboard = make_dashboard(client, shop.secret_key)
    assert [w["name"] for w in dashboard["widgets"]] == [w["name"] for w in widgets_of_every_type()]
    assert_error(api(client, shop.secret_key, "post", "dashboards", {"name": "sales"}), 409, "dashboard_exists")
    changed = api(client, shop.secret_key, "patch", f"dashboards/{dashboard['id']}", {"description": "Weekly"})
    assert changed.json()["description"] == "Weekly"
    copy = api(client, shop.secret_key, "post", f"dashboards/{dashboard['id']}/duplicate", {"owner": "bob"})
    assert copy.status_code == 201
    copy = copy.json()
    assert copy["name"] == "sales-copy" and copy["owner"] == "bob" and copy["is_public"] is False
    assert [w["query_config"] for w in copy["widgets"]] == [w["query_config"] for w in dashboard["widgets"]]
    assert {w["id"] for w in copy["widgets"]}.isdisjoint({w["id"] for w in dashboard["widgets"]})
    again = api(client, shop.secret_key, "post", f"dashboards/{dashboard['id']}/duplicate", {}).json()
    assert again["name"] == "sales-copy-2"
    listed = api(client, shop.secret_key, "get", "dashboards?category=ops").json()["results"]
    assert [d["name"] for d in listed] == ["sales", "sales-copy", "sales-copy-2"]
    assert api(client, shop.secret_key, "delete", f"dashboards/{copy['id']}").status_code == 204
    assert_error(api(client, shop.secret_key, "get", f"dashboards/{copy['id']}"), 404, "not_found")


def test_data_is_computed_cached_and_overridable(client, shop):
    dashboard = make_dashboard(client, shop.secret_key)
    path = f"dashboards/{dashboard['id']}/data"
    first = api(client, shop.secret_key, "get", path).json()
    by_name = {w["name"]: w for w in first["widgets"]}
    assert all("error" not in w and w["computed_at"] for w in first["widgets"]), first
    # The line, bar and table widgets ask the same question: computed once, then read from the cache.
    assert [w["cached"] for w in first["widgets"]] == [False, False, True, True, False, False, False]
    assert by_name["buys"]["result"]["series"][0]["total"] == 3
    assert [s["count"] for s in by_name["conversion"]["result"]["steps"]] == [6, 3]
    assert by_name["latency"]["result"]["series"][0]["values"][-1] == pytest.approx(290.0, rel=0.01)
    second = api(client, shop.secret_key, "get", path).json()
    assert all(w["cached"] is True for w in second["widgets"])
    assert [w["computed_at"] for w in second["widgets"]] == [w["computed_at"] for w in first["widgets"]]
    fresh = api(client, shop.secret_key, "get", path + "?refresh=true").json()
    assert all(w["cached"] is False for w in fresh["widgets"])
    # One range for every widget: the day before yesterday only (the views, no buys).
    day = (NOW - timedelta(days=2)).date()
    narrowed = api(client, shop.secret_key, "get",
                   f"{path}?date_from={day.isoformat()}&date_to={(day + timedelta(days=1)).isoformat()}").json()
    narrowed_by_name = {w["name"]: w for w in narrowed["widgets"]}
    assert narrowed_by_name["buys"]["result"]["series"][0]["total"] == 0
    assert narrowed_by_name["daily"]["result"]["series"][1]["values"] == [6]
    assert_error(api(client, shop.secret_key, "get", path + "?refresh=maybe"), 400, "invalid")


def test_one_failing_widget_does_not_fail_the_others(client, shop):
    dashboard = make_dashboard(client, shop.secret_key, widgets=widgets_of_every_type()[:2])
    with schema_context(shop.tenant.schema_name):
        segment_services.segment_create(name="gone", rules={"op": "and", "rules": []})
    api(client, shop.secret_key, "post", f"dashboards/{dashboard['id']}/widgets", {
        "name": "segmented", "widget_type": "line",
        "query_config": {"kind": "trends", "series": [{"event": "Buy"}], "segment": "gone", **RANGE}})
    with schema_context(shop.tenant.schema_name):
        segment_services.Segment.objects.filter(name="gone").delete()  # the widget's segment is gone
    body = api(client, shop.secret_key, "get", f"dashboards/{dashboard['id']}/data").json()
    errors = {w["name"]: w.get("error") for w in body["widgets"]}
    assert errors["buys"] is None and errors["daily"] is None
    assert errors["segmented"]["code"] == "invalid" and "gone" in errors["segmented"]["message"]


def test_share_links_serve_a_read_only_page_until_revoked(client, shop):
    dashboard = make_dashboard(client, shop.secret_key)
    created = api(client, shop.secret_key, "post", f"dashboards/{dashboard['id']}/share")
    assert created.status_code == 201
    token = created.json()["token"]
    page = client.get(f"/d/{token}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Sales" in html and html.count('class="widget ') == 7 and "core/charts.js" in html
    assert page["Referrer-Policy"] == "no-referrer" and "script-src 'self'" in page["Content-Security-Policy"]
    assert "cdn" not in html.lower() and "http" not in html.split("<body>")[1].split("dashboard-views")[0]
    # The token grants that page only: not the API, not another dashboard.
    assert_error(client.get("/api/v1/dashboards", **bearer(token)), 401, "unauthenticated")
    assert client.post(f"/d/{token}").status_code in (404, 405)
    listed = api(client, shop.secret_key, "get", f"dashboards/{dashboard['id']}/share").json()
    assert [link["prefix"] for link in listed] == [token[:10]] and "token" not in listed[0]
    revoked = api(client, shop.secret_key, "delete", f"dashboards/{dashboard['id']}/share/{created.json()['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert client.get(f"/d/{token}").status_code == 404
    assert client.get("/d/sh_not-a-token").status_code == 404
    # Deleting the dashboard removes its links.
    other = api(client, shop.secret_key, "post", f"dashboards/{dashboard['id']}/share").json()["token"]
    api(client, shop.secret_key, "delete", f"dashboards/{dashboard['id']}")
    assert client.get(f"/d/{other}").status_code == 404


def test_widget_views_give_each_chart_its_shape(shop):
    with schema_context(shop.tenant.schema_name):
        dashboard = services.dashboard_create(name="views")
        for widget in widgets_of_every_type():
            services.widget_create(dashboard=dashboard, tenant=shop.tenant, **widget)
        data = services.dashboard_data(dashboard=dashboard, tenant=shop.tenant)
    views = {entry["name"]: services.widget_view(entry) for entry in data["widgets"]}
    assert views["buys"]["value"] == 3
    assert [s["name"] for s in views["daily"]["series"]] == ["Buy", "View"] and len(views["daily"]["labels"]) == 7
    assert views["daily-table"]["columns"] == ["bucket", "Buy", "View"] and len(views["daily-table"]["rows"]) == 7
    assert [(s["name"], s["count"], s["conversion"]) for s in views["conversion"]["steps"]] == [
        ("View", 6, 1.0), ("Buy", 3, 0.5)]
    assert views["returning"]["periods"] == 3 and max(r["size"] for r in views["returning"]["rows"]) == 6
    assert views["latency"] == {"title": "latency", "type": "gauge", "value": pytest.approx(290.0, rel=0.01), "min": 0,
                                "max": 500}


def test_keys_and_tenants_are_kept_apart(client, shop, globex):
    dashboard = make_dashboard(client, shop.secret_key, widgets=widgets_of_every_type()[:1])
    widget = dashboard["widgets"][0]
    base = f"dashboards/{dashboard['id']}"
    assert_error(api(client, shop.write_key, "get", "dashboards"), 403, "forbidden")
    other = globex.secret_key
    for method, path, body in [("get", base, None), ("patch", base, {"description": "x"}), ("delete", base, None),
                               ("get", f"{base}/data", None), ("post", f"{base}/duplicate", {}),
                               ("get", f"{base}/widgets", None), ("post", f"{base}/widgets", widgets_of_every_type()[1]),
                               ("get", f"{base}/widgets/{widget['id']}", None),
                               ("patch", f"{base}/widgets/{widget['id']}", {"title": "x"}),
                               ("delete", f"{base}/widgets/{widget['id']}", None),
                               ("get", f"{base}/share", None), ("post", f"{base}/share", None),
                               ("delete", f"{base}/share/1", None)]:
        assert_error(api(client, other, method, path, body), 404, "not_found")
    assert api(client, other, "get", "dashboards").json()["results"] == []
    # A share link of one tenant's dashboard is not revocable through another tenant's dashboard of the same id.
    link = api(client, shop.secret_key, "post", f"{base}/share").json()
    theirs = api(client, other, "post", "dashboards", {"name": "sales"}).json()
    assert_error(api(client, other, "delete", f"dashboards/{theirs['id']}/share/{link['id']}"), 404, "not_found")
    assert client.get(f"/d/{link['token']}").status_code == 200
