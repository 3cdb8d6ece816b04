"""A dashboard's console page and its JSON views (apps/dashboards/console.py): the charts' views over
one date range, widgets added (checked), renamed, resized, arranged and removed, share links made,
listed and revoked; what each role may do, and one tenant's ids unknown to another's console."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from django_tenants.utils import schema_context

from apps.dashboards import services
from apps.core.charting import ECHARTS_STATIC
from apps.dashboards.models import Dashboard, Widget
from apps.governance.models import AuditEntry
from apps.governance.roles import ROLE_EDITOR, ROLE_VIEWER, console_user_create
from apps.tenancy.models import ShareLink
from tests.dashboards.test_dashboards_api import NOW, RANGE, api, shop, timedelta, widgets_of_every_type  # noqa: F401
from tests.helpers import assert_error

PASSWORD = "a-long-console-pass-42"
HOST = {"HTTP_HOST": "acme.localhost"}
HOSTILE = "<img src=x onerror=alert(1)>"
TRENDS = {"kind": "trends", "series": [{"event": "Buy"}], "interval": "day"}


def log_in(client, tenant, role: str = ROLE_EDITOR) -> None:  # noqa: ANN001
    with schema_context(tenant.schema_name):
        console_user_create(username=f"the-{role}", password=PASSWORD, role=role)
    response = client.post("/admin/login/", {"username": f"the-{role}", "password": PASSWORD, "next": "/admin/"},
                           HTTP_HOST=f"{tenant.slug}.localhost")
    assert response.status_code == 302


def post(client, path: str, body: dict | None = None):  # noqa: ANN001, ANN201
    return client.post(path, json.dumps(body or {}), content_type="application/json", **HOST)


@pytest.fixture
def board(shop):  # noqa: ANN001, ANN201
    with schema_context(shop.tenant.schema_name):
        dashboard = services.dashboard_create(name="sales", display_name="Sales")
        for widget in widgets_of_every_type():
            services.widget_create(dashboard=dashboard, tenant=shop.tenant, **widget)
    return dashboard


def base(dashboard: Dashboard) -> str:
    return f"/admin/dashboards/dashboard/{dashboard.pk}/console/"


def test_the_dashboard_page_draws_the_board_above_the_form(client, shop, board):
    log_in(client, shop.tenant)
    page = client.get(f"/admin/dashboards/dashboard/{board.pk}/change/", **HOST)
    html = page.content.decode()
    assert page.status_code == 200
    assert f"/static/{ECHARTS_STATIC}" in html and "/static/core/charts.js" in html
    assert "/static/dashboards/board.js" in html and 'id="board-grid"' in html
    config = json.loads(html.split('id="board-config" type="application/json">')[1].split("</script>")[0])
    assert config == {"id": board.pk, "base": base(board), "timezone": "America/New_York", "can_change": True,
                      "explore": f"/admin/explore/?dashboard={board.pk}", "widths": ["half", "full"],
                      "types": ["bar", "funnel", "gauge", "line", "number", "retention", "table"]}
    assert 'name="_save"' in html and 'id="board-add-form"' in html  # the form is kept, behind a toggle
    # The add page is the admin's own.
    add = client.get("/admin/dashboards/dashboard/add/", **HOST).content.decode()
    assert 'id="board-grid"' not in add and 'name="_save"' in add


def test_the_data_view_answers_each_widgets_chart_over_one_range(client, shop, board):
    log_in(client, shop.tenant, ROLE_VIEWER)
    answer = client.get(f"{base(board)}data", **HOST)
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert data["timezone"] == "America/New_York"
    views = {w["name"]: w["view"] for w in data["widgets"]}
    assert [w["name"] for w in data["widgets"]] == [w["name"] for w in widgets_of_every_type()]
    # The same numbers as the API's data, drawn by widget_view.
    api_data = api(client, shop.secret_key, "get", f"dashboards/{board.pk}/data").json()
    assert views == {entry["name"]: services.widget_view(entry) for entry in api_data["widgets"]}
    assert views["buys"]["value"] == 3
    assert views["daily"]["interval"] == "day" and views["daily"]["timezone"] == "UTC"
    assert [s["name"] for s in views["daily"]["series"]] == ["Buy", "View"]

    # One range for every widget: the last day only holds the Buys of yesterday... or none.
    day = (NOW - timedelta(days=1)).date()
    narrow = client.get(f"{base(board)}data", {"date_from": day.isoformat(),
                                               "date_to": (day + timedelta(days=1)).isoformat()}, **HOST).json()
    narrowed = {w["name"]: w["view"] for w in narrow["widgets"]}
    assert len(narrowed["daily"]["labels"]) == 1 and narrowed["daily"]["series"][0]["values"] == [3]
    assert narrowed["conversion"]["steps"][0]["count"] == 0  # the Views were two days ago
    relative = client.get(f"{base(board)}data", {"date_from": "-90d"}, **HOST).json()
    assert len({w["name"]: w for w in relative["widgets"]}["daily"]["view"]["labels"]) in (90, 91)
    # A bad date is each widget's error, not the page's.
    broken = client.get(f"{base(board)}data", {"date_from": "yesterday-ish"}, **HOST).json()
    assert all("error" in w["view"] for w in broken["widgets"])
    assert_error(client.get(f"{base(board)}data", {"date_from": "x" * 41}, **HOST), 400, "invalid")
    # Refresh recomputes; otherwise the engine's cache answers.
    assert all(w["cached"] for w in client.get(f"{base(board)}data", **HOST).json()["widgets"])
    assert not any(w["cached"] for w in client.get(f"{base(board)}data", {"refresh": "1"}, **HOST).json()["widgets"])


def test_widgets_are_added_checked_renamed_resized_arranged_and_removed(client, shop, board):
    log_in(client, shop.tenant)
    path = f"{base(board)}widgets"
    refused = post(client, path, {"name": "w", "widget_type": "funnel", "query_config": TRENDS})
    assert "draws" in assert_error(refused, 400, "invalid")["message"]
    assert_error(post(client, path, {"name": "Bad Name", "widget_type": "line", "query_config": TRENDS}), 400,
                 "invalid")
    assert_error(post(client, path, {"name": "w", "widget_type": "line", "query_config": "{"}), 400, "invalid")
    assert_error(client.post(path, "not json", content_type="application/json", **HOST), 400, "invalid")
    assert_error(post(client, path, {"name": "buys", "widget_type": "line", "query_config": TRENDS}), 409,
                 "widget_exists")
    with schema_context(shop.tenant.schema_name):
        assert board.widgets.count() == 7  # nothing written
    added = post(client, path, {"name": "hostile", "title": HOSTILE, "widget_type": "bar", "query_config": TRENDS,
                                "options": {"width": "full"}})
    assert added.status_code == 201, added.content
    widget = added.json()
    assert widget["title"] == HOSTILE and widget["position"] == 8

    change = f"{base(board)}widgets/{widget['id']}"
    assert post(client, change, {"title": "Buys by day", "width": "half"}).json()["options"] == {"width": "half"}
    assert_error(post(client, change, {"width": "wide"}), 400, "invalid")
    assert_error(post(client, change, {}), 400, "invalid")
    assert_error(post(client, f"{base(board)}widgets/99999", {"title": "x"}), 404, "not_found")

    with schema_context(shop.tenant.schema_name):
        ids = list(board.widgets.values_list("pk", flat=True))
    assert_error(post(client, f"{base(board)}arrange", {"order": ids[:-1]}), 400, "invalid")
    assert_error(post(client, f"{base(board)}arrange", {"order": [*ids[:-1], 99999]}), 400, "invalid")
    reordered = [ids[-1], *ids[:-1]]
    assert post(client, f"{base(board)}arrange", {"order": reordered}).status_code == 200
    with schema_context(shop.tenant.schema_name):
        assert list(board.widgets.values_list("pk", flat=True)) == reordered
        assert list(board.widgets.values_list("position", flat=True)) == list(range(1, 9))
        assert Widget.objects.get(pk=widget["id"]).title == "Buys by day"
    assert [w["id"] for w in client.get(f"{base(board)}data", **HOST).json()["widgets"]] == reordered

    assert post(client, change, {"remove": True}).json() == {"id": widget["id"], "removed": True}
    with schema_context(shop.tenant.schema_name):
        assert not Widget.objects.filter(pk=widget["id"]).exists()
    assert_error(post(client, change, {"remove": True}), 404, "not_found")


def test_share_links_are_made_shown_once_listed_and_revoked(client, shop, board, django_capture_on_commit_callbacks):
    log_in(client, shop.tenant)
    with django_capture_on_commit_callbacks(execute=True):
        made = post(client, f"{base(board)}shares")
    assert made.status_code == 201
    link = made.json()
    token = urlsplit(link["url"]).path.rsplit("/", 1)[1]
    assert link["url"] == f"http://localhost/d/{token}" and token.startswith(link["prefix"])
    assert client.get(f"/d/{token}").status_code == 200
    listed = client.get(f"{base(board)}shares", **HOST).json()
    assert listed == {"results": [{"id": link["id"], "prefix": link["prefix"], "created_at": link["created_at"],
                                   "revoked_at": None}], "next": None}
    assert token not in json.dumps(listed)  # the token is shown once
    with django_capture_on_commit_callbacks(execute=True):
        revoked = post(client, f"{base(board)}shares/{link['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert client.get(f"/d/{token}").status_code == 404
    assert_error(post(client, f"{base(board)}shares/99999/revoke"), 404, "not_found")
    with schema_context(shop.tenant.schema_name):
        actions = set(AuditEntry.objects.filter(object_type="share_link").values_list("action", flat=True))
    assert {"share_link_created", "share_link_revoked"} <= actions


def test_a_viewer_reads_the_board_and_every_write_is_refused(client, shop, board):
    with schema_context(shop.tenant.schema_name):
        widget = board.widgets.first()
        link, token = services.share_create(dashboard=board)
    log_in(client, shop.tenant, ROLE_VIEWER)
    page = client.get(f"/admin/dashboards/dashboard/{board.pk}/change/", **HOST).content.decode()
    config = json.loads(page.split('id="board-config" type="application/json">')[1].split("</script>")[0])
    assert config["can_change"] is False and 'id="board-add-form"' not in page
    assert 'id="board-share-create"' not in page and 'name="_save"' not in page
    assert client.get(f"{base(board)}data", **HOST).status_code == 200
    assert client.get(f"{base(board)}shares", **HOST).status_code == 200
    for path, body in [("widgets", {"name": "w", "widget_type": "line", "query_config": TRENDS}),
                       (f"widgets/{widget.pk}", {"remove": True}), (f"widgets/{widget.pk}", {"title": "x"}),
                       ("arrange", {"order": [widget.pk]}), ("shares", {}), (f"shares/{link.pk}/revoke", {})]:
        assert_error(post(client, f"{base(board)}{path}", body), 403, "forbidden")
    with schema_context(shop.tenant.schema_name):
        assert board.widgets.count() == 7 and Widget.objects.get(pk=widget.pk).title == ""
    assert ShareLink.objects.filter(dashboard_id=board.pk, tenant=shop.tenant).count() == 1
    assert client.get(f"/d/{token}").status_code == 200
    # Logged out: the admin's login page, no data.
    client.post("/admin/logout/", **HOST)
    assert client.get(f"{base(board)}data", **HOST).status_code == 302


def test_another_tenants_dashboard_and_widgets_are_not_found(client, shop, board, globex):
    with schema_context(globex.tenant.schema_name):
        services.dashboard_create(name="theirs-1")
        theirs = services.dashboard_create(name="theirs-2")
        for n in range(8):  # past acme's widget ids
            their_widget = services.widget_create(dashboard=theirs, tenant=globex.tenant, name=f"w{n}",
                                                  widget_type="number", query_config=TRENDS)
        their_link, _ = services.share_create(dashboard=theirs)
    with schema_context(shop.tenant.schema_name):
        assert not Dashboard.objects.filter(pk=theirs.pk).exists()  # ids acme does not have
        assert not Widget.objects.filter(pk=their_widget.pk).exists()
    log_in(client, shop.tenant)
    other = f"/admin/dashboards/dashboard/{theirs.pk}/console/"
    assert_error(client.get(f"{other}data", **HOST), 404, "not_found")
    assert_error(client.get(f"{other}shares", **HOST), 404, "not_found")
    assert_error(post(client, f"{other}shares"), 404, "not_found")
    assert_error(post(client, f"{other}widgets/{their_widget.pk}", {"remove": True}), 404, "not_found")
    # Through acme's own dashboard, globex's widget and link are unknown too.
    assert_error(post(client, f"{base(board)}widgets/{their_widget.pk}", {"remove": True}), 404, "not_found")
    assert_error(post(client, f"{base(board)}shares/{their_link.pk}/revoke"), 404, "not_found")
    # The admin's own "not found": back to the index with a message.
    assert client.get(f"/admin/dashboards/dashboard/{theirs.pk}/change/", **HOST).status_code == 302
    with schema_context(globex.tenant.schema_name):
        assert Widget.objects.filter(pk=their_widget.pk).exists()
    their_link.refresh_from_db()
    assert their_link.revoked_at is None


def test_a_hostile_title_is_escaped_in_the_page(client, shop, board):
    with schema_context(shop.tenant.schema_name):
        services.widget_create(dashboard=board, tenant=shop.tenant, name="hostile", title=HOSTILE,
                               widget_type="number", query_config=TRENDS)
    log_in(client, shop.tenant)
    page = client.get(f"/admin/dashboards/dashboard/{board.pk}/change/", **HOST).content.decode()
    assert HOSTILE not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_views_of_metric_segment_size_and_events_answers_carry_their_buckets(shop):
    from apps.segments import services as segment_services

    hourly = {"date_from": "-2d", "date_to": "now", "timezone": "Europe/Berlin"}
    with schema_context(shop.tenant.schema_name):
        segment_services.segment_create(name="buyers", rules={"op": "and", "rules": [
            {"field": "plan", "operator": "is_set"}]})
        dashboard = services.dashboard_create(name="kinds")
        for name, widget_type, query in [
            ("latency", "line", {"kind": "metric", "metric": "latency", "aggregation": "max", "granularity": "hour",
                                 **hourly}),
            ("latency-now", "number", {"kind": "metric", "metric": "latency", "aggregation": "max",
                                       "granularity": "hour", **hourly}),
            ("buyers", "bar", {"kind": "segment_size", "segment": "buyers", "interval": "day", **RANGE}),
            ("buyers-table", "table", {"kind": "segment_size", "segment": "buyers", "interval": "day", **RANGE}),
            ("events", "table", {"kind": "events", "event": "Buy", **RANGE}),
        ]:
            services.widget_create(dashboard=dashboard, tenant=shop.tenant, name=name, widget_type=widget_type,
                                   query_config=query)
        data = services.dashboard_data(dashboard=dashboard, tenant=shop.tenant)
    views = {entry["name"]: services.widget_view(entry) for entry in data["widgets"]}
    assert not any("error" in view for view in views.values()), views
    latency = views["latency"]
    assert (latency["interval"], latency["timezone"]) == ("hour", "Europe/Berlin")
    assert latency["series"][0]["name"] == "latency" and len(latency["labels"]) == len(latency["series"][0]["values"])
    assert latency["labels"][0].endswith(("+01:00", "+02:00"))  # buckets carry the zone's offset
    assert 300 in latency["series"][0]["values"] and views["latency-now"]["value"] == 300  # its latest value
    buyers = views["buyers"]
    assert (buyers["interval"], buyers["series"][0]["name"]) == ("day", "buyers")
    assert len(buyers["labels"]) == 7 and buyers["series"][0]["values"][-1] is not None  # refreshed when made
    assert views["buyers-table"]["columns"] == ["bucket", "buyers"] and len(views["buyers-table"]["rows"]) == 7
    assert views["events"]["columns"] == ["timestamp", "event", "distinct_id"]
    assert [row[1] for row in views["events"]["rows"]] == ["Buy"] * 3


def test_the_data_view_keeps_the_query_rate_budget(client, shop, board, settings):
    settings.QUERY_RATE_LIMIT_PER_MINUTE = 2
    log_in(client, shop.tenant, ROLE_VIEWER)
    assert [client.get(f"{base(board)}data", **HOST).status_code for _ in range(2)] == [200, 200]
    refused = client.get(f"{base(board)}data", **HOST)
    assert_error(refused, 429, "rate_limited")
    assert 1 <= int(refused["Retry-After"]) <= 60
