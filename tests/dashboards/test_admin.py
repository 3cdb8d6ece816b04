"""The tenant console's dashboards: widgets inline and checked, and a share link made on demand."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from django_tenants.utils import schema_context

from apps.dashboards.models import Dashboard
from tests.events.test_admin import log_in

TRENDS = {"kind": "trends", "series": [{"event": "Buy"}], "interval": "day"}


def form(widget_type: str, query: dict) -> dict:
    return {"name": "ops", "display_name": "Ops", "category": "", "description": "", "layout": "{}", "owner": "",
            "widgets-TOTAL_FORMS": 1, "widgets-INITIAL_FORMS": 0, "widgets-MIN_NUM_FORMS": 0,
            "widgets-MAX_NUM_FORMS": 1000, "widgets-0-position": 1, "widgets-0-name": "buys",
            "widgets-0-title": "Buys", "widgets-0-widget_type": widget_type,
            "widgets-0-query_config": json.dumps(query), "widgets-0-options": "{}"}


def test_dashboards_with_checked_inline_widgets_and_a_share_link(client, acme):
    log_in(client, acme.tenant)
    host = {"HTTP_HOST": "acme.localhost"}
    refused = client.post("/admin/dashboards/dashboard/add/", form("funnel", TRENDS), **host)
    assert refused.status_code == 200 and b"draws" in refused.content
    created = client.post("/admin/dashboards/dashboard/add/", form("line", TRENDS), **host)
    assert created.status_code == 302, created.content
    with schema_context(acme.tenant.schema_name):
        dashboard = Dashboard.objects.get(name="ops")
        assert [w.name for w in dashboard.widgets.all()] == ["buys"]
    shared = client.post("/admin/dashboards/dashboard/", {"action": "create_share_link",
                                                          "_selected_action": [dashboard.pk]}, follow=True, **host)
    url = re.search(rb'href="(http://localhost[^"]*/d/sh_[^"]+)"', shared.content).group(1).decode()
    page = client.get(urlsplit(url).path)
    assert page.status_code == 200 and b"Ops" in page.content
    change = client.get(f"/admin/dashboards/dashboard/{dashboard.pk}/change/", **host).content.decode()
    assert url.rsplit("/", 1)[1][:10] in change  # the live link, by its prefix
