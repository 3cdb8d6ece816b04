"""Local development only (`make run`, after ensure_demo_tenant): the demo tenant's metrics,
segment, dashboards and weekly report (apps/reports/demo.py). Idempotent."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from apps.reports.demo import demo_content_ensure
from apps.tenancy.models import Tenant


class Command(BaseCommand):
    help = "Add sample metrics, a segment, dashboards from templates and a weekly report to the demo tenant."

    def add_arguments(self, parser):
        parser.add_argument("--slug", default="demo")
        parser.add_argument("--days", type=int, default=30, help="Days of sample metric values.")
        parser.add_argument("--requests-per-hour", type=int, default=6,
                            help="Sample api_request.duration values an hour, on average.")
        parser.add_argument("--users", type=int, default=300, help="Sample visitors, when the tenant has no event.")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **options):
        if settings.ENVIRONMENT == "production":
            raise CommandError("The demo content is for local use only.")
        if not 1 <= options["days"] <= 90 or not 1 <= options["requests_per_hour"] <= 1000 or options["users"] < 1:
            raise CommandError("--days is 1 to 90, --requests-per-hour 1 to 1000, --users at least 1.")
        tenant = Tenant.objects.filter(slug=options["slug"]).first()
        if tenant is None:
            raise CommandError(f"No tenant {options['slug']!r}: run ensure_demo_tenant first.")
        with schema_context(tenant.schema_name):
            content = demo_content_ensure(tenant=tenant, days=options["days"],
                                          requests_per_hour=options["requests_per_hour"], users=options["users"])
        if options["json"]:
            self.stdout.write(json.dumps(content.as_dict()))
        else:
            self.stdout.write("\n".join(content.created) or "The demo content is already there.")
