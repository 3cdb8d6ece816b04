import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.core.exceptions import DomainError
from apps.tenancy.backup import tenant_restore


class Command(BaseCommand):
    help = ("Restore a tenant from a tenant_backup FILE, or a copy of it under another slug (--as). A "
            "tenant of the same slug is refused unless --replace. Afterwards, restart the web and worker "
            "processes if the schema name existed before in this database: they keep per-schema state "
            "(the metric series they have written).")

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--as", dest="as_slug", metavar="NEW_SLUG",
                            help="Restore a copy as this slug: new domain and keys; no share links.")
        parser.add_argument("--replace", action="store_true",
                            help="Drop the tenant (and schema) of the target slug, in the transaction that "
                                 "puts the backup in its place.")
        parser.add_argument("--json", action="store_true", help="Print the result as one JSON object.")

    def handle(self, *args, **options):
        try:
            restored = tenant_restore(archive=options["file"], as_slug=options["as_slug"],
                                      replace=options["replace"])
        except DomainError as exc:
            details = f" {json.dumps(exc.details)}" if exc.details else ""
            raise CommandError(exc.message + details) from None
        tenant = restored.tenant
        result = {
            "slug": tenant.slug,
            "schema_name": tenant.schema_name,
            "keys": {key.api_key.kind: key.raw for key in restored.issued_keys},
            "pending_migrations": restored.pending_migrations,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(self.style.SUCCESS(f"Restored {tenant.slug} (schema {tenant.schema_name}) from "
                                             f"{options['file']}."))
        for kind, raw in result["keys"].items():
            self.stdout.write(f"New {kind} key: {raw}")
        if result["keys"]:
            self.stdout.write("The keys are shown once; only their hashes are stored.")
        if restored.pending_migrations:
            self.stdout.write(self.style.WARNING(
                f"The backup predates {len(restored.pending_migrations)} migration(s) of this release: run "
                f"`manage.py migrate --schema={tenant.schema_name}`."))
