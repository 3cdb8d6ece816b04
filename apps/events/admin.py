"""The tenant console's events (read-only) and persons. The events table can be huge: its list never
runs a full COUNT (the paginator uses the planner's estimate) and offers no sort but time."""

from __future__ import annotations

from django.contrib import admin
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from apps.core.admin_sites import EstimatedCountPaginator, ReadOnly, tenant_admin_site
from apps.core.errors import error_response
from apps.core.exceptions import NotFound
from apps.events import realtime
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
    list_display = ("id", "distinct_ids", "traits", "created_at", "updated_at", "profile")
    fields = ("profile", "traits", "created_at", "updated_at")
    readonly_fields = fields
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

    @admin.display(description="profile")
    def profile(self, person: Person) -> str:
        # The console's person page (apps.console.persons), reversed by name: events never imports it.
        try:
            url = reverse("admin:console_person", args=[person.pk], current_app=self.admin_site.name)
        except NoReverseMatch:
            return "-"
        return format_html('<a class="person-profile" href="{}">Profile and timeline</a>', url)

    @admin.display(description="distinct ids")
    def distinct_ids(self, person: Person) -> str:
        ids = PersonDistinctId.objects.filter(person_id=person.id).values_list("distinct_id", flat=True)[:5]
        return ", ".join(ids)


@admin.register(PrivacyJob, site=tenant_admin_site)
class PrivacyJobAdmin(ReadOnly):
    list_display = ("id", "distinct_id", "status", "requested_at", "finished_at", "events_deleted")
    list_filter = ("status",)


# --- the real-time page ----------------------------------------------------------------------------

REALTIME_REFRESH_SECONDS = 5  # how often the page fetches the figures again


def realtime_page(request: HttpRequest) -> HttpResponse:
    """The live figures (apps.events.realtime), redrawn every few seconds from `realtime_data`."""
    try:
        figures, error = realtime.realtime_get(schema=connection.schema_name).as_dict(), None
    except (realtime.RealtimeUnavailable, NotFound) as exc:  # Redis down, or the live view switched off
        figures, error = None, exc.message
    context = {**tenant_admin_site.each_context(request), "title": "Real time", "figures": figures, "error": error,
               "refresh_seconds": REALTIME_REFRESH_SECONDS}
    return TemplateResponse(request, "events/realtime.html", context)


def realtime_data(request: HttpRequest) -> HttpResponse:
    """The page's figures as JSON, with the console session: the body GET /api/v1/realtime answers."""
    try:
        return JsonResponse(realtime.realtime_get(schema=connection.schema_name).as_dict())
    except (realtime.RealtimeUnavailable, NotFound) as exc:
        return error_response(exc.status_code, exc.code, exc.message)


# Every role reads it: the viewer role holds view_event.
tenant_admin_site.register_view(route="realtime/", view=realtime_page, name="events_realtime", title="Real time",
                                permission="events.view_event")
tenant_admin_site.register_view(route="realtime/data", view=realtime_data, name="events_realtime_data",
                                title="Real time (data)", permission="events.view_event", listed=False)
