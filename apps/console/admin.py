"""Registers the console's pages on the tenant admin site (admin autodiscovery imports this)."""
from apps.console import home  # noqa: E402,F401 - the console's home (the index page)
from apps.console import persons  # noqa: E402,F401 - persons: search and profiles
from apps.console import explorer  # noqa: F401 - registers /admin/explore/ and its JSON views
