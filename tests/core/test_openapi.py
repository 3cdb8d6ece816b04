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
                 "/platform/v1/tenants/{slug}/keys", "/platform/v1/keys/{prefix}/revoke"]:
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
