"""The vendored chart library is the pinned one, served by the static files (no CDN)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.contrib.staticfiles import finders
from django_tenants.utils import schema_context

from apps.core.charting import ECHARTS_SHA256, ECHARTS_STATIC, ECHARTS_VERSION

FOLDER = Path(__file__).resolve().parents[2] / "apps" / "core" / "static" / "vendor" / "echarts"


def test_the_vendored_echarts_is_the_pinned_file_with_its_license():
    found = finders.find(ECHARTS_STATIC)
    assert found, ECHARTS_STATIC
    assert hashlib.sha256(Path(found).read_bytes()).hexdigest() == ECHARTS_SHA256
    assert sorted(p.name for p in (FOLDER / ECHARTS_VERSION).iterdir()) == ["LICENSE", "NOTICE", "echarts.min.js"]
    assert [p.name for p in FOLDER.iterdir()] == [ECHARTS_VERSION]  # one version, the pinned one
    assert "Apache License" in (FOLDER / ECHARTS_VERSION / "LICENSE").read_text()


def test_pages_load_the_library_from_the_static_files(client, acme):
    from apps.dashboards import services

    with schema_context(acme.tenant.schema_name):
        _, token = services.share_create(dashboard=services.dashboard_create(name="shared"))
    page = client.get(f"/d/{token}").content.decode()
    assert f'<script src="/static/{ECHARTS_STATIC}"></script>' in page
    assert page.index(ECHARTS_STATIC) < page.index("core/charts.js") < page.index("dashboards/share.js")
    assert "https://" not in page.split("<body>")[0] + page.split("<body>")[1].split("</main>")[1]
    served = client.get(f"/static/{ECHARTS_STATIC}")
    assert served.status_code == 200
    assert hashlib.sha256(b"".join(served.streaming_content if served.streaming else [served.content])
                          ).hexdigest() == ECHARTS_SHA256
