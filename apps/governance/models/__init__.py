"""The governance app's models, one module per part (each imported here so Django finds it)."""
from apps.governance.models.tracking import *  # noqa: F401,F403
from apps.governance.models.bi import BiCredential  # noqa: F401
from apps.governance.models.privacy import PrivacyExportFile, PrivacyJob  # noqa: F401
from apps.governance.models.keys import TenantApiKey  # noqa: F401
from apps.governance.models.audit import AuditEntry  # noqa: F401
