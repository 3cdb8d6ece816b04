"""The console's event and property definitions in a real headless Chromium: events sent through
the HTTP ingestion API of a live server, folded by the beat task, listed with their volumes and
types; an editor describes one; hostile names stay text. Screenshots: docs/screenshots/definitions-*.png.

Skipped, with the reason, where Debian's chromium and chromium-driver are not installed.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.events.models import EventDefinition
from apps.events.tasks import definitions_flush_all
from apps.governance.roles import ROLE_EDITOR
from tests.browser import BROWSER_TESTS, PASSWORD, browser, committed_tenant, log_in  # noqa: F401 - the browser fixture
from tests.events.test_realtime_browser import send
from tests.helpers import screenshot, wait_until

pytestmark = BROWSER_TESTS

HOSTILE = "<img src=x onerror=alert(1)>"


WINDOW = "1280,900"  # the browser window


@pytest.fixture
def live_tenant(transactional_db):  # noqa: ANN001, ANN201
    """Committed (the live server reads from another connection); the schema dropped after."""
    with committed_tenant("browser-defs", "Defined Co", users={"writer": ROLE_EDITOR}, forget=("defs:*",)) as created:
        yield created


def cells(browser, selector: str, *columns: str) -> list[list[str]]:  # noqa: ANN001
    """The text of each row's cells (only the admin's `field-<name>` columns named, when given)."""
    return browser.execute_script("""
      var columns = arguments[1];
      return Array.from(document.querySelectorAll(arguments[0])).map(function (tr) {
        var found = columns.length ? columns.map(function (name) { return tr.querySelector('.field-' + name); })
                                   : Array.from(tr.querySelectorAll('th, td'));
        return found.map(function (c) { return c.textContent.trim(); }); });
    """, selector, list(columns))


def no_errors(browser) -> None:  # noqa: ANN001
    problems = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"
                and "/favicon.ico" not in entry["message"]]
    assert problems == [], problems


def test_an_editor_reads_and_describes_the_definitions(browser, live_server, live_tenant):
    from selenium.webdriver.common.by import By

    port = live_server.url.rsplit(":", 1)[1]
    base, console = f"http://localhost:{port}", f"http://browser-defs.localhost:{port}"
    send(base, live_tenant.write_key.raw, [
        {"type": "track", "userId": "ann", "event": "Purchased", "properties": {"amount": 12.5, "currency": "EUR"}},
        {"type": "track", "userId": "bob", "event": "Purchased", "properties": {"amount": "9", "currency": "EUR"}},
        {"type": "page", "userId": "ann", "properties": {"path": "/pricing"}},
        {"type": "identify", "userId": "ann", "traits": {"plan": "pro", "signed_up": "2026-11-30T10:00:00Z"}},
        {"type": "track", "userId": "eve", "event": HOSTILE, "properties": {HOSTILE: 1}},
    ])
    definitions_flush_all()
    connection.set_schema_to_public()

    log_in(browser, f"{console}/admin/login/?next=/admin/events/eventdefinition/", "writer", PASSWORD)
    wait_until(lambda: "/admin/events/eventdefinition/" in browser.current_url, timeout=15, what="the list")
    rows = cells(browser, "#result_list tbody tr", "name", "volume")
    assert rows == [["Purchased", "2"], ["$identify", "1"], ["$pageview", "1"],
                                          [HOSTILE, "1"]]
    assert not browser.execute_script("return document.querySelector('#result_list img')")  # text, not an image
    no_errors(browser)
    screenshot(browser, "definitions-events")

    browser.find_element(By.LINK_TEXT, "Purchased").click()
    wait_until(lambda: "/change/" in browser.current_url, timeout=15, what="the event's page")
    assert [row[:2] for row in cells(browser, "table.definition-keys tbody tr")] == [["amount", "2"],
                                                                                   ["currency", "2"]]
    box = browser.find_element(By.NAME, "description")
    box.send_keys("A purchase, any plan <b>paid</b>")
    browser.execute_script("window.__before = true")
    browser.find_element(By.NAME, "_continue").click()
    wait_until(lambda: browser.execute_script("return window.__before !== true && document.readyState === 'complete'"),
               timeout=15, what="the saved page")
    assert "was changed successfully" in browser.find_element(By.CSS_SELECTOR, "ul.messagelist").text
    no_errors(browser)
    screenshot(browser, "definitions-event")
    with schema_context(live_tenant.tenant.schema_name):
        assert EventDefinition.objects.get(name="Purchased").description == "A purchase, any plan <b>paid</b>"
    connection.set_schema_to_public()

    browser.get(f"{console}/admin/events/propertydefinition/")
    wait_until(lambda: browser.execute_script("return document.readyState") == "complete", timeout=15,
               what="the properties")
    shown = {(row[0], row[1]): row[2] for row in cells(browser, "#result_list tbody tr", "key", "kind",
                                                       "types_observed")}
    assert shown == {("amount", "Event"): "number, string", ("currency", "Event"): "string",
                     ("path", "Event"): "string", (HOSTILE, "Event"): "number",
                     ("plan", "Person"): "string", ("signed_up", "Person"): "datetime"}
    no_errors(browser)
    screenshot(browser, "definitions-properties")
