"""Local development only (`make run`): the `demo` tenant with a month of sample events, its keys,
and admin/admin logins.

Idempotent. Keys are shown once and only hashed in the database, so the demo keys are kept in
var/demo-keys.json and reused while they still work; otherwise new ones are issued.
"""

import json

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from apps.events.definitions import definitions_rebuild
from apps.events.models import Event, EventDefinition
from apps.events.sample import sample_events_generate
from apps.tenancy.models import ApiKey, Tenant
from apps.tenancy.selectors import api_key_resolve
from apps.tenancy.services import api_key_create, tenant_create

KEYS_FILE = settings.VAR_DIR / "demo-keys.json"


class Command(BaseCommand):
    help = "Create the demo tenant, its keys and admin/admin logins if missing (not in production)."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        if settings.ENVIRONMENT == "production":
            raise CommandError("The demo tenant and its admin/admin logins are for local use only.")
        tenant = Tenant.objects.filter(slug="demo").first()
        keys = json.loads(KEYS_FILE.read_text()) if KEYS_FILE.exists() else {}
        if tenant is None:
            created = tenant_create(slug="demo", name="Demo Inc.", timezone="Europe/Paris")
            tenant = created.tenant
            keys = {"write_key": created.write_key.raw, "secret_key": created.secret_key.raw}
        for field, kind in (("write_key", ApiKey.Kind.WRITE), ("secret_key", ApiKey.Kind.SECRET)):
            resolved = api_key_resolve(raw_key=keys.get(field, ""))
            if resolved is None or resolved.tenant_id != tenant.id:
                keys[field] = api_key_create(tenant=tenant, kind=kind, name=f"demo {kind} key").raw
        KEYS_FILE.parent.mkdir(exist_ok=True)
        KEYS_FILE.write_text(json.dumps(keys))
        KEYS_FILE.chmod(0o600)

        self._ensure_admin()
        with schema_context(tenant.schema_name):
            self._ensure_admin()
            if not Event.objects.exists():
                sample_events_generate()
            elif not EventDefinition.objects.exists():  # events stored before definitions were counted
                definitions_rebuild()

        result = {"slug": tenant.slug, **keys, "platform_token": settings.PLATFORM_API_TOKEN}
        self.stdout.write(json.dumps(result) if options["json"] else "\n".join(f"{k}: {v}" for k, v in result.items()))

    @staticmethod
    def _ensure_admin() -> None:
        users = get_user_model().objects
        if not users.filter(username="admin").exists():
            users.create_superuser("admin", "admin@example.com", "admin")
