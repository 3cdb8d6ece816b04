import getpass
import os

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from apps.core.exceptions import DomainError
from apps.governance.roles import ROLES, console_user_create
from apps.tenancy.selectors import tenant_get

PASSWORD_ENV = "CONSOLE_USER_PASSWORD"


class Command(BaseCommand):
    help = (f"Create a console user with one role ({', '.join(ROLES)}) in one tenant's schema, for its "
            f"console at <slug>.<BASE_DOMAIN>/admin/. The password comes from ${PASSWORD_ENV}, or is "
            "asked for.")

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The tenant's slug.")
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument("--email", default="")
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument("--noinput", "--no-input", action="store_false", dest="interactive",
                            help=f"Never prompt: the password must be in ${PASSWORD_ENV}.")

    def handle(self, *args, **options):
        try:
            tenant = tenant_get(slug=options["slug"])
        except DomainError as exc:
            raise CommandError(exc.message) from None
        password = os.environ.get(PASSWORD_ENV) or self._ask(options["interactive"])
        with schema_context(tenant.schema_name):
            try:
                user = console_user_create(
                    username=options["username"], password=password, role=options["role"],
                    email=options["email"], first_name=options["first_name"], last_name=options["last_name"])
            except DomainError as exc:
                raise CommandError(f"{exc.message} {_details(exc.details)}".strip()) from None
        self.stdout.write(self.style.SUCCESS(
            f"Console user {user.username} ({options['role']}) created in tenant {tenant.slug}."))

    def _ask(self, interactive: bool) -> str:
        if not interactive:
            raise CommandError(f"Set ${PASSWORD_ENV}, or run without --noinput to be asked for the password.")
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError("The two passwords differ.")
        if not password:
            raise CommandError("The password cannot be empty.")
        return password


def _details(details: object) -> str:
    if not isinstance(details, dict):
        return ""
    return "; ".join(f"{field}: {' '.join(map(str, errors)) if isinstance(errors, list) else errors}"
                     for field, errors in details.items())
