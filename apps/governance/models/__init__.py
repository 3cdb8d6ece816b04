"""The governance app's models, one module per part (each imported here so Django finds it)."""
from apps.governance.models.keys import TenantApiKey  # noqa: F401
