"""The OpenAPI document and the docs page, whose assets are served locally (no CDN)."""

from __future__ import annotations

import re

import yaml


def test_schema_describes_tenant_and_platform_endpoints(client, db):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path in ["/api/v1/tenant", "/platform/v1/tenants", "/platform/v1/tenants/{slug}",
                 "/platform/v1/tenants/{slug}/keys", "/platform/v1/keys/{prefix}/revoke",
                 "/v1/batch", "/v1/track", "/api/v1/events/track", "/api/v1/events/batch", "/batch/",
                 "/api/v1/events", "/api/v1/events/export", "/api/v1/persons", "/api/v1/persons/{distinct_id}",
                 "/api/v1/persons/{distinct_id}/export", "/api/v1/privacy-jobs/{job_id}"]:
        assert path in paths, path
    assert set(paths["/platform/v1/tenants"]) >= {"get", "post"}


def test_docs_page_loads_its_assets_from_this_server(client, db):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources, html
    assert not [s for s in sources if s.startswith(("http://", "https://", "//"))]
    script = next(s for s in sources if s.endswith(".js"))
    asset = client.get(script)
    assert asset.status_code == 200


def test_the_document_validates_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", validate=True, fail_on_warn=True, file=str(tmp_path / "schema.yaml"))
    assert "/v1/batch" in (tmp_path / "schema.yaml").read_text()
