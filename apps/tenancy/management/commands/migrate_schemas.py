"""django-tenants' migrate_schemas, plus the template schema that new tenants are cloned from.

A full run (no --schema) migrates the public schema, every tenant, and then the template
(`settings.TENANT_BASE_SCHEMA`), creating it on first use, so a tenant created afterwards is a
copy of a fully migrated schema.
"""

from django.conf import settings
from django.db import connection
from django_tenants.management.commands.migrate_schemas import MigrateSchemasCommand
from django_tenants.migration_executors import get_executor
from django_tenants.utils import schema_exists


class Command(MigrateSchemasCommand):
    def handle(self, *args, **options):
        whole_run = not options.get("schema_name")
        super().handle(*args, **options)
        if whole_run and self.sync_tenant:
            template = settings.TENANT_BASE_SCHEMA
            if not schema_exists(template):
                with connection.cursor() as cursor:
                    cursor.execute(f'CREATE SCHEMA "{template}"')
            get_executor(codename=self.executor)(self.args, self.options).run_migrations(tenants=[template])
