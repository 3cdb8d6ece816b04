from django.core.management.base import BaseCommand, CommandError

from apps.core.exceptions import DomainError
from apps.tenancy.services import api_key_revoke


class Command(BaseCommand):
    help = "Revoke an API key by its prefix (the first 11 characters, e.g. sk_AbCd1234)."

    def add_arguments(self, parser):
        parser.add_argument("prefix")

    def handle(self, *args, **options):
        try:
            key = api_key_revoke(prefix=options["prefix"][:11])
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Revoked {key.prefix} ({key.kind} key of {key.tenant.slug}) at {key.revoked_at:%Y-%m-%d %H:%M:%S}.")
