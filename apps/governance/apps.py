from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    """Who may do what, what was done, who reads the data directly (DESIGN §2): roles and key
    scopes, the audit log, BI credentials, the tracking plan and privacy jobs."""

    name = "apps.governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        self._keys_ready()

    def _keys_ready(self) -> None:
        from apps.governance.keys import admin as keys_admin  # noqa: F401 - the console's API keys page
