"""The tenant console's dashboards, with their widgets inline (specs checked like the API), a
link to each live share page, and "New from template" (templates_catalog). A dashboard's change
page draws its charts above the form, with the JSON views of apps/dashboards/console.py."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from apps.core.admin_sites import tenant_admin_site
from apps.core.exceptions import DomainError
from apps.dashboards import console, services
from apps.dashboards.models import Dashboard, Widget
from apps.dashboards.templates_catalog import TEMPLATES


class FromTemplateForm(forms.Form):
    template = forms.ChoiceField(choices=[(t.name, f"{t.display_name}: {t.description}") for t in TEMPLATES.values()],
                                 widget=forms.RadioSelect)
    name = forms.CharField(max_length=100, required=False, help_text="Default: the template's name.")
    display_name = forms.CharField(max_length=200, required=False)


class WidgetForm(forms.ModelForm):
    class Meta:
        model = Widget
        fields = ["position", "name", "title", "widget_type", "query_config", "options"]

    def clean(self) -> dict:
        data = super().clean()
        try:
            services.widget_check(widget_type=data.get("widget_type"), query_config=data.get("query_config"),
                                  options=data.get("options") or {}, tenant=connection.tenant)
        except DomainError as exc:
            raise ValidationError(exc.message) from None
        return data


class WidgetInline(admin.StackedInline):
    model = Widget
    form = WidgetForm
    extra = 0


@admin.register(Dashboard, site=tenant_admin_site)
class DashboardAdmin(admin.ModelAdmin):
    list_display = ("name", "display_name", "category", "is_public", "owner", "updated_at")
    list_filter = ("category", "is_public")
    search_fields = ("name", "display_name", "owner")
    inlines = [WidgetInline]
    readonly_fields = ("share_links",)
    actions = ["create_share_link"]
    change_form_template = "admin/dashboards/dashboard/change_form.html"

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict | None = None) -> HttpResponse:
        dashboard = self.get_object(request, object_id)
        if dashboard is not None and self.has_view_or_change_permission(request, dashboard):
            extra_context = {**(extra_context or {}), **console.page_context(request, self, dashboard)}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="Create a share link (shown once)", permissions=["change"])
    def create_share_link(self, request: HttpRequest, queryset) -> None:  # noqa: ANN001
        base = console.share_base_url(request)
        for dashboard in queryset:
            _, token = services.share_create(dashboard=dashboard)
            url = f"{base}/d/{token}"
            self.message_user(request, format_html('{}: <a href="{}">{}</a>', dashboard.name, url, url))

    @admin.display(description="share links")
    def share_links(self, obj: Dashboard) -> str:
        links = [link for link in services.share_list(dashboard=obj) if link.revoked_at is None] if obj.pk else []
        if not links:
            return "None. Create one with POST /api/v1/dashboards/<id>/share (the token is shown once)."
        # Only the token's hash is kept: the console shows which links are live, not the links.
        return format_html_join(mark_safe("<br>"), "{}… created {}", ((link.prefix, link.created_at) for link in links))

    def get_urls(self) -> list:
        own = [path("from-template/", self.admin_site.admin_view(self.from_template_view),
                    name="dashboards_dashboard_from_template")]
        return own + console.urls(self) + super().get_urls()

    def from_template_view(self, request: HttpRequest) -> HttpResponse:
        """A dashboard made by a template: for whoever may add dashboards."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = FromTemplateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                dashboard = services.dashboard_from_template(
                    template=data["template"], tenant=connection.tenant, name=data["name"] or None,
                    display_name=data["display_name"] or None)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, f"Dashboard {dashboard.name!r} created with "
                                           f"{dashboard.widgets.count()} widgets.", messages.SUCCESS)
                return HttpResponseRedirect(reverse(f"{self.admin_site.name}:dashboards_dashboard_change",
                                                    args=[dashboard.pk]))
        request.current_app = self.admin_site.name
        context = {**self.admin_site.each_context(request), "title": "New dashboard from a template", "form": form,
                   "opts": self.model._meta}
        return TemplateResponse(request, "admin/dashboards/dashboard/from_template.html", context)

    def get_fields(self, request: HttpRequest, obj: Dashboard | None = None) -> list[str]:
        return ["name", "display_name", "category", "description", "layout", "is_public", "owner", "share_links"]
