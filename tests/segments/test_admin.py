"""The tenant console's segments: rules edited as checked JSON, "Refresh now", the size history."""

from __future__ import annotations

import json

from django_tenants.utils import schema_context

from apps.segments import services
from apps.segments.models import Segment
from tests.events.test_admin import log_in
from tests.segments.test_segments_api import ago, ingest


def test_segments_are_created_checked_refreshed_and_show_their_history(client, acme):
    ingest(acme.tenant, [{"type": "track", "userId": f"u{i}", "event": "Buy", "timestamp": ago(hours=1)}
                         for i in range(3)])
    log_in(client, acme.tenant)
    host = {"HTTP_HOST": "acme.localhost"}
    rules = {"op": "and", "rules": [{"event": "Buy", "operator": "gte", "value": 1}]}
    bad = client.post("/admin/segments/segment/add/", {"name": "buyers", "rules": json.dumps(
        {"op": "and", "rules": [{"event": "Buy", "operator": "most"}]}), "sizes-TOTAL_FORMS": 0,
        "sizes-INITIAL_FORMS": 0}, **host)
    assert bad.status_code == 200 and b"rules[0].operator" in bad.content
    created = client.post("/admin/segments/segment/add/", {"name": "buyers", "rules": json.dumps(rules),
                                                           "sizes-TOTAL_FORMS": 0, "sizes-INITIAL_FORMS": 0}, **host)
    assert created.status_code == 302, created.content
    with schema_context(acme.tenant.schema_name):
        segment = Segment.objects.get(name="buyers")
        assert segment.size == 3 and segment.rules["id"] == "root"
    refreshed = client.post("/admin/segments/segment/", {"action": "refresh_now", "_selected_action": [segment.pk]},
                            follow=True, **host)
    assert b"buyers: 3 members." in refreshed.content.lower()
    page = client.get(f"/admin/segments/segment/{segment.pk}/change/", **host).content.decode()
    with schema_context(acme.tenant.schema_name):
        assert segment.sizes.count() == 2
    assert page.count(">3<") >= 2  # the size history rows


def test_a_segment_saved_in_the_console_keeps_its_node_ids(acme):
    with schema_context(acme.tenant.schema_name):
        segment = services.segment_create(name="s", rules={"op": "and", "rules": [
            {"field": "plan", "operator": "is_set"}]})
        assert segment.rules["rules"][0]["id"] == "r1" and segment.next_rule_id == 2
