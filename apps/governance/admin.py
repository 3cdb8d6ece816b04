"""The governance pages of the tenant console."""

from apps.governance.privacy import admin as privacy_admin  # noqa: F401 - registers the privacy jobs' pages
