from django.contrib.auth.management.commands.createsuperuser import Command as CreateSuperuserCommand
from django.core.management.base import CommandError
from django_tenants.utils import schema_context

from apps.core.exceptions import DomainError
from apps.tenancy.selectors import tenant_get


class Command(CreateSuperuserCommand):
    help = "Create a staff superuser in one tenant's schema, for its console at <slug>.<BASE_DOMAIN>/admin/."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The tenant's slug.")
        super().add_arguments(parser)

    def handle(self, *args, **options):
        try:
            tenant = tenant_get(slug=options.pop("slug"))
        except DomainError as exc:
            raise CommandError(exc.message) from None
        with schema_context(tenant.schema_name):
            super().handle(*args, **options)
