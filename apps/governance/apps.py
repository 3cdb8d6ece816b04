"""The governance app: each part connects its receivers and hooks here."""
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
        self._tracking_plan_ready()
        self._keys_ready()
        self._audit_ready()
        self._bi_ready()

    @staticmethod
    def _bi_ready() -> None:
        """The BI views follow the tenant's session gap."""
        from django.db.models.signals import post_save

        from apps.governance.bi.services import tenant_saved
        from apps.tenancy.models import Tenant

        post_save.connect(tenant_saved, sender=Tenant, dispatch_uid="bi_views_follow_tenant")

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

    def _keys_ready(self) -> None:
        from apps.governance.keys import admin as keys_admin  # noqa: F401 - the console's API keys page

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
