"""The admin consoles in a real headless Chromium: the public console for platform staff and a
tenant's console at <slug>.localhost, each showing only its own objects.

Skipped, with the reason, where Debian's chromium and chromium-driver are not installed
(`.ci/run` installs them).
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django_tenants.utils import schema_context

from apps.tenancy.services import tenant_create
from tests.browser import BROWSER_TESTS, browser, log_in  # noqa: F401 - the browser fixture

pytestmark = BROWSER_TESTS


WINDOW = "1280,900"  # the browser window


@pytest.fixture
def two_tenants(transactional_db):  # noqa: ANN001, ANN201
    """Committed data (the live server reads it from another connection); schemas dropped after."""
    acme = tenant_create(slug="browser-acme", name="Acme Browser Co").tenant
    globex = tenant_create(slug="browser-globex", name="Globex Browser Co").tenant
    users = get_user_model().objects
    users.create_superuser("platform", "platform@example.com", "platform-pw-1")
    with schema_context(acme.schema_name):
        users.create_superuser("acme-admin", "a@acme.test", "acme-pw-1")
        users.create_user("acme-analyst", "analyst@acme.test", "x-pw-1")
    with schema_context(globex.schema_name):
        users.create_superuser("globex-admin", "g@globex.test", "globex-pw-1")
    yield acme, globex
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        for tenant in (acme, globex):
            cursor.execute(f'DROP SCHEMA IF EXISTS "{tenant.schema_name}" CASCADE')


def test_public_and_tenant_consoles_show_their_own_objects(browser, live_server, two_tenants):
    from selenium.webdriver.common.by import By

    port = live_server.url.rsplit(":", 1)[1]
    public = f"http://localhost:{port}"
    acme_console = f"http://browser-acme.localhost:{port}"

    # Platform staff on the public console: both tenants are listed.
    log_in(browser, f"{public}/admin/login/?next=/admin/tenancy/tenant/", "platform", "platform-pw-1")
    rows = {cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#result_list th.field-slug a")}
    assert rows == {"browser-acme", "browser-globex"}

    # Acme's staff on acme's console: acme's users only, no platform models.
    log_in(browser, f"{acme_console}/admin/login/?next=/admin/auth/user/", "acme-admin", "acme-pw-1")
    assert "Acme Browser Co" in browser.find_element(By.ID, "site-name").text
    users = {cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#result_list th.field-username a")}
    assert users == {"acme-admin", "acme-analyst"}
    browser.get(f"{acme_console}/admin/")
    assert "Tenants" not in browser.page_source
    browser.get(f"{acme_console}/admin/tenancy/tenant/")
    assert "\"not_found\"" in browser.page_source


def test_a_tenant_login_does_not_open_another_tenant_console(browser, live_server, two_tenants):
    from selenium.webdriver.common.by import By

    port = live_server.url.rsplit(":", 1)[1]
    log_in(browser, f"http://browser-acme.localhost:{port}/admin/login/", "globex-admin", "globex-pw-1")
    assert "Please enter the correct username and password" in browser.find_element(By.CSS_SELECTOR, ".errornote").text
    log_in(browser, f"http://localhost:{port}/admin/login/", "acme-admin", "acme-pw-1")
    assert browser.find_elements(By.CSS_SELECTOR, ".errornote")
