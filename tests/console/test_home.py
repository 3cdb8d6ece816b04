"""The console's home (the tenant console's index): the summary figures as GET /api/v1/summary
answers them, the range choice, the live view (and its absence said in place), the dashboards and the
Explore link, by role."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis as redis_lib
from django_tenants.utils import schema_context

from apps.console import home
from apps.core.redis import get_redis
from apps.dashboards import services as dashboard_services
from apps.events import realtime
from apps.governance.roles import ROLE_ADMIN, ROLE_EDITOR, ROLE_VIEWER
from tests.console.helpers import ago, ingest, log_in
from tests.helpers import bearer

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(autouse=True)
def _no_live_counters():  # noqa: PT004
    for key in get_redis().scan_iter("rt:*"):
        get_redis().delete(key)


@pytest.fixture
def shop(acme):  # noqa: ANN001, ANN201
    """Events this week, the week before and three weeks ago; a page view; a hostile event name."""
    ingest(acme.tenant, [
        {"type": "track", "userId": "ann", "event": "Buy", "timestamp": ago(days=1)},
        {"type": "track", "userId": "ann", "event": "Buy", "timestamp": ago(days=2)},
        {"type": "track", "userId": "bob", "event": "Buy", "timestamp": ago(days=9)},
        {"type": "track", "userId": "cid", "event": HOSTILE, "timestamp": ago(days=3)},
        {"type": "page", "userId": "cid", "properties": {"url": "https://shop.test/pricing"}, "timestamp": ago(days=3)},
        {"type": "track", "userId": "dee", "event": "Buy", "timestamp": ago(days=20)},
    ])
    return acme


def shown_figures(html: str) -> dict[str, int]:
    return {key: int(value) for key, value in
            re.findall(r'data-figure="(\w+)">\s*<h3>[^<]*</h3>\s*<p class="home-value" data-value="(\d+)"', html)}


def api_figures(api_client: Any, tenant: Any, **query: str) -> dict[str, Any]:
    answer = api_client.get("/api/v1/summary", query, **bearer(tenant.secret_key))
    assert answer.status_code == 200, answer.content
    return answer.json()


@pytest.mark.parametrize(("choice", "date_from"), [("7d", "-7d"), ("30d", "-30d"), ("90d", "-90d")])
def test_the_figures_are_the_summary_endpoints(client, api_client, shop, choice, date_from):
    host = log_in(client, shop.tenant, ROLE_VIEWER)
    page = client.get("/admin/", {"range": choice}, HTTP_HOST=host)
    assert page.status_code == 200
    html = page.content.decode()
    body = api_figures(api_client, shop, date_from=date_from)
    assert shown_figures(html) == {key: body[key]["value"] for key in ("events", "persons", "sessions", "new_persons")}
    assert shown_figures(html)["events"] > 0
    tops = re.search(r'id="home-top-events".*?</table>', html, re.S).group(0)
    assert [int(n) for n in re.findall(r"<td>(\d+)</td>", tops)] == [row["value"] for row in body["top_events"]]
    assert "https://shop.test/pricing" in re.search(r'id="home-top-pages".*?</table>', html, re.S).group(0)
    # Django's index is still there, below.
    assert 'href="/admin/segments/segment/"' in html and 'id="site-pages"' in html


def test_the_default_range_is_seven_days_with_its_change(client, api_client, shop):
    host = log_in(client, shop.tenant, ROLE_VIEWER)
    html = client.get("/admin/", HTTP_HOST=host).content.decode()
    body = api_figures(api_client, shop)
    assert shown_figures(html)["events"] == body["events"]["value"] == 4
    assert body["events"]["previous"] == 1  # bob's Buy nine days ago
    assert '<strong class="home-range current" aria-current="true">7 days</strong>' in html
    # +300%: three more than the one event before.
    assert re.search(r'data-figure="events">.*?<p class="home-change up"[^>]*>\+300%', html, re.S)


def test_an_unknown_range_is_the_default(client, shop):
    host = log_in(client, shop.tenant, ROLE_VIEWER)
    assert shown_figures(client.get("/admin/", {"range": "-1y' or 1=1"}, HTTP_HOST=host).content.decode()) == \
        shown_figures(client.get("/admin/", HTTP_HOST=host).content.decode())


def test_today_starts_at_local_midnight():
    zone = ZoneInfo("America/New_York")
    late = datetime(2026, 3, 4, 3, 30, tzinfo=ZoneInfo("UTC"))  # still the 3rd in New York
    assert home.range_spec("today", zone=zone, now=late) == {"date_from": "2026-03-03"}
    assert home.range_spec("30d", zone=zone, now=late) == {"date_from": "-30d"}


def test_today_is_offered_and_answers(client, api_client, shop):
    host = log_in(client, shop.tenant, ROLE_VIEWER)
    html = client.get("/admin/", {"range": "today"}, HTTP_HOST=host).content.decode()
    today = home.range_spec("today", zone=ZoneInfo(shop.tenant.timezone))["date_from"]
    assert shown_figures(html)["events"] == api_figures(api_client, shop, date_from=today)["events"]["value"]


@pytest.mark.parametrize(("change", "text"), [(None, "–"), (0.0, "0%"), (4.0, "+400%"), (-0.125, "-12.5%"),
                                              (0.3333, "+33.3%"), (-1.0, "-100%")])
def test_change_texts(change, text):
    assert home.change_text(change) == text


def test_the_live_view_shows_the_realtime_figures(client, acme):
    realtime.realtime_record(schema=acme.tenant.schema_name, received_at=realtime.datetime.now(realtime.timezone.utc),
                             events=[realtime.RealtimeEvent(timestamp=realtime.datetime.now(realtime.timezone.utc),
                                                            event="Buy", event_type="track", distinct_id=name)
                                     for name in ("ann", "bob", "ann")])
    host = log_in(client, acme.tenant, ROLE_VIEWER)
    html = client.get("/admin/", HTTP_HOST=host).content.decode()
    assert re.search(r'id="home-live-5">2<', html) and re.search(r'id="home-live-events">3<', html)
    assert 'data-source="/admin/realtime/data"' in html and 'data-disabled' not in html
    view = re.search(r'<script id="home-live-view" type="application/json">(.*?)</script>', html, re.S).group(1)
    assert '"type": "bar"' in view and view.count(",") >= 29


def test_the_live_view_switched_off_is_said_in_place(client, acme, settings):
    settings.ENABLE_REAL_TIME = False
    host = log_in(client, acme.tenant, ROLE_VIEWER)
    page = client.get("/admin/", HTTP_HOST=host)
    html = page.content.decode()
    assert page.status_code == 200 and "ENABLE_REAL_TIME=false" in html
    assert 'data-disabled="true"' in html and 'id="home-live-chart" hidden' in html


def test_redis_down_is_said_in_place(client, acme, monkeypatch):
    host = log_in(client, acme.tenant, ROLE_VIEWER)
    unreachable = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    monkeypatch.setattr(realtime, "get_redis", lambda: unreachable)
    page = client.get("/admin/", HTTP_HOST=host)
    html = page.content.decode()
    assert page.status_code == 200 and "Real-time figures are unavailable just now" in html
    assert 'data-disabled' not in html  # it will ask again


def test_a_summary_the_engine_cannot_answer_is_said_in_place(client, acme, monkeypatch):
    from apps.core.exceptions import Unavailable

    def busy(**kwargs: Any) -> dict:
        raise Unavailable("Too many queries are running for this tenant; try again shortly.")

    monkeypatch.setattr(home, "query_run", busy)
    host = log_in(client, acme.tenant, ROLE_VIEWER)
    page = client.get("/admin/", HTTP_HOST=host)
    assert page.status_code == 200
    assert 'id="home-summary-error">Too many queries' in page.content.decode()


def test_the_dashboards_and_the_explore_link(client, acme):
    with schema_context(acme.tenant.schema_name):
        ops = dashboard_services.dashboard_create(name="ops", display_name=HOSTILE)
        dashboard_services.dashboard_create(name="empty")
        dashboard_services.widget_create(dashboard=ops, tenant=acme.tenant, name="buys", widget_type="line",
                                         query_config={"kind": "trends", "series": [{"event": "Buy"}]})
    host = log_in(client, acme.tenant, ROLE_VIEWER)
    html = client.get("/admin/", HTTP_HOST=host).content.decode()
    dashboards = re.search(r'id="home-dashboards".*?</table>', html, re.S).group(0)
    rows = re.findall(r'<a href="/admin/dashboards/dashboard/(\d+)/change/">([^<]*)</a></th><td>(\d+)</td>', dashboards)
    assert sorted((int(pk), count) for pk, _, count in rows) == sorted([(ops.pk, "1"), (ops.pk + 1, "0")])
    assert "&lt;img src=x onerror=alert(1)&gt;" in dashboards
    assert re.search(r'<a class="button home-explore" id="home-explore" href="/admin/explore/">Explore</a>', html)


def test_hostile_names_are_inert(client, shop):
    host = log_in(client, shop.tenant, ROLE_VIEWER)
    html = client.get("/admin/", HTTP_HOST=host).content.decode()
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


@pytest.mark.parametrize("role", [ROLE_VIEWER, ROLE_EDITOR, ROLE_ADMIN])
def test_every_role_sees_the_home(client, shop, role):
    host = log_in(client, shop.tenant, role)
    html = client.get("/admin/", HTTP_HOST=host).content.decode()
    assert 'id="console-home"' in html and shown_figures(html)["events"] == 4


def test_a_user_without_permissions_sees_no_figures(client, shop):
    host = log_in(client, shop.tenant, None)
    page = client.get("/admin/", HTTP_HOST=host)
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="console-home"' not in html and "home-value" not in html and "Buy" not in html
    assert client.get("/admin/realtime/data", HTTP_HOST=host).status_code == 403
