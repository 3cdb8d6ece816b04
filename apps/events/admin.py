"""The tenant console's events (read-only) and persons. The events table can be huge: its list never
runs a full COUNT (the paginator uses the planner's estimate) and offers no sort but time."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from apps.core.admin_sites import EstimatedCountPaginator, ReadOnly, tenant_admin_site
from apps.events.models import Event, Person, PersonDistinctId, PrivacyJob


@admin.register(Event, site=tenant_admin_site)
class EventAdmin(ReadOnly):
    list_display = ("timestamp", "event", "event_type", "distinct_id", "received_at")
    list_filter = ("event_type",)
    search_fields = ("=distinct_id", "=event", "=message_id")
    date_hierarchy = None
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    sortable_by = ()
    ordering = ("-timestamp", "-id")
    fields = ("timestamp", "received_at", "event_type", "event", "distinct_id", "user_id", "anonymous_id",
              "session_id", "message_id", "properties", "context")
    readonly_fields = fields


@admin.register(Person, site=tenant_admin_site)
class PersonAdmin(ReadOnly):
    list_display = ("id", "distinct_ids", "traits", "created_at", "updated_at")
    search_fields = ()
    show_full_result_count = False
    list_per_page = 50

    def get_search_results(self, request: HttpRequest, queryset, search_term: str):  # noqa: ANN001, ANN201
        if not search_term:
            return queryset, False
        owners = PersonDistinctId.objects.filter(distinct_id=search_term).values("person_id")
        return queryset.filter(pk__in=owners), False

    def get_search_fields(self, request: HttpRequest) -> tuple[str, ...]:
        return ("distinct id",)  # any non-empty value shows the search box; the lookup is ours

    @admin.display(description="distinct ids")
    def distinct_ids(self, person: Person) -> str:
        ids = PersonDistinctId.objects.filter(person_id=person.id).values_list("distinct_id", flat=True)[:5]
        return ", ".join(ids)


@admin.register(PrivacyJob, site=tenant_admin_site)
class PrivacyJobAdmin(ReadOnly):
    list_display = ("id", "distinct_id", "status", "requested_at", "finished_at", "events_deleted")
    list_filter = ("status",)
