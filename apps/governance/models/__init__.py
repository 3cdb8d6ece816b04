"""The governance app's models, one module per part (each imported here so Django finds it)."""
from apps.governance.models.audit import AuditEntry  # noqa: F401
