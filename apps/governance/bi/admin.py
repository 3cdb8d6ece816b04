"""The tenant console's BI credentials (admins only): list, issue (the password shown once),
rotate and revoke. A credential is never edited nor deleted as a row: revoking drops its role."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from apps.core.admin_sites import tenant_admin_site
from apps.core.exceptions import DomainError
from apps.governance.bi import services
from apps.governance.models import BiCredential
from apps.governance.roles import user_is_tenant_admin


class IssueForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="A label for people, e.g. Metabase.")
    statement_timeout_ms = forms.IntegerField(
        min_value=100, max_value=services.MAX_STATEMENT_TIMEOUT_MS, initial=services.DEFAULT_STATEMENT_TIMEOUT_MS,
        label="Statement timeout (ms)")
    connection_limit = forms.IntegerField(min_value=1, max_value=services.MAX_CONNECTION_LIMIT,
                                          initial=services.DEFAULT_CONNECTION_LIMIT)


@admin.register(BiCredential, site=tenant_admin_site)
class BiCredentialAdmin(admin.ModelAdmin):
    list_display = ("name", "role_name", "status", "statement_timeout_ms", "connection_limit", "created_at",
                    "created_by", "rotated_at", "manage")
    readonly_fields = ("name", "role_name", "statement_timeout_ms", "connection_limit", "created_at", "created_by",
                       "rotated_at", "revoked_at")
    fields = readonly_fields
    search_fields = ("name", "role_name")

    # --- who may do what: tenant admins only; rows are never changed nor deleted here -------------

    def has_module_permission(self, request: HttpRequest) -> bool:
        return user_is_tenant_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return user_is_tenant_admin(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return user_is_tenant_admin(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # --- the list ------------------------------------------------------------------------------

    @admin.display(description="Status")
    def status(self, obj: BiCredential) -> str:
        return "active" if obj.active else f"revoked {obj.revoked_at:%Y-%m-%d %H:%M}"

    @admin.display(description="")
    def manage(self, obj: BiCredential) -> str:
        if not obj.active:
            return ""
        info = self.opts.app_label, self.opts.model_name
        return format_html('<a href="{}">Rotate password</a> · <a href="{}">Revoke</a>',
                           reverse(f"{self.admin_site.name}:%s_%s_rotate" % info, args=[obj.pk]),
                           reverse(f"{self.admin_site.name}:%s_%s_revoke" % info, args=[obj.pk]))

    def get_urls(self) -> list:
        info = self.opts.app_label, self.opts.model_name
        return [
            path("<int:pk>/rotate/", self.admin_site.admin_view(self.rotate_view), name="%s_%s_rotate" % info),
            path("<int:pk>/revoke/", self.admin_site.admin_view(self.revoke_view), name="%s_%s_revoke" % info),
            *super().get_urls(),
        ]

    # --- issue, rotate, revoke -------------------------------------------------------------------

    def _page(self, request: HttpRequest, template: str, **context: Any) -> TemplateResponse:
        site = self.admin_site.name
        return TemplateResponse(request, template, {
            **self.admin_site.each_context(request), "opts": self.opts, "home": reverse(f"{site}:index"),
            "changelist": reverse(f"{site}:governance_bicredential_changelist"), **context})

    def _secret_page(self, request: HttpRequest, issued: services.Issued, title: str) -> TemplateResponse:
        body = services.bi_output(credential=issued.credential, tenant=request.tenant, password=issued.password)
        # admin_view() marks every console page never_cache (no-store), this one with the password too.
        return self._page(request, "governance/bi_credential_secret.html", title=title, credential=body)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = IssueForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                issued = services.bi_credential_issue(tenant=request.tenant, created_by=f"user {request.user.username}",
                                                      **form.cleaned_data)
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                return self._secret_page(request, issued, "BI credential issued")
        return self._page(request, "governance/bi_credential_form.html", title="Issue a BI credential", form=form,
                          submit="Issue")

    def rotate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        credential = get_object_or_404(BiCredential, pk=pk)
        if request.method == "POST":
            try:
                issued = services.bi_credential_rotate(tenant=request.tenant, credential=credential)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(reverse(f"{self.admin_site.name}:governance_bicredential_changelist"))
            return self._secret_page(request, issued, "BI credential rotated")
        return self._page(request, "governance/bi_credential_form.html", title=f"Rotate the password of {credential}?",
                          note="The old password stops working at once; open sessions stay open.",
                          submit="Rotate password")

    def revoke_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        credential = get_object_or_404(BiCredential, pk=pk)
        if request.method == "POST":
            try:
                services.bi_credential_revoke(tenant=request.tenant, credential=credential)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"{credential.name}: revoked; its sessions were ended.", messages.SUCCESS)
            return HttpResponseRedirect(reverse(f"{self.admin_site.name}:governance_bicredential_changelist"))
        return self._page(request, "governance/bi_credential_form.html", title=f"Revoke {credential}?",
                          note="Its open sessions end now and it can never log in again.", submit="Revoke")

