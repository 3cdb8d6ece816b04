"""The governance pages of the tenant console."""
from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class GovernanceConfig(AppConfig):
    """Who may do what, what was done, who reads the data directly (DESIGN §2): roles and key
    scopes, the audit log, BI credentials, the tracking plan and privacy jobs."""

    name = "apps.governance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(roles_after_migrate, sender=self, dispatch_uid="governance_roles_after_migrate")
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


def roles_after_migrate(sender: AppConfig, using: str = "default", verbosity: int = 1, **kwargs: Any) -> None:
    """After every migrate of a tenant schema or of the template schema: the role groups, with
    permissions computed from what exists now (a model added since is covered)."""
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions
    from django.db import connections
    from django_tenants.utils import get_public_schema_name

    if connections[using].schema_name == get_public_schema_name():
        return  # platform staff: no roles
    # post_migrate reaches the apps in INSTALLED_APPS order: an app listed after this one would get
    # its permissions only after this receiver. Create every app's permissions first (idempotent).
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using, apps=global_apps)
    from apps.governance.roles import roles_sync

    counts = roles_sync()
    if verbosity >= 2:
        print(f"  console roles: {counts}")  # noqa: T201
