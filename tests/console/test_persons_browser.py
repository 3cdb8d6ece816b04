"""The console's persons pages in a real headless Chromium, as a viewer: search a person by a
distinct id, open their profile from the results, read their timeline and open an event's properties.

Skipped, with the reason, where Debian's chromium and chromium-driver are not installed.
"""

from __future__ import annotations

import pytest

from apps.governance.roles import ROLE_VIEWER
from tests.browser import BROWSER_TESTS, PASSWORD, browser, committed_tenant, log_in  # noqa: F401 - the browser fixture
from tests.events.test_realtime_browser import send
from tests.helpers import screenshot, wait_until

pytestmark = BROWSER_TESTS

HOSTILE = "<img src=x onerror=alert(1)>"




@pytest.fixture
def live_tenant(transactional_db):  # noqa: ANN001, ANN201
    """Committed (the live server reads from another connection); the schema dropped after."""
    with committed_tenant("browser-persons", "Persons Co", users={"viewer": ROLE_VIEWER}, timezone="Europe/Berlin") as created:
        yield created


def loaded(browser, part: str) -> bool:  # noqa: ANN001
    return part in browser.current_url and browser.execute_script("return document.readyState") == "complete"


def test_search_a_person_and_open_their_timeline(browser, live_server, live_tenant):
    port = live_server.url.rsplit(":", 1)[1]
    base, console = f"http://localhost:{port}", f"http://browser-persons.localhost:{port}"
    send(base, live_tenant.write_key.raw, [
        {"type": "track", "anonymousId": "visitor-7", "event": "Viewed pricing", "properties": {"plan": "pro"},
         "timestamp": "2026-01-10T09:00:00Z"},
        {"type": "identify", "userId": "ann", "anonymousId": "visitor-7", "timestamp": "2026-01-10T09:05:00Z",
         "traits": {"email": "ann@example.com", "plan": "pro", "company": {"name": "Acme", "seats": 12}}},
        {"type": "track", "userId": "ann", "event": "Bought", "timestamp": "2026-01-10T09:10:00Z",
         "properties": {"amount": 99, HOSTILE: HOSTILE}},
        {"type": "identify", "userId": "bob", "traits": {"email": "bob@example.com", "plan": "free"}},
    ])

    log_in(browser, f"{console}/admin/login/?next=/admin/", "viewer", PASSWORD)
    browser.find_element("css selector", 'a[href="/admin/persons/"]').click()
    wait_until(lambda: loaded(browser, "/admin/persons/"), timeout=15, what="the persons page")
    box = browser.find_element("id", "persons-q")
    box.send_keys("visitor")
    box.submit()
    wait_until(lambda: loaded(browser, "q=visitor"), timeout=15, what="the search results")
    links = browser.find_elements("css selector", "a.person-link")
    assert len(links) == 1
    assert "ann" in browser.find_element("css selector", "#persons-results td.ids").text
    screenshot(browser, "console-persons-search")

    links[0].click()
    wait_until(lambda: loaded(browser, "/admin/persons/") and browser.find_elements("id", "person-timeline"),
               timeout=15, what="the profile")
    rows = browser.find_elements("css selector", "tr.timeline-event")
    names = [row.find_element("css selector", ".event-name").text for row in rows]
    assert names[0] == "Bought" and names[-1] == "Viewed pricing" and len(names) == 3
    # Times in the tenant's zone: 09:10 UTC is 10:10 in Berlin in January.
    assert rows[0].find_element("css selector", "time").text == "2026-01-10 10:10:00"
    ids = browser.find_element("id", "person-ids").text
    assert "ann" in ids and "visitor-7" in ids
    details = rows[0].find_element("css selector", "details")
    assert not details.get_attribute("open")
    details.find_element("css selector", "summary").click()
    wait_until(lambda: details.get_attribute("open") is not None, timeout=5, what="the properties to open")
    assert HOSTILE in details.find_element("css selector", "pre").text  # shown as text, not an element
    assert browser.execute_script("return document.querySelectorAll('#content img').length") == 0
    assert "company" in browser.find_element("id", "person-traits").text
    screenshot(browser, "console-person")
    problems = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")
                and "/favicon.ico" not in entry["message"]]
    assert problems == [], problems
