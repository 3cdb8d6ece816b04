from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.core.exceptions import DomainError
from apps.tenancy.backup import tenant_backup


class Command(BaseCommand):
    help = ("Back up one tenant to FILE: its schema (pg_dump --format=custom --schema=t_<slug>) and its "
            "rows in the public schema (tenant, domains, API key hashes, share links), from one snapshot. "
            "The format is described in apps/tenancy/backup.py.")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--output", "-o", required=True, type=Path, metavar="FILE",
                            help="The backup file to write; refused if it exists.")

    def handle(self, *args, **options):
        try:
            manifest = tenant_backup(slug=options["slug"], output=options["output"])
        except DomainError as exc:
            raise CommandError(exc.message) from None
        size = options["output"].stat().st_size
        self.stdout.write(f"Backed up {manifest.slug} (schema {manifest.schema_name}) to {options['output']} "
                          f"({size:,} bytes).")
