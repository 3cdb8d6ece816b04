"""Tenant-aware tasks: the schema a task was sent from travels with it."""

from __future__ import annotations

from django.db import connection
from django_tenants.utils import schema_context

from analytics_project.celery import app


@app.task(name="tests.current_schema")
def current_schema() -> str:
    return connection.schema_name


def test_a_task_sent_from_a_tenant_schema_runs_in_it(acme, globex):
    with schema_context(acme.tenant.schema_name):
        assert current_schema.delay().get() == "t_acme"
    with schema_context(globex.tenant.schema_name):
        assert current_schema.delay().get() == "t_globex"


def test_a_task_sent_from_public_runs_in_public(db):
    connection.set_schema_to_public()
    assert current_schema.delay().get() == "public"


def test_headers_carry_the_schema_to_a_real_broker(acme):
    """Not eager: the message as a worker would receive it names the tenant's schema."""
    captured = {}

    def capture(sender=None, headers=None, **kwargs):  # noqa: ANN001, ANN003, ANN202
        captured.update(headers or {})

    from celery.signals import before_task_publish

    before_task_publish.connect(capture, weak=False)
    app.conf.task_always_eager = False
    try:
        with schema_context(acme.tenant.schema_name):
            current_schema.apply_async()
    finally:
        app.conf.task_always_eager = True
        before_task_publish.disconnect(capture)
        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge("celery")
    assert captured["_schema_name"] == "t_acme"
