"""Reading and describing definitions: the REST API (secret key) and the console's pages and JSON
for the explorer's pickers; roles, hostile names and tenant isolation."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from apps.core.redis import get_redis
from apps.events.models import EventDefinition, PropertyDefinition
from apps.events.tasks import definitions_flush_all
from apps.governance.models import AuditEntry
from apps.governance.roles import ROLE_EDITOR, ROLE_VIEWER
from apps.tenancy.services import api_key_create
from tests.events.conftest import Sender
from tests.events.test_realtime import console_log_in
from tests.helpers import assert_error, bearer

HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(autouse=True)
def _no_pending():
    redis = get_redis()
    for key in redis.scan_iter("defs:*"):
        redis.delete(key)
    yield


@pytest.fixture
def seen(client, acme, globex):  # noqa: ANN001, ANN201
    """acme sent Buy x3 (amount, plan), View x1 (path), identify (plan, seats); globex sent its own."""
    send = Sender(client, acme.write_key)
    assert send.post("/v1/batch", {"batch": [
        {"type": "track", "userId": "ann", "event": "Buy", "properties": {"amount": 10, "plan": "pro"}},
        {"type": "track", "userId": "bob", "event": "Buy", "properties": {"amount": 10, "plan": "free"}},
        {"type": "track", "userId": "cid", "event": "Buy", "properties": {"amount": 25, "plan": "pro"}},
        {"type": "track", "userId": "ann", "event": "View", "properties": {"path": "/", "plan": "pro"}},
        {"type": "identify", "userId": "ann", "traits": {"plan": "pro", "seats": 3}},
        {"type": "identify", "userId": "bob", "traits": {"plan": "free"}},
        {"type": "track", "userId": "ann", "event": HOSTILE, "properties": {HOSTILE: HOSTILE}},
    ]}).status_code == 200
    assert Sender(client, globex.write_key).post(
        "/v1/track", {"userId": "g", "event": "GlobexOnly", "properties": {"globex_key": "secret-value"}}
    ).status_code == 200
    definitions_flush_all()
    with schema_context(acme.tenant.schema_name):
        return {"buy": EventDefinition.objects.get(name="Buy").pk,
                "amount": PropertyDefinition.objects.get(kind="event", key="amount").pk,
                "person_plan": PropertyDefinition.objects.get(kind="person", key="plan").pk}


def get(client, path: str, key: str, **params):  # noqa: ANN001, ANN003, ANN201
    return client.get(path, params, **bearer(key))


# --- the REST API ------------------------------------------------------------------------------------

def test_events_are_listed_by_volume_searched_ordered_and_paged(client, acme, seen):
    body = get(client, "/api/v1/definitions/events", acme.secret_key).json()
    assert [row["name"] for row in body["results"]][:1] == ["Buy"]
    assert {row["name"] for row in body["results"]} == {"Buy", "View", "$identify", HOSTILE}
    assert body["next"] is None
    buy = body["results"][0]
    assert (buy["volume"], buy["description"], buy["id"]) == (3, "", seen["buy"])
    assert buy["first_seen"] and buy["last_seen"]
    by_name = get(client, "/api/v1/definitions/events", acme.secret_key, ordering="name").json()["results"]
    assert [row["name"] for row in by_name] == sorted(row["name"] for row in by_name)
    assert [row["name"] for row in get(client, "/api/v1/definitions/events", acme.secret_key,
                                       search="bu").json()["results"]] == ["Buy"]
    first = get(client, "/api/v1/definitions/events", acme.secret_key, limit=2).json()
    assert len(first["results"]) == 2 and first["next"]
    rest = client.get(first["next"], **bearer(acme.secret_key)).json()
    assert len(rest["results"]) == 2 and rest["next"] is None
    assert {r["name"] for r in first["results"] + rest["results"]} == {"Buy", "View", "$identify", HOSTILE}
    assert_error(get(client, "/api/v1/definitions/events", acme.secret_key, ordering="volume;drop"), 400, "invalid")


def test_properties_by_kind_and_by_event_with_their_types(client, acme, seen):
    event_keys = get(client, "/api/v1/definitions/properties", acme.secret_key, kind="event").json()["results"]
    assert {(row["key"], tuple(row["types"]), row["volume"]) for row in event_keys} == {
        ("amount", ("number",), 3), ("plan", ("string",), 4), ("path", ("string",), 1), (HOSTILE, ("string",), 1)}
    on_view = get(client, "/api/v1/definitions/properties", acme.secret_key, kind="event", event="View").json()
    assert {row["key"] for row in on_view["results"]} == {"path", "plan"}
    persons = get(client, "/api/v1/definitions/properties", acme.secret_key, kind="person").json()["results"]
    assert {(row["key"], row["volume"]) for row in persons} == {("plan", 2), ("seats", 1)}
    assert_error(get(client, "/api/v1/definitions/properties", acme.secret_key, kind="group"), 400, "invalid")


def test_values_are_the_most_common_first(client, acme, seen):
    values = get(client, f"/api/v1/definitions/properties/{seen['amount']}/values", acme.secret_key).json()
    assert values == {"results": [{"value": "10", "count": 2}, {"value": "25", "count": 1}]}
    plans = get(client, f"/api/v1/definitions/properties/{seen['person_plan']}/values", acme.secret_key).json()
    assert plans == {"results": [{"value": "free", "count": 1}, {"value": "pro", "count": 1}]}
    searched = get(client, f"/api/v1/definitions/properties/{seen['amount']}/values", acme.secret_key,
                   search="2").json()
    assert searched == {"results": [{"value": "25", "count": 1}]}


def test_only_the_description_is_written_and_audited(client, acme, seen):
    path = f"/api/v1/definitions/events/{seen['buy']}"
    assert_error(client.patch(path, {"volume": 0, "description": "x"}, content_type="application/json",
                              **bearer(acme.secret_key)), 400, "invalid")
    changed = client.patch(path, {"description": "Paid, any plan"}, content_type="application/json",
                           **bearer(acme.secret_key))
    assert changed.status_code == 200, changed.content
    assert changed.json()["description"] == "Paid, any plan" and changed.json()["volume"] == 3
    assert changed.json()["updated_at"]
    assert get(client, path, acme.secret_key).json()["description"] == "Paid, any plan"
    with schema_context(acme.tenant.schema_name):
        entry = AuditEntry.objects.filter(object_type="event_definition").latest("id")
        assert (entry.action, entry.object_id, entry.changes) == ("update", str(seen["buy"]),
                                                                  {"description": ["", "Paid, any plan"]})
    # A fold after the description keeps it.
    Sender(client, acme.write_key).post("/v1/track", {"userId": "ann", "event": "Buy"})
    definitions_flush_all()
    assert get(client, path, acme.secret_key).json()["volume"] == 4
    assert get(client, path, acme.secret_key).json()["description"] == "Paid, any plan"


def test_keys_and_scopes(client, acme, seen):
    path = f"/api/v1/definitions/properties/{seen['amount']}"
    reader = api_key_create(tenant=acme.tenant, kind="secret", scopes=["read"]).raw
    assert get(client, path, reader).status_code == 200
    assert_error(client.patch(path, {"description": "x"}, content_type="application/json", **bearer(reader)),
                 403, "insufficient_scope")
    for route in ("definitions/events", "definitions/properties", f"definitions/properties/{seen['amount']}/values"):
        assert_error(get(client, f"/api/v1/{route}", acme.write_key), 403, "forbidden")


def test_another_tenant_sees_none_of_them(client, acme, globex, seen):
    names = [row["name"] for row in get(client, "/api/v1/definitions/events", globex.secret_key).json()["results"]]
    assert names == ["GlobexOnly"]
    keys = [row["key"] for row in get(client, "/api/v1/definitions/properties", globex.secret_key).json()["results"]]
    assert keys == ["globex_key"]
    # acme's ids, asked with globex's key: globex's own objects of that id at most, never acme's.
    for path in (f"definitions/events/{seen['buy']}", f"definitions/properties/{seen['amount']}",
                 f"definitions/properties/{seen['amount']}/values"):
        response = get(client, f"/api/v1/{path}", globex.secret_key)
        assert response.status_code in (200, 404), response.content
        assert b"Buy" not in response.content and b"amount" not in response.content


def test_the_list_costs_a_fixed_number_of_queries(client, acme, seen):
    with CaptureQueriesContext(connection) as few:
        get(client, "/api/v1/definitions/properties", acme.secret_key)
    Sender(client, acme.write_key).post("/v1/track", {"userId": "x", "event": "More",
                                                      "properties": {f"k{n}": n for n in range(30)}})
    definitions_flush_all()
    with CaptureQueriesContext(connection) as many:
        body = get(client, "/api/v1/definitions/properties", acme.secret_key).json()
    assert len(body["results"]) > 30
    assert len(many) == len(few)


# --- the console -------------------------------------------------------------------------------------

def test_the_pickers_json_for_a_viewer(client, acme, seen):
    host = console_log_in(client, acme, ROLE_VIEWER)
    events = client.get("/admin/definitions/events.json", HTTP_HOST=host).json()["results"]
    assert events[0] == {"name": "Buy", "volume": 3, "first_seen": events[0]["first_seen"],
                         "last_seen": events[0]["last_seen"], "description": ""}
    assert events[0]["first_seen"].endswith("Z")
    assert [e["name"] for e in client.get("/admin/definitions/events.json", {"search": "vi", "limit": "5"},
                                          HTTP_HOST=host).json()["results"]] == ["View"]
    keys = client.get("/admin/definitions/properties.json", {"kind": "event", "event": "Buy"},
                      HTTP_HOST=host).json()["results"]
    assert keys == [{"key": "plan", "kind": "event", "types": ["string"], "volume": 4, "description": ""},
                    {"key": "amount", "kind": "event", "types": ["number"], "volume": 3, "description": ""}]
    traits = client.get("/admin/definitions/properties.json", {"kind": "person"}, HTTP_HOST=host).json()["results"]
    assert [t["key"] for t in traits] == ["plan", "seats"]
    values = client.get("/admin/definitions/values.json", {"kind": "event", "key": "plan", "event": "Buy"},
                        HTTP_HOST=host).json()
    assert values == {"results": [{"value": "pro", "count": 2}, {"value": "free", "count": 1}]}
    everywhere = client.get("/admin/definitions/values.json", {"key": "plan"}, HTTP_HOST=host).json()
    assert everywhere == {"results": [{"value": "pro", "count": 3}, {"value": "free", "count": 1}]}
    persons = client.get("/admin/definitions/values.json", {"kind": "person", "key": "plan", "limit": "1"},
                         HTTP_HOST=host).json()
    assert persons == {"results": [{"value": "free", "count": 1}]}


@pytest.mark.parametrize("path, params, code", [
    ("events", {"limit": "ten"}, "invalid"),
    ("events", {"limit": "0"}, "invalid"),
    ("properties", {"kind": "group"}, "invalid"),
    ("properties", {"limit": "-1"}, "invalid"),
    ("values", {"kind": "event"}, "invalid"),  # no key
    ("values", {"key": "plan", "kind": "robot"}, "invalid"),
    ("values", {"key": "plan", "limit": "1e3"}, "invalid"),
])
def test_the_pickers_refuse_bad_input_with_the_error_body(client, acme, seen, path, params, code):
    host = console_log_in(client, acme, ROLE_VIEWER)
    assert_error(client.get(f"/admin/definitions/{path}.json", params, HTTP_HOST=host), 400, code)


def test_the_pickers_need_a_login_and_show_only_the_tenants_own(client, acme, globex, seen):
    assert client.get("/admin/definitions/events.json", HTTP_HOST="acme.localhost").status_code == 302
    host = console_log_in(client, globex, ROLE_VIEWER)
    events = client.get("/admin/definitions/events.json", HTTP_HOST=host).json()["results"]
    assert [e["name"] for e in events] == ["GlobexOnly"]
    keys = client.get("/admin/definitions/properties.json", HTTP_HOST=host).json()["results"]
    assert [k["key"] for k in keys] == ["globex_key"]
    assert client.get("/admin/definitions/values.json", {"key": "plan"}, HTTP_HOST=host).json() == {"results": []}
    host = console_log_in(client, acme, ROLE_VIEWER)
    acme_values = client.get("/admin/definitions/values.json", {"key": "globex_key"}, HTTP_HOST=host)
    assert acme_values.json() == {"results": []}


def test_hostile_names_are_inert_in_the_console(client, acme, seen):
    host = console_log_in(client, acme, ROLE_VIEWER)
    with schema_context(acme.tenant.schema_name):
        hostile = EventDefinition.objects.get(name=HOSTILE)
        hostile_key = PropertyDefinition.objects.get(key=HOSTILE)
    pages = [client.get("/admin/events/eventdefinition/", HTTP_HOST=host),
             client.get(f"/admin/events/eventdefinition/{hostile.pk}/change/", HTTP_HOST=host),
             client.get("/admin/events/propertydefinition/", HTTP_HOST=host),
             client.get(f"/admin/events/propertydefinition/{hostile_key.pk}/change/", HTTP_HOST=host)]
    for page in pages:
        html = page.content.decode()
        assert page.status_code == 200
        assert "&lt;img src=x onerror=alert(1)&gt;" in html and HOSTILE not in html
    # The event's page lists the keys seen on it, escaped too.
    assert "<td>&lt;img src=x onerror=alert(1)&gt;</td>" in pages[1].content.decode()


def test_an_editor_describes_a_viewer_only_reads(client, acme, seen):
    change = f"/admin/events/eventdefinition/{seen['buy']}/change/"
    host = console_log_in(client, acme, ROLE_VIEWER)
    page = client.get(change, HTTP_HOST=host).content.decode()
    assert 'name="_save"' not in page and "Buy" in page
    assert client.post(change, {"description": "by a viewer"}, HTTP_HOST=host).status_code == 403
    client.post("/admin/logout/", HTTP_HOST=host)
    host = console_log_in(client, acme, ROLE_EDITOR)
    page = client.get(change, HTTP_HOST=host).content.decode()
    assert 'name="_save"' in page and 'name="description"' in page and 'name="volume"' not in page
    assert client.post(change, {"description": "Paid", "volume": "0", "name": "Renamed"},
                       HTTP_HOST=host).status_code == 302
    with schema_context(acme.tenant.schema_name):
        buy = EventDefinition.objects.get(pk=seen["buy"])
        assert (buy.name, buy.volume, buy.description) == ("Buy", 3, "Paid") and buy.updated_at is not None
        assert AuditEntry.objects.filter(object_type="event_definition", action="update",
                                         actor=f"rt-{ROLE_EDITOR}").exists()
    assert client.get("/admin/events/eventdefinition/add/", HTTP_HOST=host).status_code == 403
    assert client.post(f"/admin/events/eventdefinition/{seen['buy']}/delete/", {"post": "yes"},
                       HTTP_HOST=host).status_code == 403
    listed = client.get("/admin/events/propertydefinition/", {"q": "amo"}, HTTP_HOST=host).content.decode()
    assert "amount" in listed and "number" in listed and "seats" not in listed
