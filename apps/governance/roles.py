"""The tenant console's roles: admin, editor, viewer (Django groups in each tenant schema).

viewer: reads every analytics object, changes nothing. editor: also adds, changes and deletes
analytics objects. admin: also manages console users, keys and governance.

The groups and their permissions are computed here from app labels and codename prefixes, so a
model added later to one of these apps is covered without editing this module. `roles_sync` runs
after every migrate of a tenant schema and of the template schema (a post_migrate receiver, see
apps.py): new tenants are cloned from the template with the groups in place, existing ones are
brought up to date by `migrate`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django_tenants.utils import get_public_schema_name

from apps.core.exceptions import ValidationFailed
from apps.core.signals import audit_event

ROLE_ADMIN = "admin"
ROLE_EDITOR = "editor"
ROLE_VIEWER = "viewer"
ROLES = (ROLE_ADMIN, ROLE_EDITOR, ROLE_VIEWER)
# Highest first: a user in several role groups has the highest of them.
_RANK = {ROLE_VIEWER: 1, ROLE_EDITOR: 2, ROLE_ADMIN: 3}

# The apps whose objects are "analytics objects": editors change them. An app that does not exist
# (yet) simply contributes no permissions.
ANALYTICS_APPS = ("events", "insights", "metrics", "segments", "dashboards", "reports", "alerts", "console")
# Admins only: console users and groups, governance (audit log, BI credentials, tracking plan,
# privacy jobs, whatever the governance app adds), and API keys.
ADMIN_APPS = ("auth", "governance")
ADMIN_MODELS = (("tenancy", "apikey"),)


def _role_filter(role: str) -> Q:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    analytics = Q(content_type__app_label__in=ANALYTICS_APPS)
    if role == ROLE_VIEWER:
        return analytics & Q(codename__startswith="view_")
    if role == ROLE_EDITOR:
        return analytics
    admin = analytics | Q(content_type__app_label__in=ADMIN_APPS)
    for app_label, model in ADMIN_MODELS:
        admin |= Q(content_type__app_label=app_label, content_type__model=model)
    return admin


def role_permissions(role: str) -> QuerySet[Permission]:
    """The permissions the group of `role` holds, read from the current schema's auth_permission."""
    return Permission.objects.filter(_role_filter(role))


def roles_sync() -> dict[str, int]:
    """Create the three role groups in the current schema if missing and set each one's permissions
    to exactly its computed set (extra permissions added by hand are removed). Idempotent.
    Returns the number of permissions per role."""
    counts = {}
    with transaction.atomic():
        for role in ROLES:
            group, _ = Group.objects.get_or_create(name=role)
            permissions = list(role_permissions(role).values_list("pk", flat=True))
            group.permissions.set(permissions)
            counts[role] = len(permissions)
    return counts


def user_role(user: Any) -> str | None:
    """The highest role among `user`'s groups, or None (a superuser needs none)."""
    names = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True)) if user.pk else set()
    return max(names, key=_RANK.__getitem__) if names else None


def role_rank(role: str | None) -> int:
    return _RANK.get(role or "", 0)


def user_role_set(*, user: Any, role: str) -> None:
    """Make `role` the user's only role group (other groups are kept). Announced to the audit log
    when the role changes: a membership change is not a model save."""
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}.", details={"role": role})
    before = user_role(user)
    with transaction.atomic():
        user.groups.remove(*Group.objects.filter(name__in=[r for r in ROLES if r != role]))
        user.groups.add(Group.objects.get(name=role))
    if before != role:
        audit_event.send(sender=user_role_set, action="role_changed", object_type="user",
                         object_id=str(user.pk), object_repr=user.get_username(),
                         changes={"role": [before, role]})


def console_user_create(*, username: str, password: str, role: str, email: str = "", first_name: str = "",
                        last_name: str = "") -> Any:
    """Create a console user (staff, never a superuser) in the current tenant schema with `role`.
    The password goes through the project's password validators."""
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}.", details={"role": role})
    if connection.schema_name == get_public_schema_name():
        raise ValidationFailed("Console users belong to a tenant schema.", details={})
    users = get_user_model()
    if users.objects.filter(username=username).exists():
        raise ValidationFailed(f"A user {username!r} already exists.", details={"username": username})
    user = users(username=username, email=email, first_name=first_name, last_name=last_name, is_staff=True,
                 is_superuser=False)
    try:
        user.full_clean(exclude=["password"])
        validate_password(password, user)
    except ValidationError as exc:
        details = exc.message_dict if hasattr(exc, "error_dict") else {"password": exc.messages}
        raise ValidationFailed("The user is not valid.", details=details) from None
    user.set_password(password)
    with transaction.atomic():
        user.save()
        user_role_set(user=user, role=role)
    return user


def user_is_tenant_admin(user: Any) -> bool:
    """May this console user manage users, keys and governance (the admin role, or a superuser)?"""
    if not (user and user.is_authenticated and user.is_active):
        return False
    return bool(user.is_superuser or user.groups.filter(name=ROLE_ADMIN).exists())
