from __future__ import annotations

from django_tenants.utils import schema_context

from apps.events.models import Event, Person
from apps.events.sample import sample_events_generate


def test_sample_data_is_stored_through_ingestion_and_is_repeatable(acme):
    with schema_context(acme.tenant.schema_name):
        stored = sample_events_generate(users=50)
        assert stored == Event.objects.count() > 50
        assert set(Event.objects.values_list("event", flat=True)) >= {"$pageview", "$identify", "Signed Up", "$error"}
        pages = Event.objects.filter(event="$pageview")
        assert not pages.filter(session_id__isnull=True).exists() and not pages.filter(properties__path=None).exists()
        assert 1 < pages.values("session_id").distinct().count() < pages.count()
        # Identified visitors were merged: fewer persons than distinct ids.
        assert Person.objects.count() < Event.objects.values("distinct_id").distinct().count()
        assert sample_events_generate(users=50) == 0  # same message ids: nothing new
