"""The console's home in a real headless Chromium, as a viewer: the figures are GET /api/v1/summary's,
the live events-per-minute chart is drawn, and drawn again with new events after they arrive.

Skipped, with the reason, where Debian's chromium and chromium-driver are not installed.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from apps.console import home
from apps.governance.roles import ROLE_VIEWER
from tests.browser import BROWSER_TESTS, PASSWORD, browser, committed_tenant, log_in  # noqa: F401 - the browser fixture
from tests.events.test_realtime_browser import send
from tests.helpers import screenshot, wait_until

pytestmark = BROWSER_TESTS





@pytest.fixture
def live_tenant(transactional_db):  # noqa: ANN001, ANN201
    """Committed (the live server reads from another connection); the schema dropped after."""
    with committed_tenant("browser-home", "Home Co", users={"viewer": ROLE_VIEWER}, forget=("rt:*",)) as created:
        yield created


def summary(base: str, secret_key: str, query: str = "") -> dict:
    request = urllib.request.Request(f"{base}/api/v1/summary{query}", headers={"Authorization": f"Bearer {secret_key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def shown(browser) -> dict:  # noqa: ANN001
    return browser.execute_script("""
      var figures = {};
      document.querySelectorAll('[data-figure]').forEach(function (tile) {
        figures[tile.getAttribute('data-figure')] = parseInt(tile.querySelector('.home-value').textContent, 10);
      });
      var chart = document.getElementById('home-live-chart');
      return {figures: figures, draws: parseInt(chart.getAttribute('data-draws') || '0', 10),
              values: (chart.getAttribute('data-values') || '').split(',').filter(String).map(Number),
              drawn: chart.querySelectorAll('svg, canvas').length,
              live5: document.getElementById('home-live-5').textContent.trim(),
              liveEvents: document.getElementById('home-live-events').textContent.trim(),
              status: document.getElementById('home-live-status').textContent.trim()};
    """)


def test_the_home_shows_the_summary_and_a_live_chart_that_follows_new_events(browser, live_server, live_tenant,
                                                                             monkeypatch):
    monkeypatch.setattr(home, "REFRESH_SECONDS", 1)
    port = live_server.url.rsplit(":", 1)[1]
    base, console = f"http://localhost:{port}", f"http://browser-home.localhost:{port}"
    send(base, live_tenant.write_key.raw, [
        {"type": "track", "userId": "ann", "event": "Signup"}, {"type": "track", "userId": "bob", "event": "Signup"},
        {"type": "page", "userId": "ann", "properties": {"path": "/welcome", "url": "https://home.test/welcome"}}])

    log_in(browser, f"{console}/admin/login/?next=/admin/", "viewer", PASSWORD)
    wait_until(lambda: shown(browser)["draws"] >= 1, timeout=15, what="the live chart")
    first = shown(browser)
    expected = summary(base, live_tenant.secret_key.raw)
    assert first["figures"] == {key: expected[key]["value"] for key in ("events", "persons", "sessions",
                                                                        "new_persons")}
    assert first["figures"]["events"] == 3 and first["figures"]["persons"] == 2
    assert first["drawn"] >= 1 and len(first["values"]) == 30 and sum(first["values"]) == 3
    assert (first["live5"], first["liveEvents"]) == ("2", "3")
    screenshot(browser, "console-home")

    send(base, live_tenant.write_key.raw, [{"type": "track", "userId": f"new{n}", "event": "Upgrade"}
                                           for n in range(5)])
    later = wait_until(lambda: (lambda s: s if sum(s["values"]) == 8 else None)(shown(browser)), timeout=20,
                       what="the live chart to show the new events")
    assert later["draws"] > first["draws"] and later["drawn"] >= 1
    assert (later["live5"], later["liveEvents"]) == ("7", "8") and later["status"].startswith("Updated ")
    # The Explore link is there, prominent, and the range links reload the figures.
    assert browser.find_element("id", "home-explore").text == "Explore"
    browser.find_element("link text", "30 days").click()
    wait_until(lambda: "range=30d" in browser.current_url and browser.execute_script(
        "return document.readyState") == "complete", timeout=15, what="the 30-day range")
    month = summary(base, live_tenant.secret_key.raw, "?date_from=-30d")
    assert shown(browser)["figures"]["events"] == month["events"]["value"] == 8
    problems = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")
                and "/favicon.ico" not in entry["message"]]
    assert problems == [], problems
