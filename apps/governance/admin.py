"""The governance pages of the tenant console."""
from apps.governance.audit import admin as _audit_admin  # noqa: F401,E402 - the audit log page
