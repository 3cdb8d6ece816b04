"""Identity: persons per distinct id, identify traits, merges by alias and identify; reading them."""

from __future__ import annotations

import pytest

from tests.helpers import assert_error, bearer


@pytest.fixture
def read(client, acme):  # noqa: ANN001, ANN201
    def get(path: str):  # noqa: ANN202
        return client.get(path, **bearer(acme.secret_key))

    return get


def test_a_distinct_id_seen_once_is_a_person_of_its_own(send, read):
    send.post("/v1/track", {"anonymousId": "anon-1", "event": "Viewed"})
    person = read("/api/v1/persons/anon-1").json()
    assert person["distinct_ids"] == ["anon-1"] and person["traits"] == {}
    assert set(person) == {"id", "distinct_ids", "traits", "created_at", "updated_at"}


def test_identify_merges_traits(send, read):
    send.post("/v1/identify", {"userId": "u1", "traits": {"plan": "free", "email": "a@b.c"}})
    send.post("/v1/identify", {"userId": "u1", "traits": {"plan": "pro"}})
    assert read("/api/v1/persons/u1").json()["traits"] == {"plan": "pro", "email": "a@b.c"}


def test_identify_with_both_ids_merges_the_anonymous_person(send, read):
    send.post("/v1/track", {"anonymousId": "anon-1", "event": "Viewed"})
    send.post("/v1/identify", {"anonymousId": "anon-1", "userId": "u1", "traits": {"name": "Ann"}})
    by_user = read("/api/v1/persons/u1").json()
    by_anon = read("/api/v1/persons/anon-1").json()
    assert by_user == by_anon
    assert sorted(by_user["distinct_ids"]) == ["anon-1", "u1"]
    # The person's earlier anonymous events are theirs now.
    events = read("/api/v1/events?distinct_id=u1").json()["results"]
    assert sorted(e["event"] for e in events) == ["$identify", "Viewed"]


def test_alias_merges_previous_id_and_keeps_the_targets_traits(send, read):
    send.post("/v1/identify", {"userId": "old", "traits": {"plan": "free", "city": "Lyon"}})
    send.post("/v1/identify", {"userId": "new", "traits": {"plan": "pro"}})
    send.post("/v1/alias", {"previousId": "old", "userId": "new"})
    person = read("/api/v1/persons/old").json()
    assert sorted(person["distinct_ids"]) == ["new", "old"]
    assert person["traits"] == {"plan": "pro", "city": "Lyon"}
    assert read("/api/v1/persons?limit=10").json()["results"] == [person]


def test_merging_twice_or_into_itself_changes_nothing(send, read):
    send.post("/v1/alias", {"previousId": "a", "userId": "b"})
    first = read("/api/v1/persons/b").json()
    send.post("/v1/alias", {"previousId": "a", "userId": "b", "messageId": "again"})
    send.post("/v1/alias", {"previousId": "b", "userId": "b"})
    assert read("/api/v1/persons/b").json()["distinct_ids"] == first["distinct_ids"]


def test_person_list_filters_on_traits(send, read):
    send.post("/v1/identify", {"userId": "p1", "traits": {"plan": "pro", "seats": 5}})
    send.post("/v1/identify", {"userId": "p2", "traits": {"plan": "free", "seats": 1}})
    assert [p["distinct_ids"] for p in read("/api/v1/persons?traits.plan=pro").json()["results"]] == [["p1"]]
    assert [p["distinct_ids"] for p in read("/api/v1/persons?traits.seats=1").json()["results"]] == [["p2"]]
    assert_error(read("/api/v1/persons?traits.a__b=1"), 400, "invalid")


def test_unknown_person_is_404(read):
    assert_error(read("/api/v1/persons/nobody"), 404, "person_not_found")


def test_persons_are_isolated_between_tenants(send, client, acme, globex):
    send.post("/v1/identify", {"userId": "shared-id", "traits": {"tenant": "acme"}})
    assert_error(client.get("/api/v1/persons/shared-id", **bearer(globex.secret_key)), 404, "person_not_found")
    assert client.get("/api/v1/persons", **bearer(globex.secret_key)).json() == {"results": [], "next": None}
    assert client.get("/api/v1/events", **bearer(globex.secret_key)).json() == {"results": [], "next": None}


def test_another_tenant_cannot_export_or_delete_a_person(send, client, acme, globex):
    from django_tenants.utils import schema_context

    from apps.events.models import PrivacyJob

    send.post("/v1/identify", {"userId": "victim", "traits": {"email": "v@x.y"}})
    assert_error(client.get("/api/v1/persons/victim/export", **bearer(globex.secret_key)), 404, "person_not_found")
    assert_error(client.delete("/api/v1/persons/victim", **bearer(globex.secret_key)), 404, "person_not_found")
    with schema_context(globex.tenant.schema_name):
        assert PrivacyJob.objects.count() == 0
    assert client.get("/api/v1/persons/victim", **bearer(acme.secret_key)).json()["traits"] == {"email": "v@x.y"}


def test_a_write_key_sends_only_to_its_own_tenant(client, acme, globex):
    from tests.events.conftest import Sender, stored_events

    Sender(client, globex.write_key).post("/v1/track", {"userId": "u", "event": "globex-event",
                                                        "writeKey": acme.write_key})
    assert [e["event"] for e in stored_events(globex.tenant)] == ["globex-event"]
    assert stored_events(acme.tenant) == []
