"""What the browser tests share: their marks (skipped, with the reason, where Debian's chromium and
chromium-driver are missing; `.ci/run` installs them), the headless Chromium fixture, the console
users' password and a committed tenant.

A test module uses them as:

    from tests.browser import BROWSER_TESTS, PASSWORD, browser, committed_tenant  # noqa: F401 - fixture
    pytestmark = BROWSER_TESTS
    WINDOW = "1280,1000"   # optional: the browser window, width,height
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.core.redis import get_redis
from apps.governance.roles import console_user_create
from apps.tenancy.services import tenant_create
from tests.helpers import headless_chromium

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

BROWSER_TESTS = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (CHROMIUM and CHROMEDRIVER),
        reason="no headless browser: install Debian's chromium and chromium-driver (.ci/run does)",
    ),
]

PASSWORD = "a-long-console-pass-42"


@pytest.fixture
def browser(request: Any) -> Iterator[Any]:
    yield from headless_chromium(window=getattr(request.module, "WINDOW", "1280,1000"))


@contextmanager
def committed_tenant(slug: str, name: str, *, users: dict[str, str] | None = None, forget: tuple[str, ...] = (),
                     **fields: Any) -> Iterator[Any]:
    """A tenant whose data is committed (the live server reads it from another connection), with
    console users {username: role} (password PASSWORD); Redis keys matching the `forget` patterns
    deleted first; the tenant's schema dropped after. Yields tenant_create's answer."""
    for pattern in forget:
        for key in get_redis().scan_iter(pattern):
            get_redis().delete(key)
    created = tenant_create(slug=slug, name=name, **fields)
    with schema_context(created.tenant.schema_name):
        for username, role in (users or {}).items():
            console_user_create(username=username, password=PASSWORD, role=role)
    connection.set_schema_to_public()
    try:
        yield created
    finally:
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{created.tenant.schema_name}" CASCADE')


def log_in(browser, url: str, username: str, password: str) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(password)
    # The click returns before the next page loads: mark this document, then wait for a new one.
    browser.execute_script("window.__loginPage = true")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, 15).until(
        lambda b: b.execute_script("return window.__loginPage !== true && document.readyState === 'complete'")
    )
