"""A dashboard's share page in a real headless Chromium: one widget of each type over real data,
every chart drawn by the vendored chart library under the page's strict CSP (no violation logged),
no script error, readable on a phone; docs/screenshots/share-page.png written.

Skipped, with the reason, where Debian's chromium and chromium-driver are not installed
(`.ci/run` installs them).
"""

from __future__ import annotations

import base64
import urllib.request

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.dashboards import services
from apps.metrics import services as metric_services
from tests.browser import BROWSER_TESTS, browser, committed_tenant  # noqa: F401 - the browser fixture
from tests.dashboards.test_dashboards_api import NOW, timedelta, widgets_of_every_type
from tests.helpers import screenshot, wait_until
from tests.segments.test_segments_api import ingest

pytestmark = BROWSER_TESTS


WINDOW = "1280,1600"  # the browser window


@pytest.fixture
def shared_dashboard(transactional_db):  # noqa: ANN001, ANN201
    """Committed data (the live server reads it from another connection); the schema dropped after."""
    with committed_tenant("browser-dash", "Dash Co") as created:
        yield _shared(created.tenant)


def _shared(tenant):  # noqa: ANN001, ANN202
    """The dashboard with a widget of every type and a share link; returns the link's token."""
    ingest(tenant, [
        *[{"type": "track", "userId": f"u{n}", "event": "View",
           "timestamp": (NOW - timedelta(days=n % 5, hours=n)).isoformat()} for n in range(40)],
        *[{"type": "track", "userId": f"u{n}", "event": "Buy",
           "timestamp": (NOW - timedelta(days=n % 3, hours=n % 7)).isoformat()} for n in range(0, 40, 3)],
    ])
    with schema_context(tenant.schema_name):
        metric_services.metric_create(name="latency", metric_type="histogram")
        metric_services.metric_values_record_batch(data={"values": [
            {"metric": "latency", "value": 50 + n * 7, "timestamp": (NOW - timedelta(hours=n)).isoformat()}
            for n in range(60)]})
        dashboard = services.dashboard_create(name="sales", display_name="Sales overview",
                                              description="Every chart type")
        for widget in widgets_of_every_type():
            services.widget_create(dashboard=dashboard, tenant=tenant, **widget)
        _, token = services.share_create(dashboard=dashboard)
    connection.set_schema_to_public()
    return token


DRAWN = """
return Array.from(document.querySelectorAll('.widget')).map(function (w) {
  var chart = w.querySelector('.chart');
  var table = chart.querySelector('table');
  return {type: chart.getAttribute('data-type'), drawn: chart.getAttribute('data-drawn'),
          canvas: chart.querySelectorAll('.ac-chart canvas, .ac-chart svg').length,
          rows: table ? table.querySelectorAll('tbody tr').length : 0,
          width: chart.getBoundingClientRect().width, error: !!chart.querySelector('.ac-error')};
});
"""


def test_every_chart_of_a_shared_dashboard_draws(browser, live_server, shared_dashboard, tmp_path):
    port = live_server.url.rsplit(":", 1)[1]
    response = urllib.request.urlopen(f"http://localhost:{port}/d/{shared_dashboard}", timeout=10)
    assert "script-src 'self'; style-src 'self'" in response.headers["Content-Security-Policy"]
    browser.get(f"http://localhost:{port}/d/{shared_dashboard}")
    assert browser.title == "Sales overview"
    charts = browser.execute_script(DRAWN)
    assert sorted(c["type"] for c in charts) == sorted(["number", "line", "bar", "table", "funnel", "retention",
                                                         "gauge"])
    for chart in charts:
        assert chart["drawn"] == "true" and not chart["error"], chart
        assert chart["canvas"] > 0 or chart["type"] == "table", chart  # drawn by the chart library
        assert chart["rows"] > 0, chart  # and its figures readable in a table
    # The strict CSP holds: no violation (Chromium logs them as errors), no script error, nothing missing.
    problems = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
    assert problems == [], problems
    # A tooltip (DOM built by charts.js) shows under the CSP too.
    browser.execute_script("""var w = document.querySelector('.widget-line .ac-chart');
      echarts.getInstanceByDom(w).dispatchAction({type: 'showTip', seriesIndex: 0, dataIndex: 6});""")
    wait_until(lambda: browser.execute_script(
        "var t = document.querySelector('.widget-line .ac-tooltip'); return t && t.textContent"),
        timeout=10, what="the line chart's tooltip")
    assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")] == []
    screenshot(browser, "share-page")

    # A phone: one column, nothing wider than the screen.
    browser.set_window_size(390, 844)
    browser.get(f"http://localhost:{port}/d/{shared_dashboard}")
    width = browser.execute_script("return window.innerWidth")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= width
    assert all(c["drawn"] == "true" and c["width"] <= width for c in browser.execute_script(DRAWN))
    (tmp_path / "dashboard-phone.png").write_bytes(base64.b64decode(browser.get_screenshot_as_base64()))
    assert (tmp_path / "dashboard-phone.png").stat().st_size > 10_000
