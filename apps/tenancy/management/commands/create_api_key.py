import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from apps.core.exceptions import DomainError
from apps.core.scopes import SCOPES
from apps.tenancy.api.serializers import issued_key_data
from apps.tenancy.models import ApiKey
from apps.tenancy.selectors import tenant_get
from apps.tenancy.services import api_key_create


class Command(BaseCommand):
    help = "Issue an API key for a tenant. The key is printed once."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--kind", required=True, choices=ApiKey.Kind.values)
        parser.add_argument("--name", default="")
        parser.add_argument("--scopes", default=None,
                            help=f"Comma-separated, of {', '.join(SCOPES)}. Default: all for a secret key, "
                                 "write for a write key (its only scope).")
        parser.add_argument("--expires-at", default=None,
                            help="ISO 8601, in the future (e.g. 2030-01-01T00:00:00Z; without a zone, UTC). "
                                 "Default: never.")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        scopes = None
        if options["scopes"] is not None:
            scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        expires_at = None
        if options["expires_at"]:
            try:
                expires_at = parse_datetime(options["expires_at"])
            except ValueError:
                expires_at = None
            if expires_at is None:
                raise CommandError(f"--expires-at {options['expires_at']!r} is not an ISO 8601 date and time.")
        try:
            issued = api_key_create(tenant=tenant_get(slug=options["slug"]), kind=options["kind"],
                                    name=options["name"], scopes=scopes, expires_at=expires_at)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if options["json"]:
            self.stdout.write(json.dumps(issued_key_data(issued)))
        else:
            self.stdout.write(issued.raw)
