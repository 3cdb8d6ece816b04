from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    """Who may do what, what was done, who reads the data directly (DESIGN §2): roles and key
    scopes, the audit log, BI credentials, the tracking plan and privacy jobs."""

    name = "apps.governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        self._audit_ready()

    @staticmethod
    def _audit_ready() -> None:
        """The audit log: model receivers, `audit_event`, the actor of commands and Celery tasks."""
        from celery.signals import task_postrun, task_prerun

        from apps.governance.audit import tasks  # noqa: F401 - registers the purge tasks
        from apps.governance.audit.capture import capture_connect
        from apps.governance.audit.context import command_actor_install, task_finished, task_started

        capture_connect()
        command_actor_install()
        task_prerun.connect(task_started, dispatch_uid="audit:task_prerun", weak=False)
        task_postrun.connect(task_finished, dispatch_uid="audit:task_postrun", weak=False)
