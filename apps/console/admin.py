"""Registers the console's pages on the tenant admin site (admin autodiscovery imports this)."""

from apps.console import explorer  # noqa: F401 - registers /admin/explore/ and its JSON views
