"""GET /api/v1/tenant: routed by API key only, failing closed."""

from __future__ import annotations

import pytest

from apps.tenancy.services import api_key_revoke
from tests.helpers import assert_error, basic, bearer

URL = "/api/v1/tenant"


def test_secret_key_answers_its_own_tenant(api_client, acme, globex):
    response = api_client.get(URL, **bearer(acme.secret_key))
    assert response.status_code == 200
    assert response.json() == {
        "slug": "acme",
        "name": "Acme Corp",
        "timezone": "America/New_York",
        "retention_days": 365,
        "monthly_event_quota": 10_000_000,
        "created_at": response.json()["created_at"],
        "session_gap_minutes": 30,
    }
    assert api_client.get(URL, **bearer(globex.secret_key)).json()["slug"] == "globex"


def test_the_host_name_does_not_choose_the_tenant(api_client, acme, globex):
    response = api_client.get(URL, HTTP_HOST="acme.localhost", **bearer(globex.secret_key))
    assert response.json()["slug"] == "globex"


def test_http_basic_username_is_accepted_as_the_key(api_client, acme):
    assert api_client.get(URL, **basic(acme.secret_key)).json()["slug"] == "acme"


def test_no_key_is_401(api_client, acme):
    response = api_client.get(URL)
    assert_error(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer sk_" + "A" * 40,  # well-formed, unknown
        "Bearer sk_short",
        "Bearer ",
        "Token whatever",
        "Basic !!!not-base64!!!",
        "Bearer sk_" + "A" * 40 + "\u00e9",
    ],
)
def test_unknown_or_malformed_keys_are_401(api_client, acme, header):
    assert_error(api_client.get(URL, HTTP_AUTHORIZATION=header), 401, "unauthenticated")


def test_a_key_with_a_known_prefix_but_wrong_secret_is_401(api_client, acme):
    forged = acme.secret_key[:11] + ("B" if acme.secret_key[11] != "B" else "C") + acme.secret_key[12:]
    assert_error(api_client.get(URL, **bearer(forged)), 401, "unauthenticated")


def test_revoked_key_is_401_at_once(api_client, acme):
    assert api_client.get(URL, **bearer(acme.secret_key)).status_code == 200
    api_key_revoke(prefix=acme.secret_key[:11])
    assert_error(api_client.get(URL, **bearer(acme.secret_key)), 401, "unauthenticated")


def test_write_key_on_a_read_endpoint_is_403(api_client, acme):
    assert_error(api_client.get(URL, **bearer(acme.write_key)), 403, "forbidden")


def test_write_key_is_refused_on_any_non_ingestion_api_path(api_client, acme):
    assert_error(api_client.get("/api/v1/anything-else", **bearer(acme.write_key)), 403, "forbidden")


def test_unknown_api_path_with_a_valid_key_is_a_json_404(api_client, acme):
    assert_error(api_client.get("/api/v1/nope", **bearer(acme.secret_key)), 404, "not_found")


def test_method_not_allowed_uses_the_error_body(api_client, acme):
    assert_error(api_client.post(URL, {}, format="json", **bearer(acme.secret_key)), 405, "method_not_allowed")
