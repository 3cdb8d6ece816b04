"""The tenant console's roles: admin, editor, viewer (Django groups in each tenant schema).

viewer: reads everything, changes nothing. editor: also changes analytics objects. admin: also
manages users, keys and governance."""

from __future__ import annotations

from typing import Any

ROLE_ADMIN = "admin"
ROLE_EDITOR = "editor"
ROLE_VIEWER = "viewer"
ROLES = (ROLE_ADMIN, ROLE_EDITOR, ROLE_VIEWER)


def user_is_tenant_admin(user: Any) -> bool:
    """May this console user manage users, keys and governance (the admin role, or a superuser)?"""
    if not (user and user.is_authenticated and user.is_active):
        return False
    return bool(user.is_superuser or user.groups.filter(name=ROLE_ADMIN).exists())
