"""The console's persons pages: the profile (traits, distinct ids, segments, the timeline in exact
keyset pages across merged ids) and the search, by role and across tenants."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.console import persons as console_persons
from apps.events.models import Person, PersonDistinctId
from apps.governance.roles import ROLE_ADMIN, ROLE_EDITOR, ROLE_VIEWER
from apps.segments import services as segment_services
from tests.console.helpers import ago, ingest, log_in

HOSTILE = "<img src=x onerror=alert(1)>"


def person_of(tenant: Any, distinct_id: str) -> int:
    with schema_context(tenant.schema_name):
        return PersonDistinctId.objects.get(distinct_id=distinct_id).person_id


def event_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-event-id="(\d+)"', html)]


def link(html: str, name: str) -> str | None:
    found = re.search(rf'id="timeline-{name}" href="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


@pytest.fixture
def ann(acme):  # noqa: ANN001, ANN201
    """ann: traits (one nested), an anonymous id merged into her, in the segment `pros`."""
    ingest(acme.tenant, [
        {"type": "track", "anonymousId": "anon-1", "event": "Viewed", "timestamp": ago(days=3)},
        {"type": "identify", "userId": "ann", "anonymousId": "anon-1", "timestamp": ago(days=2),
         "traits": {"email": "ann@example.com", "plan": "pro", "seats": 12, "address": {"city": "Lyon"}}},
        {"type": "track", "userId": "ann", "event": "Bought", "properties": {"amount": 30}, "timestamp": ago(days=1)},
        {"type": "identify", "userId": "bob", "traits": {"email": "bob@corp.test", "plan": "free"},
         "timestamp": ago(days=1)},
    ])
    with schema_context(acme.tenant.schema_name):
        segment_services.segment_create(name="pros", rules={"op": "and", "rules": [
            {"field": "plan", "operator": "eq", "value": "pro"}]})
    return person_of(acme.tenant, "ann")


def test_the_profile_shows_traits_ids_segments_and_events(client, acme, ann):
    host = log_in(client, acme.tenant, ROLE_VIEWER)
    page = client.get(f"/admin/persons/{ann}/", HTTP_HOST=host)
    assert page.status_code == 200
    html = page.content.decode()
    assert "ann@example.com" in html and "<th scope=\"row\">seats</th><td>12</td>" in html
    assert "&quot;city&quot;: &quot;Lyon&quot;" in html  # nested: JSON text
    ids = re.search(r'id="person-ids".*?</table>', html, re.S).group(0)
    assert "<code>ann</code>" in ids and "<code>anon-1</code>" in ids and "bob" not in ids
    assert re.search(r'id="person-segments".*?>pros</a>', html, re.S)
    names = re.findall(r'class="event-name">([^<]*)<', html)
    assert len(names) == 3 and (names[0], names[-1]) == ("Bought", "Viewed")  # newest first, anon-1's too
    assert "&quot;amount&quot;: 30" in html
    # Times in the tenant's zone (America/New_York).
    assert "times in America/New_York" in html and re.search(r'datetime="[^"]+-0[45]:00"', html)
    assert link(html, "older") is None and link(html, "newer") is None


def test_the_timeline_pages_exactly_across_merged_ids(client, acme, monkeypatch):
    """Over two pages of events on two distinct ids merged later (some at the same instant), walking
    older then newer gives every event of the person once, in the events table's order."""
    monkeypatch.setattr(console_persons, "TIMELINE_PAGE", 7)
    same = ago(hours=5)
    ingest(acme.tenant, [{"type": "track", "anonymousId": "visitor", "event": f"A{n}",
                          "timestamp": same if n % 4 == 0 else ago(hours=10 + n)} for n in range(12)]
           + [{"type": "track", "userId": "carl", "event": f"U{n}", "timestamp": same if n % 3 == 0
               else ago(hours=10 + n, minutes=30)} for n in range(9)]
           + [{"type": "track", "userId": "other", "event": "Not carl", "timestamp": same}])
    ingest(acme.tenant, [{"type": "alias", "userId": "carl", "previousId": "visitor", "timestamp": ago(hours=1)}])
    carl = person_of(acme.tenant, "carl")
    assert person_of(acme.tenant, "visitor") == carl
    with schema_context(acme.tenant.schema_name), connection.cursor() as cursor:
        # Independently of distinct ids: the events stored with the person or one merged into it.
        cursor.execute("""SELECT e.id FROM events e LEFT JOIN person_overrides o ON o.old_person_id = e.person_id
                          WHERE coalesce(o.person_id, e.person_id) = %s ORDER BY e."timestamp" DESC, e.id DESC""",
                       [carl])
        expected = [row[0] for row in cursor.fetchall()]
    assert len(expected) == 22  # 21 tracks and the alias

    host = log_in(client, acme.tenant, ROLE_VIEWER)
    pages, url = [], f"/admin/persons/{carl}/"
    while url:
        html = client.get(url, HTTP_HOST=host).content.decode()
        pages.append(event_ids(html))
        url = link(html, "older")
    assert [len(p) for p in pages] == [7, 7, 7, 1]
    assert [i for p in pages for i in p] == expected
    # Back up from the oldest page: the same pages, newest first each.
    back, url = [], link(html, "newer")
    while url:
        html = client.get(url, HTTP_HOST=host).content.decode()
        back.append(event_ids(html))
        url = link(html, "newer")
    assert back == pages[-2::-1]
    assert link(html, "older") is not None


def test_a_bad_cursor_shows_the_newest_page(client, acme, ann):
    host = log_in(client, acme.tenant, ROLE_VIEWER)
    first = event_ids(client.get(f"/admin/persons/{ann}/", HTTP_HOST=host).content.decode())
    for cursor in ("%%%", "bm90LWEtZGF0ZXwx", "x" * 300):
        assert event_ids(client.get(f"/admin/persons/{ann}/", {"before": cursor}, HTTP_HOST=host)
                         .content.decode()) == first


@pytest.mark.parametrize(("query", "found"), [
    ("ann", {"ann"}), ("an", {"ann"}), ("anon-1", {"ann"}), ("bo", {"bob"}), ("plan=pro", {"ann"}),
    ("plan = free", {"bob"}), ("email=ann@example.com", {"ann"}), ("seats=12", {"ann"}), ("example.com", {"ann"}),
    ("CORP.TEST", {"bob"}), ("", {"ann", "bob"}), ("nobody", set()), ("%", set()), ("_", set()),
    ("' OR 1=1 --", set()), ("plan=pro' OR '1'='1", set()), ("address=Lyon", set()), ("plan__contains=p", set()),
])
def test_search_by_distinct_id_or_trait(client, acme, ann, query, found):
    host = log_in(client, acme.tenant, ROLE_VIEWER)
    page = client.get("/admin/persons/", {"q": query}, HTTP_HOST=host)
    assert page.status_code == 200
    shown = {int(n) for n in re.findall(r'class="person-link" href="/admin/persons/(\d+)/"', page.content.decode())}
    assert shown == {person_of(acme.tenant, name) for name in found}


def test_search_pages_by_id(client, acme, monkeypatch):
    monkeypatch.setattr(console_persons, "SEARCH_PAGE", 2)
    ingest(acme.tenant, [{"type": "identify", "userId": f"p{n}", "traits": {"team": "x"}} for n in range(5)])
    host = log_in(client, acme.tenant, ROLE_VIEWER)
    seen, url, params = [], "/admin/persons/", {"q": "team=x"}
    while url:
        html = client.get(url, params, HTTP_HOST=host).content.decode()
        seen += [int(n) for n in re.findall(r'class="person-link" href="/admin/persons/(\d+)/"', html)]
        found = re.search(r'id="persons-next" href="([^"]+)"', html)
        url, params = (found.group(1).replace("&amp;", "&"), {}) if found else (None, {})
    with schema_context(acme.tenant.schema_name):
        assert seen == list(Person.objects.filter(traits__team="x").order_by("-id").values_list("id", flat=True))
    assert len(seen) == 5


def test_hostile_names_are_inert(client, acme):
    ingest(acme.tenant, [
        {"type": "identify", "userId": HOSTILE, "traits": {HOSTILE: HOSTILE, "n": {HOSTILE: [HOSTILE]}}},
        {"type": "track", "userId": HOSTILE, "event": HOSTILE, "properties": {HOSTILE: HOSTILE}},
    ])
    person = person_of(acme.tenant, HOSTILE)
    host = log_in(client, acme.tenant, ROLE_VIEWER)
    for path, params in ((f"/admin/persons/{person}/", {}), ("/admin/persons/", {"q": HOSTILE}),
                         ("/admin/persons/", {"q": f"{HOSTILE}={HOSTILE}"})):
        page = client.get(path, params, HTTP_HOST=host)
        html = page.content.decode()
        assert page.status_code == 200 and "<img" not in html, path
        assert "&lt;img src=x onerror=alert(1)&gt;" in html, path
    found = client.get("/admin/persons/", {"q": HOSTILE}, HTTP_HOST=host).content.decode()
    assert f'href="/admin/persons/{person}/"' in found


@pytest.mark.parametrize("role", [ROLE_VIEWER, ROLE_EDITOR, ROLE_ADMIN, None])
def test_who_reads_the_persons_pages(client, acme, ann, role):
    host = log_in(client, acme.tenant, role)
    expected = 403 if role is None else 200
    assert client.get("/admin/persons/", HTTP_HOST=host).status_code == expected
    profile = client.get(f"/admin/persons/{ann}/", HTTP_HOST=host)
    assert profile.status_code == expected
    index = client.get("/admin/", HTTP_HOST=host).content.decode()
    assert ('href="/admin/persons/"' in index) == (role is not None)
    if role is not None:
        # The privacy jobs (governance) are admins' only: the profile links to their form for admins.
        assert ('id="person-privacy" href="/admin/governance/privacyjob/request/?distinct_id=' in
                profile.content.decode()) == (role == ROLE_ADMIN)


def test_a_logged_out_visitor_is_sent_to_the_login(client, acme, ann):
    page = client.get(f"/admin/persons/{ann}/", HTTP_HOST=f"{acme.slug}.localhost")
    assert page.status_code == 302 and "/admin/login/" in page["Location"]


def test_another_tenants_person_is_not_found(client, acme, globex, ann):
    ingest(globex.tenant, [{"type": "identify", "userId": f"g{n}", "traits": {"secret": f"globex-{n}"}}
                           for n in range(8)])
    with schema_context(globex.tenant.schema_name):
        theirs = list(Person.objects.values_list("id", flat=True))
    with schema_context(acme.tenant.schema_name):
        ours = set(Person.objects.values_list("id", flat=True))
    only_theirs = [pid for pid in theirs if pid not in ours]
    assert only_theirs
    host = log_in(client, acme.tenant, ROLE_ADMIN)
    for pid in only_theirs:
        assert client.get(f"/admin/persons/{pid}/", HTTP_HOST=host).status_code == 404
    for pid in ours:  # an id both schemas hold shows this tenant's person
        assert "globex-" not in client.get(f"/admin/persons/{pid}/", HTTP_HOST=host).content.decode()
    assert "globex-" not in client.get("/admin/persons/", {"q": "globex"}, HTTP_HOST=host).content.decode()
    assert "globex-" not in client.get("/admin/persons/", {"q": "g1"}, HTTP_HOST=host).content.decode()


def test_the_person_admin_links_to_the_profile(client, acme, ann):
    host = log_in(client, acme.tenant, ROLE_VIEWER)
    listing = client.get("/admin/events/person/", HTTP_HOST=host).content.decode()
    assert f'href="/admin/persons/{ann}/"' in listing
    change = client.get(f"/admin/events/person/{ann}/change/", HTTP_HOST=host).content.decode()
    assert f'href="/admin/persons/{ann}/"' in change
