"""The tenant console's privacy jobs (admins only): the list with states, a form to request an
anonymisation, export or deletion, and the export's download."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from apps.core.admin_sites import tenant_admin_site
from apps.core.exceptions import DomainError
from apps.events.anonymise import DEFAULT_SCRUBBED_PROPERTIES
from apps.governance.models.privacy import PrivacyJob
from apps.governance.privacy import selectors, services
from apps.governance.roles import user_is_tenant_admin


class PrivacyJobRequestForm(forms.Form):
    kind = forms.ChoiceField(choices=PrivacyJob.Kind.choices)
    distinct_id = forms.CharField(max_length=services.MAX_DISTINCT_ID_LENGTH, strip=False,
                                  help_text="Any of the person's distinct ids.")
    properties = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Anonymise only: event properties to remove, comma or line separated, besides "
                  + ", ".join(DEFAULT_SCRUBBED_PROPERTIES) + ".")

    def clean_properties(self) -> list[str] | None:
        text = self.cleaned_data.get("properties", "")
        names = [name.strip() for chunk in text.splitlines() for name in chunk.split(",") if name.strip()]
        return names or None


@admin.register(PrivacyJob, site=tenant_admin_site)
class PrivacyJobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "distinct_id", "state", "requested_by", "created_at", "finished_at", "counts",
                    "download")
    list_filter = ("state", "kind")
    search_fields = ("=distinct_id",)
    show_full_result_count = False
    list_per_page = 50
    fields = ("kind", "distinct_id", "options", "state", "requested_by", "created_at", "started_at", "finished_at",
              "attempts", "error", "counts", "file_name", "file_size", "file_expires_at", "download")
    readonly_fields = fields

    # Admins only, whatever permissions a group holds; jobs are records: never changed or deleted here.
    def has_module_permission(self, request: HttpRequest) -> bool:
        return user_is_tenant_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_is_tenant_admin(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # requests go through the request form (a service call, not a model save)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list:
        own = [
            path("request/", self.admin_site.admin_view(self.request_view), name="governance_privacyjob_request"),
            path("<int:job_id>/download/", self.admin_site.admin_view(self.download_view),
                 name="governance_privacyjob_download"),
        ]
        return own + super().get_urls()

    @admin.display(description="file")
    def download(self, job: PrivacyJob) -> str:
        if job.kind != PrivacyJob.Kind.EXPORT or job.state != PrivacyJob.State.SUCCEEDED or not job.file_name:
            return "-"
        url = reverse(f"{self.admin_site.name}:governance_privacyjob_download", args=[job.pk])
        return format_html('<a href="{}">{}</a>', url, job.file_name)

    def request_view(self, request: HttpRequest) -> HttpResponse:
        if not user_is_tenant_admin(request.user):
            raise PermissionDenied
        form = PrivacyJobRequestForm(request.POST or None, initial={"distinct_id": request.GET.get("distinct_id", "")})
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                job = services.privacy_job_request(kind=data["kind"], distinct_id=data["distinct_id"],
                                                   properties=data["properties"],
                                                   requested_by=f"user:{request.user.get_username()}")
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, f"Privacy job {job.pk} ({job.kind}) is {job.state}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse(f"{self.admin_site.name}:governance_privacyjob_changelist"))
        request.current_app = self.admin_site.name
        context = {**self.admin_site.each_context(request), "title": "Request a privacy job", "form": form,
                   "opts": self.model._meta}
        return TemplateResponse(request, "admin/governance/privacyjob/request.html", context)

    def download_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        if not user_is_tenant_admin(request.user):
            raise PermissionDenied
        try:
            job = selectors.privacy_job_get(job_id=job_id)
            found = selectors.privacy_export_get(job=job)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(reverse(f"{self.admin_site.name}:governance_privacyjob_changelist"))
        response = HttpResponse(bytes(found.content), content_type=found.content_type)
        response["Content-Disposition"] = f'attachment; filename="{job.file_name}"'
        response["Cache-Control"] = "no-store"
        return response


# --- actions on the console's persons page (the events app's; governance adds them from above) ------


def _request_for_persons(admin_: Any, request: HttpRequest, queryset: Any, kind: str) -> None:
    from apps.events.models import PersonDistinctId

    person_ids = list(queryset.values_list("pk", flat=True))
    first_ids: dict[int, str] = {}
    for distinct_id, person_id in (PersonDistinctId.objects.filter(person_id__in=person_ids)
                                   .order_by("created_at", "distinct_id").values_list("distinct_id", "person_id")):
        first_ids.setdefault(person_id, distinct_id)
    jobs = []
    for person_id in person_ids:
        if person_id in first_ids:
            jobs.append(services.privacy_job_request(kind=kind, distinct_id=first_ids[person_id],
                                                     requested_by=f"user:{request.user.get_username()}"))
    admin_.message_user(request, f"{len(jobs)} {kind} job(s) requested: see Privacy jobs.", messages.SUCCESS)


@admin.action(description="Export (subject access request)", permissions=["privacy"])
def export_persons(admin_: Any, request: HttpRequest, queryset: Any) -> None:
    _request_for_persons(admin_, request, queryset, PrivacyJob.Kind.EXPORT)


@admin.action(description="Anonymise (keep their events under a new random id)", permissions=["privacy"])
def anonymise_persons(admin_: Any, request: HttpRequest, queryset: Any) -> None:
    _request_for_persons(admin_, request, queryset, PrivacyJob.Kind.ANONYMISE)


def _add_person_actions() -> None:
    from apps.events.models import Person

    person_admin = tenant_admin_site._registry.get(Person)
    if person_admin is None:
        return
    person_admin.actions = [*(person_admin.actions or []), export_persons, anonymise_persons]
    # The actions show (and run) for admins only.
    person_admin.has_privacy_permission = lambda request: user_is_tenant_admin(request.user)


_add_person_actions()
