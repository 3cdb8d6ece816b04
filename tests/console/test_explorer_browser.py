"""The insight explorer in a real headless Chromium: an editor builds each kind of query through the
form (clicks and typing), and the numbers the page's table shows are those POST /api/v1/query
answers (with the tenant's secret key, over HTTP to the same server) for the same spec; changing
the range and the interval changes them accordingly; the query is saved to a dashboard; a viewer
gets no save control. The spec's other fields (filters per series and per step, event types, the
segment, breakdown limits, metric dimensions) built the same way, kept by the link and by a saved
widget. No browser console errors. Writes docs/screenshots/console-explorer-*.png.

Skipped, with the reason, where Debian's chromium and chromium-driver are not installed.
"""

from __future__ import annotations

import json
import urllib.request
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.console.explorer_services import cell_text, percent_text
from apps.dashboards.models import Widget
from apps.governance.roles import ROLE_EDITOR, ROLE_VIEWER
from apps.metrics import services as metric_services
from tests.browser import BROWSER_TESTS, PASSWORD, browser, committed_tenant, log_in  # noqa: F401 - the browser fixture
from tests.helpers import screenshot, wait_until
from tests.segments.test_segments_api import NOW, ingest

pytestmark = BROWSER_TESTS

ZONE = "Europe/Berlin"
HOSTILE = "<img src=x onerror=alert(1)>"


def at(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat()


WINDOW = "1400,1000"  # the browser window


@pytest.fixture
def shop(transactional_db):  # noqa: ANN001, ANN201
    """A tenant with two months of visits, purchases and page views, a metric, an editor and a
    viewer; committed (the live server reads it from another connection), its schema dropped after."""
    with committed_tenant("browser-ex", "Explorer Co", users={"the-editor": ROLE_EDITOR, "the-viewer": ROLE_VIEWER},
                          timezone=ZONE) as created:
        _shop(created.tenant)
        yield created


def _shop(tenant):  # noqa: ANN001, ANN202
    events = []
    for n, user in enumerate(["ann", "bob", "cid", "dee", "eve", "fay"]):
        for days in range(n % 3, 60, 4 + n):  # every few days, further back for some
            events.append({"type": "track", "userId": user, "event": "Visit", "timestamp": at(days=days, hours=n)})
            events.append({"type": "page", "userId": user, "properties": {"path": f"/p{days % 3}"},
                           "timestamp": at(days=days, hours=n, minutes=-2)})
            if days % 2 == 0:
                events.append({"type": "track", "userId": user, "event": "Buy", "properties": {"amount": 10 + n},
                               "timestamp": at(days=days, hours=n, minutes=-5)})
    events.append({"type": "track", "userId": "zed", "event": HOSTILE, "timestamp": at(hours=3)})
    ingest(tenant, events)
    with schema_context(tenant.schema_name):
        metric_services.metric_create(name="latency", metric_type="gauge", dimensions=["region"])
        # Each region's two values are over an hour apart: always in two hourly buckets, whatever the time.
        for minutes, value, region in ((5, 120.0, "eu"), (140, 80.5, "us"), (130, 99.0, "eu"), (20, 60.0, "us")):
            metric_services.metric_value_record(name="latency", data={
                "value": value, "timestamp": at(minutes=minutes), "dimensions": {"region": region}})
    connection.set_schema_to_public()


# --- driving the page ------------------------------------------------------------------------------

class Explorer:
    def __init__(self, browser: Any, base: str, secret_key: str) -> None:
        self.b, self.base, self.key = browser, base, secret_key

    def css(self, selector: str) -> Any:
        return self.b.find_element("css selector", selector)

    def all(self, selector: str) -> list:
        return self.b.find_elements("css selector", selector)

    def type(self, element: Any, text: str) -> None:
        element.clear()
        element.send_keys(text)

    def choose(self, element: Any, value: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(element).select_by_value(value)

    def runs(self) -> int:
        return int(self.b.execute_script("return Number(document.body.getAttribute('data-explorer-run') || 0)"))

    def after_run(self, action: Any) -> dict:
        """Do `action` (which runs the query), wait for the new answer, return the table."""
        before = self.runs()
        action()
        wait_until(lambda: self.runs() > before and self.b.execute_script(
            "return document.body.getAttribute('data-explorer')") == "done", timeout=20, what="the query's answer")
        return self.table()

    def run(self) -> dict:
        return self.after_run(lambda: self.css("#ex-run").click())

    def tab(self, kind: str) -> None:
        self.css(f'.ex-tab[data-kind="{kind}"]').click()

    def spec(self) -> dict:
        return json.loads(self.css("#ex-spec").text)

    def table(self) -> dict:
        return self.b.execute_script("""
          var t = document.getElementById('ex-table');
          return {columns: Array.from(t.tHead.rows[0].cells).map(function (c) { return c.textContent; }),
                  rows: Array.from(t.tBodies[0].rows).map(function (r) {
                    return Array.from(r.cells).map(function (c) { return c.textContent; }); })};""")

    def api(self, spec: dict) -> dict:
        request = urllib.request.Request(f"{self.base}/api/v1/query", data=json.dumps(spec).encode(), method="POST",
                                         headers={"Authorization": f"Bearer {self.key}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=20) as response:
            return json.loads(response.read())

    def no_console_errors(self) -> None:
        problems = [entry for entry in self.b.get_log("browser") if entry["level"] == "SEVERE"
                    and "/favicon.ico" not in entry["message"]]
        assert problems == [], problems


def series_table(api: dict) -> list[list[str]]:
    """What the table must show for a trends / sessions / metric answer: a row per bucket, then totals."""
    series = api["series"]
    rows = [[cell_text(bucket), *[cell_text(s["values"][i]) for s in series]]
            for i, bucket in enumerate(series[0]["buckets"])]
    if api["kind"] in ("trends", "sessions"):
        rows.append(["total", *[cell_text(s["total"]) for s in series]])
    return rows


def test_an_editor_builds_every_kind_reads_the_apis_numbers_and_saves_a_widget(browser, live_server, shop):
    port = live_server.url.rsplit(":", 1)[1]
    page = Explorer(browser, f"http://localhost:{port}", shop.secret_key.raw)
    console = f"http://browser-ex.localhost:{port}"
    log_in(browser, f"{console}/admin/login/?next=/admin/", "the-editor", PASSWORD)
    page.css('a[href="/admin/explore/"]').click()
    wait_until(lambda: browser.execute_script("return document.body.getAttribute('data-explorer')") == "ready",
               timeout=15, what="the explorer")

    # Trends: two series typed in, the second counting persons.
    page.type(page.css('.ex-series input[name="event"]'), "Buy")
    page.css("#ex-add-series").click()
    page.type(page.all('.ex-series input[name="event"]')[1], "Visit")
    page.choose(page.all('.ex-series select[name="math"]')[1], "unique_persons")
    week = page.run()
    expected = {"kind": "trends", "series": [{"event": "Buy"}, {"event": "Visit", "math": "unique_persons"}],
                "interval": "day", "date_from": "-7d", "timezone": ZONE}
    assert page.spec() == expected
    api = page.api(expected)
    assert week["columns"] == ["bucket", "Buy", "Visit (unique_persons)"]
    assert week["rows"] == series_table(api) and len(week["rows"]) >= 8
    assert int(week["rows"][-1][1]) > 0
    # The chart is drawn from the same answer.
    assert page.css("#ex-chart-box").get_attribute("data-drawn") == "true"

    # A longer range: more buys; weekly buckets: fewer rows, the same totals.
    month = page.after_run(lambda: page.choose(page.css("#ex-range"), "-30d"))
    assert page.spec()["date_from"] == "-30d"
    assert month["rows"] == series_table(page.api({**expected, "date_from": "-30d"}))
    assert int(month["rows"][-1][1]) > int(week["rows"][-1][1])
    weekly = page.after_run(lambda: page.choose(page.css("#ex-interval"), "week"))
    api = page.api({**expected, "date_from": "-30d", "interval": "week"})
    assert weekly["rows"] == series_table(api)
    assert len(weekly["rows"]) < len(month["rows"]) and weekly["rows"][-1] == month["rows"][-1]
    screenshot(browser, "console-explorer-trends")

    # The spec is in the URL: the link reloads the same query and answer.
    link = browser.current_url
    assert "q=" in link
    browser.get(link)
    wait_until(lambda: browser.execute_script("return document.body.getAttribute('data-explorer')") == "done",
               timeout=20, what="the linked query")
    assert page.table() == weekly

    # Save it to a new dashboard, then find it in the database and on the dashboard's page.
    page.type(page.css("#ex-save-title"), "Weekly buys")
    page.choose(page.css("#ex-save-dashboard"), "")
    page.type(page.css("#ex-save-new"), "Sales board")
    page.css("#ex-save").click()
    dashboard_link = wait_until(lambda: page.all("#ex-dashboard-link"), timeout=15, what="the saved widget")[0]
    with schema_context(shop.tenant.schema_name):
        widget = Widget.objects.select_related("dashboard").get()
        assert (widget.name, widget.title, widget.widget_type, widget.dashboard.name) == (
            "weekly-buys", "Weekly buys", "line", "sales-board")
        assert widget.query_config == {**expected, "date_from": "-30d", "interval": "week"}
    connection.set_schema_to_public()
    href = dashboard_link.get_attribute("href")
    assert href.endswith(f"/admin/dashboards/dashboard/{widget.dashboard_id}/change/")
    page.no_console_errors()
    dashboard_link.click()
    wait_until(lambda: "/admin/dashboards/dashboard/" in browser.current_url, timeout=15, what="the dashboard")
    assert "weekly-buys" in browser.page_source
    browser.back()
    wait_until(lambda: browser.execute_script("return document.body.getAttribute('data-explorer')") == "done",
               timeout=20, what="the explorer again")

    # Funnel: Visit then Buy within a day.
    page.tab("funnel")
    steps = page.all('.ex-step input[name="event"]')
    page.type(steps[0], "Visit")
    page.type(steps[1], "Buy")
    page.type(page.css("#ex-window-n"), "1")
    funnel = page.run()
    spec = page.spec()
    assert spec == {"kind": "funnel", "steps": [{"event": "Visit"}, {"event": "Buy"}], "window": "1d",
                    "date_from": "-30d", "timezone": ZONE}
    api = page.api(spec)
    assert [row[1] for row in funnel["rows"]] == ["Visit", "Buy"]
    assert [row[2] for row in funnel["rows"]] == [str(s["count"]) for s in api["steps"]]
    assert [row[3] for row in funnel["rows"]] == [percent_text(s["conversion_from_start"]) for s in api["steps"]]
    assert [row[4] for row in funnel["rows"]] == [percent_text(s["conversion_from_previous"]) for s in api["steps"]]
    assert funnel["rows"][0][3] == "100%" and funnel["rows"][1][3].endswith("%")
    assert [row[5] for row in funnel["rows"]] == [cell_text(s["median_seconds_from_previous"]) for s in api["steps"]]
    assert 0 < api["steps"][1]["count"] < api["steps"][0]["count"]

    # Retention: weekly cohorts of visitors coming back to buy.
    page.tab("retention")
    page.type(page.css("#ex-start-event"), "Visit")
    page.type(page.css("#ex-return-event"), "Buy")
    page.choose(page.css("#ex-period"), "week")
    page.type(page.css("#ex-periods"), "3")
    retention = page.run()
    spec = page.spec()
    assert spec == {"kind": "retention", "start_event": "Visit", "return_event": "Buy", "period": "week",
                    "periods": 3, "date_from": "-30d", "timezone": ZONE}
    api = page.api(spec)
    assert retention["columns"] == ["cohort", "size", "+1", "+2", "+3"]
    assert [row[1:] for row in retention["rows"]] == [[str(c["size"]), *[str(n) for n in c["retained"][1:]]]
                                                      for c in api["cohorts"]]
    assert sum(c["size"] for c in api["cohorts"]) == 6
    screenshot(browser, "console-explorer-retention")

    # Sessions: two measures by day over the last week, a hostile-named event filtered out.
    page.tab("sessions")
    page.choose(page.css("#ex-range"), "-7d")
    page.choose(page.css("#ex-interval"), "day")
    for measure in page.all('input[name="measure"]'):
        if measure.get_attribute("value") in ("median_duration", "bounce_rate", "events_per_session"):
            measure.click()  # median and bounce rate off, events per session on
    sessions = page.run()
    spec = page.spec()
    assert spec == {"kind": "sessions", "measures": ["sessions", "events_per_session"], "interval": "day",
                    "date_from": "-7d", "timezone": ZONE}
    api = page.api(spec)
    assert sessions["columns"] == ["bucket", "sessions", "events_per_session"]
    assert sessions["rows"] == series_table(api) and int(sessions["rows"][-1][1]) > 0
    screenshot(browser, "console-explorer-sessions")

    # Metric: average latency per region and hour over the last day.
    page.tab("metric")
    page.choose(page.css("#ex-metric"), "latency")
    page.choose(page.css("#ex-aggregation"), "avg")
    page.css('#ex-group-by input[value="region"]').click()
    page.choose(page.css("#ex-range"), "-24h")
    page.choose(page.css("#ex-interval"), "hour")
    metric = page.run()
    spec = page.spec()
    assert spec == {"kind": "metric", "metric": "latency", "aggregation": "avg", "granularity": "hour",
                    "group_by": ["region"], "date_from": "-24h", "timezone": ZONE}
    api = page.api(spec)
    assert metric["columns"] == ["bucket", "region=eu", "region=us"]
    assert metric["rows"] == series_table(api)
    shown = sorted(cell for row in metric["rows"] for cell in row[1:] if cell != "–")
    assert shown == ["120", "60", "80.5", "99"]
    screenshot(browser, "console-explorer-metric")

    page.no_console_errors()

    # An error from the engine is shown next to the field it concerns; the browser logs the 400 it
    # answered, and nothing else.
    page.tab("trends")
    page.type(page.all('.ex-series input[name="event"]')[0], "")
    page.css("#ex-run").click()
    note = wait_until(lambda: page.all(".ex-series .ex-field-error"), timeout=15, what="the field's error")[0]
    assert "$.series[0].event" in note.text and page.css("#ex-error").is_displayed() is False
    assert "ex-invalid" in page.all('.ex-series input[name="event"]')[0].get_attribute("class")
    problems = [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert len(problems) == 1 and "/admin/explore/run" in problems[0] and "400" in problems[0], problems


def test_a_viewer_runs_queries_has_no_save_control_and_sees_hostile_names_as_text(browser, live_server, shop):
    port = live_server.url.rsplit(":", 1)[1]
    page = Explorer(browser, f"http://localhost:{port}", shop.secret_key.raw)
    log_in(browser, f"http://browser-ex.localhost:{port}/admin/login/?next=/admin/explore/", "the-viewer", PASSWORD)
    wait_until(lambda: browser.execute_script("return document.body.getAttribute('data-explorer')") == "ready",
               timeout=15, what="the explorer")
    assert page.all("#ex-save-form") == [] and page.all("#ex-save") == []
    page.type(page.css('.ex-series input[name="event"]'), HOSTILE)
    page.choose(page.css("#ex-chart"), "bar")
    shown = page.run()
    assert shown["columns"] == ["bucket", HOSTILE]  # the name as text, not markup
    assert shown["rows"][-1] == ["total", "1"]
    assert page.all("#ex-table img") == [] and page.all("#ex-chart-box img") == []
    assert page.spec()["series"] == [{"event": HOSTILE}]
    page.no_console_errors()


def test_the_pickers_offer_what_the_tenant_sent(browser, live_server, shop):
    from apps.events.definitions import definitions_rebuild

    # Two traits, then the definitions built from what is stored (the fixture writes below the
    # HTTP views, where ingestion would count them).
    ingest(shop.tenant, [{"type": "identify", "userId": user, "traits": {"plan": plan}, "timestamp": at(hours=1),
                          "messageId": f"trait-{user}"} for user, plan in (("ann", "pro"), ("bob", "free"))])
    with schema_context(shop.tenant.schema_name):
        definitions_rebuild()
    connection.set_schema_to_public()
    port = live_server.url.rsplit(":", 1)[1]
    page = Explorer(browser, f"http://localhost:{port}", shop.secret_key.raw)
    log_in(browser, f"http://browser-ex.localhost:{port}/admin/login/?next=/admin/explore/", "the-viewer", PASSWORD)
    wait_until(lambda: browser.execute_script("return document.body.getAttribute('data-explorer')") == "ready",
               timeout=15, what="the explorer")

    def offered(element: Any) -> list[str]:
        return browser.execute_script(
            "var l = document.getElementById(arguments[0].getAttribute('list'));"
            "return l ? Array.from(l.options).map(function (o) { return o.value; }) : [];", element)

    event = page.css('.ex-series input[name="event"]')
    event.click()
    names = wait_until(lambda: offered(event), timeout=10, what="event names")
    assert {"Buy", "Visit", HOSTILE} <= set(names)
    assert names.index("Visit") < names.index("Buy")  # by volume: more visits than purchases
    event.send_keys("Bu")
    wait_until(lambda: offered(event) == ["Buy"], timeout=10, what="the names matching what is typed")
    event.send_keys("y")

    # The numeric property of a `sum` series: the keys of that series' event.
    page.choose(page.css('.ex-series select[name="math"]'), "sum")
    prop = page.css('.ex-series input[name="property"]')
    prop.click()
    assert wait_until(lambda: offered(prop), timeout=10, what="Buy's keys") == ["amount"]

    # A person filter: trait keys, then the values of the chosen one.
    page.css("#ex-add-filter").click()
    page.choose(page.css('.ex-filter select[name="type"]'), "person")
    key = page.css('.ex-filter input[name="property"]')
    key.click()
    assert wait_until(lambda: offered(key), timeout=10, what="trait keys") == ["plan"]
    key.send_keys("plan")
    value = page.css('.ex-filter input[name="value"]')
    value.click()
    assert sorted(wait_until(lambda: offered(value), timeout=10, what="trait values")) == ["free", "pro"]
    value.send_keys("pro")
    assert page.spec()["filters"] == [{"property": "plan", "operator": "eq", "value": "pro", "type": "person"}]
    prop.send_keys("amount")
    assert page.spec()["series"] == [{"event": "Buy", "math": "sum", "property": "amount"}]
    page.no_console_errors()


def test_filters_per_series_and_step_event_types_a_segment_limits_and_dimensions(browser, live_server, shop):
    """The spec's other fields built through the form: each answer read against the API's, the link
    reloading every field, a saved widget keeping them and filling the form again."""
    from apps.events.definitions import definitions_rebuild
    from apps.segments import services as segment_services

    with schema_context(shop.tenant.schema_name):
        definitions_rebuild()
        segment_services.segment_create(name="visitors", display_name=HOSTILE, rules={"op": "and", "rules": [
            {"event": "Visit", "operator": "gte", "value": 6, "within": "30d"}]})
    connection.set_schema_to_public()
    port = live_server.url.rsplit(":", 1)[1]
    page = Explorer(browser, f"http://localhost:{port}", shop.secret_key.raw)
    log_in(browser, f"http://browser-ex.localhost:{port}/admin/login/?next=/admin/explore/", "the-editor", PASSWORD)
    wait_until(lambda: browser.execute_script("return document.body.getAttribute('data-explorer')") == "ready",
               timeout=15, what="the explorer")

    def offered(element: Any) -> list[str]:
        return browser.execute_script(
            "var l = document.getElementById(arguments[0].getAttribute('list'));"
            "return l ? Array.from(l.options).map(function (o) { return o.value; }) : [];", element)

    def add_item_filter(row: Any, key: str, operator: str, value: str) -> None:
        index = len(page.all(".ex-item-filter"))
        row_index = page.all(".ex-series, .ex-step").index(row)
        row.find_element("css selector", ".ex-add-item-filter").click()
        added = page.all(".ex-item-filter")[index]
        prop = added.find_element("css selector", 'input[name="property"]')
        prop.click()
        # The keys offered are those of this row's event (page views: path; Buy: amount).
        wait_until(lambda: key in offered(prop), timeout=10, what=f"the keys of row {row_index}'s event")
        prop.send_keys(key)
        page.choose(added.find_element("css selector", 'select[name="operator"]'), operator)
        page.type(added.find_element("css selector", 'input[name="value"]'), value)

    # Trends: every page view of /p0 (an event type, its own filter), Buy of 11 or more (not ann's), of the
    # persons with 6 visits in 30 days (ann, bob).
    page.choose(page.css('.ex-series select[name="event_type"]'), "page")
    assert not page.css('.ex-series input[name="event"]').is_displayed()
    add_item_filter(page.all(".ex-series")[0], "path", "eq", "/p0")
    page.css("#ex-add-series").click()
    page.type(page.all('.ex-series input[name="event"]')[1], "Buy")
    add_item_filter(page.all(".ex-series")[1], "amount", "gte", "11")
    page.choose(page.css("#ex-segment"), "visitors")
    assert HOSTILE in page.css("#ex-segment").text and page.all("#ex-segment img") == []
    page.choose(page.css("#ex-range"), "-30d")
    trends = page.run()
    spec = page.spec()
    assert spec == {"kind": "trends", "series": [
        {"event_type": "page", "filters": [{"property": "path", "operator": "eq", "value": "/p0"}]},
        {"event": "Buy", "filters": [{"property": "amount", "operator": "gte", "value": 11}]}],
        "interval": "day", "segment": "visitors", "date_from": "-30d", "timezone": ZONE}
    api = page.api(spec)
    assert trends["rows"] == series_table(api)
    everyone = page.api({**spec, "series": [{"event_type": "page"}, {"event": "Buy"}], "segment": None})
    assert 0 < api["series"][0]["total"] < everyone["series"][0]["total"]
    assert 0 < api["series"][1]["total"] < everyone["series"][1]["total"]

    # The top path of the page views, the rest as $other.
    page.all(".ex-series .ex-remove")[1].click()  # the Buy series off
    page.type(page.css("#ex-breakdown-property"), "path")
    page.type(page.css("#ex-breakdown-limit"), "1")
    page.all(".ex-item-filter .ex-remove")[0].click()  # every path
    top = page.run()
    spec = page.spec()
    assert spec["series"] == [{"event_type": "page"}] and spec["breakdown"] == {"property": "path", "limit": 1}
    api = page.api(spec)
    assert top["rows"] == series_table(api) and len(top["columns"]) == 3 and top["columns"][2].endswith("$other")

    # The link reloads every field.
    link = browser.current_url
    browser.get(link)
    wait_until(lambda: browser.execute_script("return document.body.getAttribute('data-explorer')") == "done",
               timeout=20, what="the linked query")
    assert page.spec() == spec and page.table() == top
    assert page.css("#ex-segment").get_attribute("value") == "visitors"
    assert page.css('.ex-series select[name="event_type"]').get_attribute("value") == "page"
    assert page.css("#ex-breakdown-limit").get_attribute("value") == "1"

    # Funnel: a page view of /p0, then a buy; conversions as percentages.
    page.tab("funnel")
    page.choose(page.all('.ex-step select[name="event_type"]')[0], "page")
    add_item_filter(page.all(".ex-step")[0], "path", "eq", "/p0")
    page.type(page.all('.ex-step input[name="event"]')[1], "Buy")
    page.choose(page.css("#ex-segment"), "")
    funnel = page.run()
    spec = page.spec()
    assert spec == {"kind": "funnel", "steps": [
        {"event_type": "page", "filters": [{"property": "path", "operator": "eq", "value": "/p0"}]}, {"event": "Buy"}],
        "window": "14d", "date_from": "-30d", "timezone": ZONE}
    api = page.api(spec)
    assert [row[2] for row in funnel["rows"]] == [str(s["count"]) for s in api["steps"]]
    assert [row[3] for row in funnel["rows"]] == [percent_text(s["conversion_from_start"]) for s in api["steps"]]
    assert 0 < api["steps"][1]["count"] < api["steps"][0]["count"] and funnel["rows"][1][3].endswith("%")
    screenshot(browser, "console-explorer-funnel")  # an event type, a step's filter, percentages

    # Saved as a widget, then loaded into the form again.
    page.type(page.css("#ex-save-title"), "Page to buy")
    page.choose(page.css("#ex-save-dashboard"), "")
    page.type(page.css("#ex-save-new"), "Funnels")
    page.css("#ex-save").click()
    wait_until(lambda: page.all("#ex-dashboard-link"), timeout=15, what="the saved widget")
    with schema_context(shop.tenant.schema_name):
        widget = Widget.objects.get()
        assert widget.query_config == spec and widget.widget_type == "funnel"
    connection.set_schema_to_public()
    browser.get(f"http://browser-ex.localhost:{port}/admin/explore/?widget={widget.pk}")
    wait_until(lambda: browser.execute_script("return document.body.getAttribute('data-explorer')") == "done",
               timeout=20, what="the widget's query")
    assert page.spec() == spec and page.table() == funnel
    assert page.all('.ex-step select[name="event_type"]')[0].get_attribute("value") == "page"
    assert page.css('.ex-item-filter input[name="value"]').get_attribute("value") == "/p0"

    # Sessions: the bounce rate as a percentage, by entry page, the top one.
    page.tab("sessions")
    page.choose(page.css("#ex-breakdown-type"), "session")
    page.type(page.css("#ex-breakdown-property"), "$entry_page")
    page.type(page.css("#ex-breakdown-limit"), "1")
    for measure in page.all('input[name="measure"]'):
        if measure.get_attribute("value") == "median_duration":
            measure.click()
    sessions = page.run()
    spec = page.spec()
    assert spec["measures"] == ["sessions", "bounce_rate"]
    assert spec["breakdown"] == {"property": "$entry_page", "type": "session", "limit": 1}
    api = page.api(spec)
    rates = [i for i, s in enumerate(api["series"], start=1) if s["measure"] == "bounce_rate"]
    assert len(rates) == 2 and sessions["columns"][rates[0]].startswith("bounce_rate")
    expected = [[cell_text(b), *[(percent_text if s["measure"] == "bounce_rate" else cell_text)(s["values"][i])
                                 for s in api["series"]]] for i, b in enumerate(api["series"][0]["buckets"])]
    expected.append(["total", *[(percent_text if s["measure"] == "bounce_rate" else cell_text)(s["total"])
                                for s in api["series"]]])
    assert sessions["rows"] == expected and sessions["rows"][-1][rates[0]].endswith("%")

    # Metric: latency where region is eu.
    page.tab("metric")
    page.choose(page.css("#ex-metric"), "latency")
    page.choose(page.css("#ex-aggregation"), "max")
    page.css("#ex-add-dimension").click()
    page.choose(page.css('#ex-dimensions select[name="dimension"]'), "region")
    page.type(page.css('#ex-dimensions input[name="dimension_value"]'), "eu")
    page.choose(page.css("#ex-range"), "-24h")
    page.choose(page.css("#ex-interval"), "hour")
    metric = page.run()
    spec = page.spec()
    assert spec == {"kind": "metric", "metric": "latency", "aggregation": "max", "granularity": "hour",
                    "dimensions": {"region": "eu"}, "date_from": "-24h", "timezone": ZONE}
    assert metric["rows"] == series_table(page.api(spec))
    assert sorted(cell for row in metric["rows"] for cell in row[1:] if cell != "–") == ["120", "99"]
    page.no_console_errors()
