import json

from django.core.management.base import BaseCommand, CommandError

from apps.core.exceptions import DomainError
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
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        try:
            issued = api_key_create(tenant=tenant_get(slug=options["slug"]), kind=options["kind"], name=options["name"])
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if options["json"]:
            self.stdout.write(json.dumps(issued_key_data(issued)))
        else:
            self.stdout.write(issued.raw)
