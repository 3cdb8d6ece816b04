"""Build the event and property definitions from the events already stored (for data stored before
definitions were counted at ingestion): `manage.py definitions_rebuild [slug ...]` (default: every
tenant). Replaces volumes, first/last seen and types from a full scan; descriptions are kept."""

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from apps.events.definitions import definitions_rebuild
from apps.tenancy.selectors import tenant_list


class Command(BaseCommand):
    help = "Rebuild the event and property definitions of tenants from their stored events."

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", help="Tenants (default: all).")

    def handle(self, *args, **options):
        tenants = tenant_list()
        if options["slugs"]:
            tenants = tenants.filter(slug__in=options["slugs"])
            missing = set(options["slugs"]) - set(tenants.values_list("slug", flat=True))
            if missing:
                raise CommandError(f"No tenant {', '.join(sorted(missing))}.")
        for tenant in tenants:
            with schema_context(tenant.schema_name):
                folded = definitions_rebuild()
            self.stdout.write(f"{tenant.slug}: {len(folded.events)} events, {len(folded.properties)} properties, "
                              f"{len(folded.links)} event/key pairs")
