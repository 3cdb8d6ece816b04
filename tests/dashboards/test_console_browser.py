"""A dashboard's console page in a real headless Chromium: one widget of every type drawn by the
chart library, the numbers in the page equal to the API's, the date range and refresh, widgets
added, arranged, resized, renamed and removed (kept after a reload), a share link made, its page
drawn, then revoked; a hostile event name and title inert; a viewer sees the charts and can change
nothing. Writes docs/screenshots/console-dashboard.png.

Skipped, with the reason, where Debian's chromium and chromium-driver are not installed.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.dashboards import services
from apps.governance.roles import ROLE_EDITOR, ROLE_VIEWER
from apps.metrics import services as metric_services
from tests.browser import BROWSER_TESTS, PASSWORD, browser, committed_tenant, log_in  # noqa: F401 - the browser fixture
from tests.dashboards.test_dashboards_api import NOW, RANGE, timedelta, widgets_of_every_type
from tests.helpers import screenshot, wait_until
from tests.segments.test_segments_api import ingest

pytestmark = BROWSER_TESTS

HOSTILE = "<img src=x onerror=alert(1)>"




@pytest.fixture
def board(transactional_db):  # noqa: ANN001, ANN201
    """Committed (the live server reads from another connection); the schema dropped after."""
    with committed_tenant("browser-board", "Board Co", users={"editor": ROLE_EDITOR, "viewer": ROLE_VIEWER},
                          timezone="Europe/Berlin") as created:
        yield created, _board(created.tenant)


def _board(tenant):  # noqa: ANN001, ANN202
    ingest(tenant, [
        *[{"type": "track", "userId": f"u{n}", "event": "View",
           "timestamp": (NOW - timedelta(days=n % 5, hours=n)).isoformat()} for n in range(40)],
        *[{"type": "track", "userId": f"u{n}", "event": "Buy",
           "timestamp": (NOW - timedelta(days=n % 3, hours=n % 7)).isoformat()} for n in range(0, 40, 3)],
        *[{"type": "track", "userId": f"h{n}", "event": HOSTILE, "timestamp": (NOW - timedelta(hours=n)).isoformat()}
          for n in range(3)],
    ])
    with schema_context(tenant.schema_name):
        metric_services.metric_create(name="latency", metric_type="histogram")
        metric_services.metric_values_record_batch(data={"values": [
            {"metric": "latency", "value": 50 + n * 7, "timestamp": (NOW - timedelta(hours=n)).isoformat()}
            for n in range(60)]})
        dashboard = services.dashboard_create(name="sales", display_name="Sales overview")
        for widget in widgets_of_every_type():
            services.widget_create(dashboard=dashboard, tenant=tenant, **widget)
        services.widget_create(dashboard=dashboard, tenant=tenant, name="hostile", title=HOSTILE, widget_type="line",
                               query_config={"kind": "trends", "interval": "day", **RANGE,
                                             "series": [{"event": HOSTILE}, {"event": "Buy"}]})
    connection.set_schema_to_public()
    return dashboard


CARDS = """
return Array.from(document.querySelectorAll('#board-grid .board-card')).map(function (card) {
  var chart = card.querySelector('.board-chart');
  return {id: Number(card.getAttribute('data-widget-id')), name: card.getAttribute('data-widget-name'),
          title: card.querySelector('.board-card-title').textContent, type: chart.getAttribute('data-type'),
          drawn: chart.getAttribute('data-drawn'), full: card.classList.contains('board-full'),
          canvas: chart.querySelectorAll('.ac-chart canvas, .ac-chart svg').length,
          error: chart.querySelector('.ac-error') ? chart.querySelector('.ac-error').textContent : null,
          rows: Array.from(chart.querySelectorAll('table tbody tr')).map(function (tr) {
            return Array.from(tr.children).map(function (c) { return JSON.parse(c.getAttribute('data-value')); });
          }),
          foot: card.querySelector('.board-card-foot') ? card.querySelector('.board-card-foot').textContent : ''};
});
"""


def cards(browser) -> dict:  # noqa: ANN001
    return {card["name"]: card for card in browser.execute_script(CARDS)}


def loads(browser) -> int:  # noqa: ANN001
    return int(browser.execute_script("return document.getElementById('board-grid').getAttribute('data-loads')")
               or 0)


def problems(browser) -> list:  # noqa: ANN001
    # The console has no favicon: the browser's own request for one is not this page's.
    return [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")
            and "/favicon.ico" not in entry["message"]]


def api_data(port: str, key: str, dashboard_id: int, **params: str) -> dict:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    request = urllib.request.Request(f"http://localhost:{port}/api/v1/dashboards/{dashboard_id}/data?{query}",
                                     headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return {entry["name"]: services.widget_view(entry) for entry in json.loads(response.read())["widgets"]}


def table_rows(view: dict) -> list[list]:
    """The rows charts.js puts in each chart's data table, from the API's view."""
    kind = view["type"]
    if kind in ("line", "bar"):
        return [[label, *[s["values"][i] for s in view["series"]]] for i, label in enumerate(view["labels"])]
    if kind == "number":
        return [[view.get("unit") or "value", view["value"]]]
    if kind == "gauge":
        return [[view["title"], view["value"], view["min"], view["max"]]]
    if kind == "funnel":
        return [[s["name"], s["count"], s["conversion"]] for s in view["steps"]]
    if kind == "retention":
        return [[r["label"], r["size"], *r["cells"][1:]] for r in view["rows"]]
    return view["rows"]


def open_board(browser, console: str, dashboard_id: int) -> None:  # noqa: ANN001
    browser.get(f"{console}/admin/dashboards/dashboard/{dashboard_id}/change/")
    wait_until(lambda: loads(browser) >= 1, timeout=30, what="the charts")


def click(browser, card_name: str, action: str) -> None:  # noqa: ANN001
    browser.find_element("css selector",
                         f'.board-card[data-widget-name="{card_name}"] button[data-action="{action}"]').click()


def test_an_editor_sees_every_chart_and_changes_the_dashboard(browser, live_server, board):
    created, dashboard = board
    port = live_server.url.rsplit(":", 1)[1]
    console = f"http://browser-board.localhost:{port}"
    log_in(browser, f"{console}/admin/login/?next=/admin/", "editor", PASSWORD)
    open_board(browser, console, dashboard.pk)

    # Every type drawn by the library, with its figures in a table equal to the API's.
    shown = cards(browser)
    assert sorted(c["type"] for c in shown.values()) == sorted(
        ["number", "line", "bar", "table", "funnel", "retention", "gauge", "line"])
    for card in shown.values():
        assert card["drawn"] == "true" and card["error"] is None, card
        assert card["canvas"] > 0 or card["type"] == "table", card
    expected = api_data(port, created.secret_key.raw, dashboard.pk)
    for name, view in expected.items():
        assert shown[name]["rows"] == table_rows(view), name
    assert shown["buys"]["rows"] == [["value", 14]]
    assert problems(browser) == []

    # Dates in the tenant's zone, by the interval: the day buckets as days.
    labels = browser.execute_script("""return Array.from(document.querySelectorAll(
      '.board-card[data-widget-name="daily"] table tbody th')).map(function (th) { return th.textContent; });""")
    assert labels == [browser.execute_script(
        "return AnalyticsCharts.bucketLabel(arguments[0], 'day', 'Europe/Berlin')", label)
        for label in expected["daily"]["labels"]]
    assert all(len(label.split()) == 3 for label in labels), labels  # "29 Nov 2026"

    # A hostile event name and title stay text: in the title, the legend's table and the tooltip.
    assert shown["hostile"]["title"] == HOSTILE
    assert browser.execute_script("""return Array.from(document.querySelectorAll(
      '.board-card[data-widget-name="hostile"] thead th')).map(function (th) { return th.textContent; });""") == [
        "bucket", HOSTILE, "Buy"]
    browser.execute_script("""var box = document.querySelector('.board-card[data-widget-name="hostile"] .ac-chart');
      echarts.getInstanceByDom(box).dispatchAction({type: 'showTip', seriesIndex: 0,
        dataIndex: box.closest('.board-card').querySelectorAll('tbody tr').length - 1});""")
    tooltip = wait_until(lambda: browser.execute_script(
        "var t = document.querySelector('.board-card[data-widget-name=\"hostile\"] .ac-tooltip');"
        "return t && t.textContent"), timeout=10, what="the hostile chart's tooltip")
    assert HOSTILE in tooltip
    assert browser.execute_script("return document.querySelectorAll('#board img').length") == 0
    screenshot(browser, "console-dashboard")

    # Dark mode follows the admin's theme switch.
    legend_colour = """var box = document.querySelector('.board-card[data-widget-name="daily"] .ac-chart');
      return echarts.getInstanceByDom(box).getOption().legend[0].textStyle.color;"""
    light = browser.execute_script(legend_colour)
    browser.execute_script("document.documentElement.setAttribute('data-theme', 'dark')")
    dark = wait_until(lambda: (lambda c: c if c != light else None)(browser.execute_script(legend_colour)),
                      timeout=10, what="the charts in dark colours")
    assert dark == browser.execute_script(
        "return getComputedStyle(document.documentElement).getPropertyValue('--body-fg').trim()")
    browser.execute_script("document.documentElement.setAttribute('data-theme', 'light')")

    # One range for the whole dashboard: the last 30 days, then a custom week, then refresh.
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "board-range")).select_by_value("30")
    wait_until(lambda: loads(browser) == 2, timeout=30, what="the 30 days")
    wide = cards(browser)
    assert len(wide["daily"]["rows"]) in (30, 31)
    ranged = api_data(port, created.secret_key.raw, dashboard.pk, date_from="-30d")
    assert wide["buys"]["rows"] == table_rows(ranged["buys"]) and wide["conversion"]["rows"] == table_rows(
        ranged["conversion"])
    Select(browser.find_element("id", "board-range")).select_by_value("custom")
    first, last = (NOW - timedelta(days=2)).date(), (NOW - timedelta(days=1)).date()
    browser.execute_script("document.getElementById('board-from').value = arguments[0];"
                           "document.getElementById('board-to').value = arguments[1];",
                           first.isoformat(), last.isoformat())
    browser.find_element("id", "board-apply").click()
    wait_until(lambda: loads(browser) == 3, timeout=30, what="the custom range")
    custom = cards(browser)
    assert len(custom["daily"]["rows"]) == 2  # both days chosen, the last included
    ranged = api_data(port, created.secret_key.raw, dashboard.pk, date_from=first.isoformat(),
                      date_to=(last + timedelta(days=1)).isoformat())
    assert custom["daily"]["rows"] == table_rows(ranged["daily"])
    browser.find_element("id", "board-refresh").click()
    wait_until(lambda: loads(browser) == 4, timeout=30, what="the refresh")
    assert "recomputed" in browser.find_element("id", "board-status").text
    assert not any("(cached)" in card["foot"] for card in cards(browser).values())

    # Arrange, resize, rename, remove: kept after a reload.
    order = [c["name"] for c in browser.execute_script(CARDS)]
    click(browser, order[0], "down")
    wait_until(lambda: browser.find_element("id", "board-status").text == "Order saved.", timeout=10,
               what="the order saved")
    # Dragged: the last card dropped on the first takes its place.
    browser.execute_script("""document.getElementById('board-status').textContent = '';
      var cards = document.querySelectorAll('#board-grid .board-card'), data = new DataTransfer();
      var from = cards[cards.length - 1], to = cards[0];
      from.dispatchEvent(new DragEvent('dragstart', {bubbles: true, dataTransfer: data}));
      to.dispatchEvent(new DragEvent('dragover', {bubbles: true, cancelable: true, dataTransfer: data}));
      to.dispatchEvent(new DragEvent('drop', {bubbles: true, cancelable: true, dataTransfer: data}));""")
    wait_until(lambda: browser.find_element("id", "board-status").text == "Order saved.", timeout=10,
               what="the dragged order saved")
    arranged = [order[-1], order[1], order[0], *order[2:-1]]
    assert [c["name"] for c in browser.execute_script(CARDS)] == arranged
    click(browser, "daily", "width")
    wait_until(lambda: cards(browser)["daily"]["full"], timeout=10, what="daily at full width")
    click(browser, "latency", "rename")
    field = browser.find_element("css selector", ".board-rename input")
    field.clear()
    field.send_keys("Latency p95")
    browser.find_element("css selector", ".board-rename button[type=submit]").click()
    wait_until(lambda: cards(browser)["latency"]["title"] == "Latency p95", timeout=10, what="the new title")
    click(browser, "daily-table", "remove")
    click(browser, "daily-table", "remove")  # the second click confirms
    wait_until(lambda: "daily-table" not in cards(browser), timeout=15, what="the widget removed")
    open_board(browser, console, dashboard.pk)
    after = browser.execute_script(CARDS)
    assert [c["name"] for c in after] == [n for n in arranged if n != "daily-table"]
    assert {c["name"]: c["full"] for c in after}["daily"] is True
    assert {c["name"]: c["title"] for c in after}["latency"] == "Latency p95"

    # The charts follow their box: a narrower window, one column, every canvas as wide as its card.
    widths = """return Array.from(document.querySelectorAll('#board-grid .ac-chart')).map(function (box) {
      return [Math.round(box.getBoundingClientRect().width),
              Math.round(box.querySelector('canvas').getBoundingClientRect().width)]; });"""
    before = browser.execute_script(widths)
    assert all(box == canvas for box, canvas in before), before
    browser.set_window_size(900, 1000)
    resized = wait_until(lambda: (lambda w: w if w != before and all(b == c for b, c in w) else None)(
        browser.execute_script(widths)), timeout=10, what="the charts resized")
    assert len({box for box, _ in resized}) == 1  # one column: every card as wide
    browser.set_window_size(1280, 1000)

    # Add a widget from a query spec: refused with the reason, then added.
    browser.find_element("css selector", "#board-add summary").click()
    browser.find_element("id", "board-add-name").send_keys("views")
    Select(browser.find_element("id", "board-add-type")).select_by_value("funnel")
    spec = {"kind": "trends", "series": [{"event": "View"}]}
    browser.find_element("id", "board-add-spec").send_keys(json.dumps(spec))
    browser.find_element("css selector", "#board-add-form button[type=submit]").click()
    error = wait_until(lambda: browser.find_element("id", "board-add-error").text, timeout=10, what="the refusal")
    assert "funnel" in error and "trends" in error
    # The refusal is the one failed request the browser logs (the log is emptied by reading it).
    assert [(p["source"], "400 (Bad Request)" in p["message"]) for p in problems(browser)] == [("network", True)]
    Select(browser.find_element("id", "board-add-type")).select_by_value("number")
    browser.find_element("css selector", "#board-add-form button[type=submit]").click()
    wait_until(lambda: "views" in cards(browser), timeout=15, what="the new widget")
    assert cards(browser)["views"]["drawn"] == "true"
    assert browser.find_element("id", "board-explore").get_attribute("href").endswith(
        f"/admin/explore/?dashboard={dashboard.pk}")

    # A share link: made (shown once), its page drawn, then revoked (404).
    browser.find_element("id", "board-share-create").click()
    url = wait_until(lambda: browser.find_element("id", "board-share-url").get_attribute("value"), timeout=10,
                     what="the new link")
    assert f"localhost:{port}/d/sh_" in url
    assert problems(browser) == []
    browser.get(url)
    drawn = browser.execute_script("return Array.from(document.querySelectorAll('.widget .chart')).map("
                                   "function (c) { return c.getAttribute('data-drawn'); })")
    assert len(drawn) == 8 and set(drawn) == {"true"}
    assert problems(browser) == []
    open_board(browser, console, dashboard.pk)
    wait_until(lambda: browser.find_elements("css selector", '#board-shares button[data-action="revoke"]'),
               timeout=10, what="the links listed")
    browser.find_element("css selector", '#board-shares button[data-action="revoke"]').click()
    # Read in one script: the list is redrawn under the reader's feet.
    wait_until(lambda: browser.execute_script(
        "var s = document.querySelector('#board-shares .board-share-state');"
        "return s && s.textContent.indexOf('revoked') === 0"), timeout=10, what="the link revoked")
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(url, timeout=10)
    assert gone.value.code == 404
    assert problems(browser) == []


def test_a_viewer_sees_the_charts_and_changes_nothing(browser, live_server, board):
    created, dashboard = board
    port = live_server.url.rsplit(":", 1)[1]
    console = f"http://browser-board.localhost:{port}"
    log_in(browser, f"{console}/admin/login/?next=/admin/", "viewer", PASSWORD)
    open_board(browser, console, dashboard.pk)
    shown = cards(browser)
    assert len(shown) == 8 and all(card["drawn"] == "true" for card in shown.values())
    assert browser.find_elements("css selector", ".board-card-tools, #board-add-form, #board-share-create") == []
    # The server refuses what the page does not offer.
    status = browser.execute_async_script("""var done = arguments[arguments.length - 1];
      var token = (document.cookie.match(/csrftoken=([^;]+)/) || [])[1] || '';
      fetch(arguments[0], {method: 'POST', credentials: 'same-origin', body: JSON.stringify({order: []}),
                           headers: {'Content-Type': 'application/json', 'X-CSRFToken': token}})
        .then(function (r) { done(r.status); });""", f"/admin/dashboards/dashboard/{dashboard.pk}/console/arrange")
    assert status == 403
    assert [p for p in problems(browser) if "/console/arrange" not in p["message"]] == []
