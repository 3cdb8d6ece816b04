"""The governance pages of the tenant console: console users with one role each, and the role
groups (read-only: their permissions are computed by apps.governance.roles on every migrate)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.contrib.auth.models import Group, User
from django.http import HttpRequest

from apps.core.admin_sites import tenant_admin_site
from apps.governance.roles import ROLES, role_rank, user_role, user_role_set

ROLE_HELP = ("viewer: reads every analytics object, changes nothing. editor: also adds, changes and deletes "
             "analytics objects. admin: also manages console users, keys and governance.")


class _RoleFormMixin:
    """A required `role` among the roles the requesting user may give (no more than their own)."""

    requester: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        requester = self.requester
        ceiling = 99 if requester is None or requester.is_superuser else role_rank(user_role(requester))
        self.fields["role"].choices = [(role, role) for role in ROLES if role_rank(role) <= ceiling]
        if self.instance.pk:
            self.fields["role"].initial = user_role(self.instance)

    def clean(self) -> dict:
        data = super().clean()
        requester, target = self.requester, self.instance
        if requester is not None and target.pk and target.pk == requester.pk:
            # Nobody changes their own role or locks themselves out; another admin can.
            if "role" in data and data["role"] != user_role(target) and not requester.is_superuser:
                self.add_error("role", "You cannot change your own role.")
            if data.get("is_active") is False:
                self.add_error("is_active", "You cannot deactivate yourself.")
            if data.get("is_superuser") is False and requester.is_superuser:
                self.add_error("is_superuser", "You cannot remove your own superuser status.")
        return data


class ConsoleUserCreationForm(_RoleFormMixin, UserCreationForm):
    role = forms.ChoiceField(choices=(), help_text=ROLE_HELP)

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "first_name", "last_name", "email")


class ConsoleUserChangeForm(_RoleFormMixin, UserChangeForm):
    role = forms.ChoiceField(choices=(), help_text=ROLE_HELP)

    class Meta(UserChangeForm.Meta):
        model = User
        fields = ("username", "password", "first_name", "last_name", "email", "is_active", "is_superuser")


class ConsoleUserAdmin(UserAdmin):
    """Console users: an admin creates and edits them and picks exactly one role; they are staff,
    never superusers (only a superuser sees the superuser flag). Nobody but a superuser changes or
    deletes a superuser (their password included), and nobody gives a role above their own."""

    form = ConsoleUserChangeForm
    add_form = ConsoleUserCreationForm
    list_display = ("username", "email", "first_name", "last_name", "role", "is_active", "is_superuser")
    list_filter = ("is_active", "is_superuser", "groups")
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "password1", "password2")}),
        ("Role", {"fields": ("role",)}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
    )
    readonly_fields = ("last_login", "date_joined")

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> tuple:
        if obj is None:
            return self.add_fieldsets
        access = ["role", "is_active"] + (["is_superuser"] if request.user.is_superuser else [])
        return (
            (None, {"fields": ("username", "password")}),
            ("Personal info", {"fields": ("first_name", "last_name", "email")}),
            ("Access", {"fields": access}),
            ("Important dates", {"fields": ("last_login", "date_joined")}),
        )

    def get_form(self, request: HttpRequest, obj: User | None = None, change: bool = False,  # noqa: ANN201
                 **kwargs: Any):
        form = super().get_form(request, obj, change=change, **kwargs)
        if not request.user.is_superuser:
            form.base_fields.pop("is_superuser", None)
        return type(form.__name__, (form,), {"requester": request.user})

    def get_queryset(self, request: HttpRequest):  # noqa: ANN201
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="role")
    def role(self, user: User) -> str:
        names = {group.name for group in user.groups.all()}
        return next((role for role in ROLES if role in names), "—")

    def _protected(self, request: HttpRequest, obj: User | None) -> bool:
        return obj is not None and obj.is_superuser and not request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return not self._protected(request, obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        if obj is not None and obj.pk == request.user.pk:
            return False
        return not self._protected(request, obj) and super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        # The bulk "delete selected" action checks the model permission only: refuse a selection
        # holding a superuser (for a non-superuser) or oneself.
        if any(not self.has_delete_permission(request, obj) for obj in objs):
            perms_needed = {*perms_needed, "user"}
        return deleted, model_count, perms_needed, protected

    def save_model(self, request: HttpRequest, obj: User, form: forms.ModelForm, change: bool) -> None:
        if not change:
            obj.is_staff = True
        if not request.user.is_superuser:
            obj.is_superuser = False if not change else User.objects.get(pk=obj.pk).is_superuser
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        user_role_set(user=form.instance, role=form.cleaned_data["role"])


class RoleGroupAdmin(GroupAdmin):
    """The role groups, for reading: their permissions are recomputed on every migrate, so an edit
    here would not last (and could give a role more than its definition)."""

    list_display = ("name", "permission_count")
    fields = ("name", "permissions")
    readonly_fields = ("name", "permissions")

    @admin.display(description="permissions")
    def permission_count(self, group: Group) -> int:
        return group.permissions.count()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Group | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Group | None = None) -> bool:
        return False


for model, model_admin in ((User, ConsoleUserAdmin), (Group, RoleGroupAdmin)):
    if tenant_admin_site.is_registered(model):
        tenant_admin_site.unregister(model)
    tenant_admin_site.register(model, model_admin)


from apps.governance.bi import admin as bi_admin  # noqa: E402,F401 - the BI credentials page
from apps.governance.privacy import admin as privacy_admin  # noqa: E402,F401 - the privacy jobs' pages
from apps.governance.audit import admin as _audit_admin  # noqa: E402,F401 - the audit log page
