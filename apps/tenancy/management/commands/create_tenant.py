import json

from django.core.management.base import BaseCommand, CommandError

from apps.core.exceptions import DomainError
from apps.tenancy.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant (schema cloned from the template), its console domain and a write and a secret key."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="")
        parser.add_argument("--timezone", default="UTC")
        parser.add_argument("--retention-days", type=int, default=365)
        parser.add_argument("--monthly-event-quota", type=int, default=10_000_000)
        parser.add_argument("--json", action="store_true", help="Print the result as one JSON object.")

    def handle(self, *args, **options):
        try:
            created = tenant_create(
                slug=options["slug"], name=options["name"], timezone=options["timezone"],
                retention_days=options["retention_days"], monthly_event_quota=options["monthly_event_quota"],
            )
        except DomainError as exc:
            raise CommandError(f"{exc.message} {json.dumps(exc.details) if exc.details else ''}".strip()) from None
        result = {
            "slug": created.tenant.slug,
            "schema_name": created.tenant.schema_name,
            "domain": created.domain.domain,
            "write_key": created.write_key.raw,
            "secret_key": created.secret_key.raw,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        self.stdout.write(self.style.SUCCESS(f"Tenant {result['slug']} created (schema {result['schema_name']})."))
        self.stdout.write(f"Console:    http://{result['domain']}/admin/")
        self.stdout.write(f"Write key:  {result['write_key']}")
        self.stdout.write(f"Secret key: {result['secret_key']}")
        self.stdout.write("The keys are shown once; only their hashes are stored.")
