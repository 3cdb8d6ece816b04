"""Security: the production server's headers and cookies, keys (and share and unsubscribe tokens)
that never reach its logs, console logins limited per tenant, and keys compared in constant time.

The production checks start gunicorn as deployed (deploy/gunicorn.conf.py, ENVIRONMENT=production,
debug logging on) over the test database, send it keys every way clients do, right and wrong, then
read everything it wrote."""

from __future__ import annotations

import base64
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django_tenants.utils import schema_context

from analytics_project.devstack import free_port
from apps.tenancy import selectors
from apps.tenancy.services import api_key_create, api_key_revoke, tenant_create
from tests.helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def production_server(transactional_db, tmp_path):  # noqa: ANN001, ANN201
    """gunicorn in production mode on loopback, its output (access log, errors, Django's debug log)
    going to one file; a committed tenant with keys, its schema dropped after."""
    created = tenant_create(slug="sec-co", name="Sec Co")
    revoked = api_key_create(tenant=created.tenant, kind="secret", name="old")
    api_key_revoke(prefix=revoked.api_key.prefix)
    connection.set_schema_to_public()
    port, log = free_port(0), tmp_path / "server.log"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "analytics_project.settings", "ENVIRONMENT": "production",
           "DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL, "SECRET_KEY": "s" * 50,
           "PLATFORM_API_TOKEN": "p" * 32, "ALLOWED_HOSTS": "localhost,127.0.0.1,.localhost",
           "BASE_DOMAIN": "localhost", "BEHIND_TLS_PROXY": "true", "LOG_LEVEL": "DEBUG", "WEB_CONCURRENCY": "1",
           "GUNICORN_ACCESS_LOG": "-", "STATIC_ROOT": str(tmp_path / "static")}
    # As the image build does: production serves hashed static files from STATIC_ROOT.
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "--bind",
                                   f"127.0.0.1:{port}", "analytics_project.wsgi:application"], cwd=ROOT, env=env,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(log.read_text()[-3000:]) from None
                time.sleep(0.3)
        yield {"port": port, "log": log, "created": created, "revoked": revoked.raw}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{created.tenant.schema_name}" CASCADE')


def request(port: int, method: str, path: str, *, headers: dict[str, str] | None = None,
            body: bytes | None = None) -> tuple[int, dict[str, str], list[str]]:
    """(status, headers, Set-Cookie values); HTTP errors are answers too."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, dict(response.headers), response.headers.get_all("Set-Cookie") or []
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.headers.get_all("Set-Cookie") or []


def test_keys_never_reach_the_logs(production_server):
    port, created = production_server["port"], production_server["created"]
    write, secret, revoked = created.write_key.raw, created.secret_key.raw, production_server["revoked"]
    wrong = secret[:-6] + "abcdef"
    basic = base64.b64encode(f"{write}:".encode()).decode()
    event = {"type": "track", "userId": "u1", "event": "Signed Up"}
    answers = [
        request(port, "GET", "/api/v1/tenant", headers={"Authorization": f"Bearer {secret}"})[0],
        request(port, "GET", "/api/v1/tenant", headers={"Authorization": f"Bearer {wrong}"})[0],
        request(port, "GET", "/api/v1/tenant", headers={"Authorization": f"Bearer {revoked}"})[0],
        request(port, "GET", f"/api/v1/tenant?api_key={secret}&token={write}")[0],
        request(port, "POST", "/v1/track", headers={"Authorization": f"Basic {basic}"}, body=json.dumps(event).encode())[0],
        request(port, "POST", "/v1/batch", body=json.dumps({"writeKey": write, "batch": [event]}).encode())[0],
        request(port, "POST", "/v1/batch", body=json.dumps({"writeKey": wrong, "batch": [event]}).encode())[0],
        request(port, "POST", "/capture/", body=json.dumps({"api_key": write, "event": "x", "distinct_id": "u"}).encode())[0],
        request(port, "POST", "/v1/track", headers={"Authorization": f"Bearer {write}"}, body=b"{not json")[0],
        request(port, "GET", "/api/v1/dashboards", headers={"Authorization": f"Bearer {write}"})[0],
        request(port, "POST", "/api/v1/query", headers={"Authorization": f"Bearer {secret}"}, body=b'{"kind": 1}')[0],
    ]
    assert answers == [200, 401, 401, 401, 200, 200, 401, 200, 400, 403, 400]
    logged = wait_until(lambda: (text := production_server["log"].read_text()).count('"POST /api/v1/query HTTP/1.1" 400')
                        and text, timeout=15, what="the access log line of the last request")
    assert logged.count('"GET /api/v1/tenant HTTP/1.1"') == 4 and "DEBUG" in logged  # the log is complete
    for key in (write, secret, revoked, wrong):
        secret_part = key[selectors.PREFIX_LENGTH:]  # the prefix alone names a key in the console and logs
        assert key not in logged and secret_part not in logged, f"a key is in the server's log: {key[:6]}…"


def test_share_and_unsubscribe_tokens_never_reach_the_logs(production_server, settings):
    from apps.dashboards.services import dashboard_create, share_create
    from apps.reports.models import Subscription
    from apps.reports.services import report_create, subscribe, unsubscribe_url

    port, tenant = production_server["port"], production_server["created"].tenant
    settings.SECRET_KEY = "s" * 50  # the server's: the unsubscribe token is an HMAC with it
    with schema_context(tenant.schema_name):
        _, share = share_create(dashboard=dashboard_create(name="kpis"))
        report = report_create(tenant=tenant, name="daily", report_type="queries", formats=["html"], query_config={
            "queries": [{"name": "views", "query": {"kind": "trends", "series": [{"event": "View"}]}}]})
        subscribe(report=report, email="ann@example.com")
        unsubscribe = unsubscribe_url(subscription=Subscription.objects.get()).rsplit("/", 1)[1]
    connection.set_schema_to_public()
    other = share[:-2] + ("ab" if not share.endswith("ab") else "cd")
    answers = [
        request(port, "GET", f"/d/{share}")[0],
        request(port, "GET", f"/d/{share}?refresh=1")[0],
        request(port, "GET", f"/d/{other}")[0],
        request(port, "GET", f"/r/unsubscribe/{unsubscribe}")[0],
        request(port, "GET", f"/r/unsubscribe/{unsubscribe}x")[0],
        request(port, "POST", f"/r/unsubscribe/{unsubscribe}", body=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"})[0],
        request(port, "DELETE", f"/r/unsubscribe/{unsubscribe}")[0],
    ]
    assert answers == [200, 200, 404, 200, 404, 200, 405]
    with schema_context(tenant.schema_name):
        assert Subscription.objects.get().unsubscribed_at is not None
    logged = wait_until(lambda: (text := production_server["log"].read_text()).count(
        '"DELETE /r/unsubscribe/<redacted> HTTP/1.1" 405') and text, timeout=15,
        what="the access log line of the last request")
    # The log is complete: each request's line, and Django's warnings about the 404s and the 405.
    assert logged.count('"GET /d/<redacted> HTTP/1.1" 200') == 2 and '"GET /d/<redacted> HTTP/1.1" 404' in logged
    assert logged.count("/r/unsubscribe/<redacted> HTTP/1.1") == 4 and "Not Found: /d/<redacted>" in logged
    assert "Method Not Allowed (DELETE): /r/unsubscribe/<redacted>" in logged
    for token in (share, other, unsubscribe):
        secret_part = token[3:]  # after sh_ or un_
        assert secret_part not in logged and secret_part[:12] not in logged, f"a token is in the log: {token[:6]}…"


def test_production_headers_and_cookies(production_server):
    port = production_server["port"]
    status, headers, cookies = request(port, "GET", "/admin/login/", headers={"X-Forwarded-Proto": "https"})
    assert status == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    csrf = next(cookie for cookie in cookies if cookie.startswith("csrftoken="))
    assert "Secure" in csrf and "HttpOnly" in csrf and "SameSite=Lax" in csrf
    # Over plain HTTP (a health probe by pod address) no HSTS is sent, as the standard says.
    assert "Strict-Transport-Security" not in request(port, "GET", "/health/live")[1]


def test_console_logins_are_limited_per_tenant_and_address(client, make_tenant, settings):
    acme, globex = make_tenant("lock-acme"), make_tenant("lock-globex")
    for handle in (acme, globex):
        with schema_context(handle.tenant.schema_name):
            get_user_model().objects.create_superuser("admin", "a@x.y", "right-password")
    connection.set_schema_to_public()

    def log_in(slug: str, password: str, address: str = "10.0.0.1") -> int:
        client.logout()
        return client.post("/admin/login/?next=/admin/", {"username": "admin", "password": password},
                           HTTP_HOST=f"{slug}.localhost", REMOTE_ADDR=address).status_code

    assert [log_in("lock-acme", "wrong") for _ in range(settings.AXES_FAILURE_LIMIT - 1)] == [200] * 4
    assert log_in("lock-acme", "wrong") == 429  # the fifth failure locks
    assert log_in("lock-acme", "right-password") == 429  # even the right password, until the cool-off
    assert log_in("lock-acme", "right-password", address="10.0.0.2") == 302  # another address
    assert log_in("lock-globex", "right-password") == 302  # another tenant's admin of the same name


def test_keys_are_compared_in_constant_time(acme, monkeypatch, settings, client):
    compared = []
    real = hmac.compare_digest

    def recording(a, b):  # noqa: ANN001, ANN202
        compared.append((type(a).__name__, type(b).__name__))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    assert selectors.api_key_resolve(raw_key=acme.secret_key).prefix == acme.created.secret_key.api_key.prefix
    altered = acme.secret_key[:-1] + ("y" if acme.secret_key.endswith("x") else "x")  # same prefix, other key
    assert selectors.api_key_resolve(raw_key=altered) is None
    assert client.get("/platform/v1/tenants", HTTP_AUTHORIZATION=f"Bearer {settings.PLATFORM_API_TOKEN}").status_code == 200
    assert len(compared) >= 2


def test_console_logins_go_on_when_redis_is_down(client, make_tenant, settings, monkeypatch):
    """The login limit fails open, like the ingestion limits: the console stays usable."""
    from axes.handlers.proxy import AxesProxyHandler
    from django.core.cache import caches

    handle = make_tenant("no-redis-co")
    with schema_context(handle.tenant.schema_name):
        get_user_model().objects.create_superuser("admin", "a@x.y", "right-password")
    connection.set_schema_to_public()
    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:1/0"}}
    caches._connections.__dict__.pop("default", None)
    monkeypatch.setattr(AxesProxyHandler, "implementation", None)  # made again, on the unreachable cache
    try:
        host = {"HTTP_HOST": "no-redis-co.localhost"}
        for _ in range(settings.AXES_FAILURE_LIMIT + 1):
            assert client.post("/admin/login/", {"username": "admin", "password": "wrong"}, **host).status_code == 200
        assert client.post("/admin/login/?next=/admin/", {"username": "admin", "password": "right-password"},
                           **host).status_code == 302
    finally:
        caches._connections.__dict__.pop("default", None)
