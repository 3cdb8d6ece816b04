"""The tenant console's events (read-only), persons, and event and property definitions (their
descriptions editable) with the JSON the explorer's pickers read. The events table can be huge:
its list never runs a full COUNT (the paginator uses the planner's estimate) and offers no sort
but time."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.views.decorators.http import require_GET

from apps.core.admin_sites import EstimatedCountPaginator, ReadOnly, tenant_admin_site
from apps.core.errors import error_response
from apps.core.exceptions import DomainError, NotFound, ValidationFailed
from apps.events import definitions, realtime
from apps.events.models import (
    Event,
    EventDefinition,
    EventPropertyKey,
    Person,
    PersonDistinctId,
    PrivacyJob,
    PropertyDefinition,
)


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
               "timezone": connection.tenant.timezone,
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


# --- definitions: what the tenant sends (apps.events.definitions) ----------------------------------


class DescriptionForm(forms.ModelForm):
    """Only the description is editable. A POST without the field at all (not a browser's, which
    always sends the textarea) is answered with an error rather than taken as "clear it"."""

    def clean(self) -> dict:
        cleaned = super().clean()
        if "description" not in self.data:
            self.add_error("description", "This field is missing from the form.")
        return cleaned


class _DefinitionAdmin(admin.ModelAdmin):
    form = DescriptionForm
    list_per_page = 100
    show_full_result_count = False
    fields: tuple[str, ...] = ()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # counted by ingestion, never typed in

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:  # noqa: ANN001
        return False  # the next event would bring it back

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> tuple[str, ...]:  # noqa: ANN001
        return tuple(name for name in self.fields if name != "description")

    def save_model(self, request: HttpRequest, obj, form: forms.ModelForm, change: bool) -> None:  # noqa: ANN001
        # Through the service: it stamps updated_at, and only when the description changed.
        fresh = type(obj).objects.get(pk=obj.pk)
        definitions.definition_describe(definition=fresh, description=form.cleaned_data["description"])

    @admin.display(description="description")
    def short_description(self, obj) -> str:  # noqa: ANN001
        return obj.description if len(obj.description) <= 80 else obj.description[:79] + "…"


@admin.register(EventDefinition, site=tenant_admin_site)
class EventDefinitionAdmin(_DefinitionAdmin):
    list_display = ("name", "volume", "first_seen", "last_seen", "short_description")
    search_fields = ("name",)
    ordering = ("-volume", "name")
    fields = ("name", "volume", "first_seen", "last_seen", "keys", "description", "updated_at")

    @admin.display(description="property keys seen on it")
    def keys(self, obj: EventDefinition) -> str:
        rows = EventPropertyKey.objects.filter(event=obj.name).order_by("-volume", "key")[:KEYS_SHOWN]
        if not rows:
            return "–"
        return format_html(
            '<table class="definition-keys"><thead><tr><th>Key</th><th>Events</th><th>Last seen</th></tr></thead>'
            "<tbody>{}</tbody></table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                             ((row.key, row.volume, date_format(localtime(row.last_seen), "DATETIME_FORMAT"))
                              for row in rows)))


KEYS_SHOWN = 200


@admin.register(PropertyDefinition, site=tenant_admin_site)
class PropertyDefinitionAdmin(_DefinitionAdmin):
    list_display = ("key", "kind", "types_observed", "volume", "first_seen", "last_seen", "short_description")
    list_filter = ("kind",)
    search_fields = ("key",)
    ordering = ("-volume", "kind", "key")
    fields = ("key", "kind", "types_observed", "volume", "first_seen", "last_seen", "description", "updated_at")

    @admin.display(description="types")
    def types_observed(self, obj: PropertyDefinition) -> str:
        return ", ".join(obj.types)


# The explorer's pickers read these (apps/console): JSON with the console session, GET only.

def _limit(request: HttpRequest, default: int = 20, most: int = 100) -> int:
    raw = request.GET.get("limit", "")
    if raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise ValidationFailed(f"limit must be a whole number from 1 to {most}.", details={"limit": raw[:40]})
    return int(raw)


def _kind(request: HttpRequest, *, default: str | None) -> str | None:
    kind = request.GET.get("kind", "") or default
    if kind is not None and kind not in definitions.KINDS:
        raise ValidationFailed("kind must be event or person.", details={"kind": kind[:40]})
    return kind


def _text(request: HttpRequest, name: str) -> str | None:
    value = request.GET.get(name, "")
    if len(value) > 200 or "\x00" in value:
        raise ValidationFailed(f"{name} must be at most 200 characters, without NUL.", details={name: "invalid"})
    return value or None


def _json_view(read):  # noqa: ANN001, ANN202
    @require_GET
    def view(request: HttpRequest) -> HttpResponse:
        try:
            return JsonResponse({"results": read(request)})
        except DomainError as exc:
            return error_response(exc.status_code, exc.code, exc.message, exc.details)

    view.__name__ = read.__name__
    return view


def _iso(moment) -> str:  # noqa: ANN001
    return moment.isoformat().replace("+00:00", "Z")


@_json_view
def definitions_events(request: HttpRequest) -> list[dict]:
    limit, search = _limit(request), _text(request, "search")
    found = definitions.event_definition_list(search=search).order_by("-volume", "name")[:limit]
    return [{"name": d.name, "volume": d.volume, "first_seen": _iso(d.first_seen), "last_seen": _iso(d.last_seen),
             "description": d.description} for d in found]


@_json_view
def definitions_properties(request: HttpRequest) -> list[dict]:
    limit, kind = _limit(request), _kind(request, default=None)
    event, search = _text(request, "event"), _text(request, "search")
    found = definitions.property_definition_list(kind=kind, event=event, search=search)
    return [{"key": p.key, "kind": p.kind, "types": p.types, "volume": p.volume, "description": p.description}
            for p in found.order_by("-volume", "key", "kind")[:limit]]


@_json_view
def definitions_values(request: HttpRequest) -> list[dict]:
    limit, kind = _limit(request), _kind(request, default="event")
    key, event, search = _text(request, "key"), _text(request, "event"), _text(request, "search")
    if key is None:
        raise ValidationFailed("key is required.", details={"key": "missing"})
    return definitions.property_values(kind=kind, key=key, event=event, search=search, limit=limit)


for _route, _view, _name in (("definitions/events.json", definitions_events, "events_definitions_events"),
                             ("definitions/properties.json", definitions_properties, "events_definitions_properties"),
                             ("definitions/values.json", definitions_values, "events_definitions_values")):
    # Every role reads them: the viewer role holds view_event.
    tenant_admin_site.register_view(route=_route, view=_view, name=_name, title=_name.replace("_", " "),
                                    permission="events.view_event", listed=False)
