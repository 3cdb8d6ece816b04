from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    """Who may do what, what was done, who reads the data directly (DESIGN §2): roles and key
    scopes, the audit log, BI credentials, the tracking plan and privacy jobs."""

    name = "apps.governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        self._tracking_plan_ready()

    def _tracking_plan_ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from apps.events.checks import event_checks_register
        from apps.governance.models import EventDefinition, PropertyDefinition, TrackingPlan
        from apps.governance.tracking import admin as tracking_admin  # noqa: F401 - the console pages
        from apps.governance.tracking import tasks as tracking_tasks  # noqa: F401 - the beat task
        from apps.governance.tracking.plan import tracking_plan_check
        from apps.governance.tracking.services import plan_changed

        event_checks_register(tracking_plan_check)
        for model in (TrackingPlan, EventDefinition, PropertyDefinition):
            post_save.connect(plan_changed, sender=model, dispatch_uid=f"tracking_plan_changed_save_{model.__name__}")
            post_delete.connect(plan_changed, sender=model, dispatch_uid=f"tracking_plan_changed_del_{model.__name__}")
