"""The governance pages of the tenant console."""

from apps.governance.bi import admin as bi_admin  # noqa: F401
