"""The console's real-time page in a real headless Chromium: the figures appear, and update by
themselves after new events are ingested (through the HTTP ingestion API of the same server).

Skipped, with the reason, where Debian's chromium and chromium-driver are not installed.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from apps.events import admin as events_admin
from apps.governance.roles import ROLE_VIEWER
from tests.browser import BROWSER_TESTS, PASSWORD, browser, committed_tenant, log_in  # noqa: F401 - the browser fixture
from tests.helpers import screenshot, wait_until

pytestmark = BROWSER_TESTS





@pytest.fixture
def live_tenant(transactional_db):  # noqa: ANN001, ANN201
    """Committed (the live server reads from another connection); the schema dropped after."""
    with committed_tenant("browser-rt", "Live Co", users={"watcher": ROLE_VIEWER}, forget=("rt:*",)) as created:
        yield created


def send(base: str, write_key: str, batch: list[dict]) -> None:
    request = urllib.request.Request(f"{base}/v1/batch", data=json.dumps({"batch": batch}).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {write_key}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["accepted"] == len(batch)


def figures(browser) -> dict:  # noqa: ANN001
    return browser.execute_script("""
      var text = function (id) { return document.getElementById(id).textContent.trim(); };
      var rows = function (id) { return Array.from(document.querySelectorAll('#' + id + ' tr')).map(
        function (tr) { return Array.from(tr.children).map(function (td) { return td.textContent; }); }); };
      return {events: text('rt-events'), persons5: text('rt-persons-5'), persons30: text('rt-persons-30'),
              bars: Array.from(document.querySelectorAll('#rt-minutes .ac-table tbody tr td')).map(
                function (td) { return JSON.parse(td.getAttribute('data-value')); }),
              canvas: document.querySelectorAll('#rt-minutes canvas').length,
              topEvents: rows('rt-top-events'), topPages: rows('rt-top-pages'),
              status: text('realtime-status')};
    """)


def test_the_real_time_page_shows_and_updates_the_figures(browser, live_server, live_tenant, monkeypatch):
    monkeypatch.setattr(events_admin, "REALTIME_REFRESH_SECONDS", 1)
    port = live_server.url.rsplit(":", 1)[1]
    base, console = f"http://localhost:{port}", f"http://browser-rt.localhost:{port}"
    write_key = live_tenant.write_key.raw
    send(base, write_key, [{"type": "track", "userId": "ann", "event": "Signup"},
                           {"type": "track", "userId": "bob", "event": "Signup"},
                           {"type": "page", "userId": "ann", "properties": {"path": "/welcome"}}])

    log_in(browser, f"{console}/admin/login/?next=/admin/", "watcher", PASSWORD)
    browser.find_element("css selector", 'a[href="/admin/realtime/"]').click()
    wait_until(lambda: browser.execute_script("return document.readyState") == "complete"
               and "/admin/realtime/" in browser.current_url, timeout=15, what="the real-time page")
    shown = figures(browser)
    # The minute may turn between the sends and the read: the events sit in the last one or two bars.
    assert (shown["events"], shown["persons5"], shown["persons30"]) == ("3", "2", "2")
    assert len(shown["bars"]) == 30 and sum(shown["bars"]) == 3 and sum(shown["bars"][-2:]) == 3
    assert shown["topEvents"] == [["Signup", "2"], ["$pageview", "1"]]
    assert shown["topPages"] == [["/welcome", "1"]]

    send(base, write_key, [{"type": "track", "userId": f"new{n}", "event": "Upgrade"} for n in range(4)]
         + [{"type": "page", "userId": "cid", "properties": {"path": "/pricing"}}])
    updated = wait_until(lambda: (lambda f: f if f["events"] == "8" else None)(figures(browser)), timeout=20,
                         what="the page to show the new events")
    assert (updated["persons5"], updated["persons30"]) == ("7", "7")
    assert updated["topEvents"] == [["Upgrade", "4"], ["$pageview", "2"], ["Signup", "2"]]
    assert updated["topPages"] == [["/pricing", "1"], ["/welcome", "1"]]
    assert updated["status"].startswith("Updated ") and updated["canvas"] > 0  # drawn by the chart module
    screenshot(browser, "console-realtime")
    # No script error, no failed fetch (the console has no favicon: the browser's own request for one is not
    # this page's).
    problems = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")
                and "/favicon.ico" not in entry["message"]]
    assert problems == [], problems
