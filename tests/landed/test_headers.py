"""Security headers and X-Request-ID on every response, errors and 429s included."""

import uuid

import pytest
from rest_framework.test import APIClient

from tests.ratelimit_windows import ip_with_fresh_window

pytestmark = pytest.mark.django_db

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "geolocation=(), microphone=(), camera=()",
}


def assert_security_headers(response):
    for header, value in SECURITY_HEADERS.items():
        assert response[header] == value, header
    uuid.UUID(response["X-Request-ID"])


def test_success_carries_security_headers(api):
    assert_security_headers(api.get("/health"))


def test_404_carries_security_headers(api):
    assert_security_headers(api.get("/missing"))


def test_401_and_422_carry_security_headers(api):
    assert_security_headers(api.get("/auth/me"))
    assert_security_headers(api.post("/auth/login", {}, format="json"))


def test_429_carries_security_headers(settings):
    settings.RATELIMIT_ENABLE = True
    settings.RATE_LIMIT_TIERS = {**settings.RATE_LIMIT_TIERS, "login": ["1/m"]}
    client = APIClient(REMOTE_ADDR=ip_with_fresh_window())
    client.post("/auth/login", {}, format="json")
    limited = client.post("/auth/login", {}, format="json")
    assert limited.status_code == 429
    assert_security_headers(limited)


@pytest.mark.urls("tests.landed.crash_urls")
def test_500_carries_security_headers():
    response = APIClient(raise_request_exception=False).get("/test/crash")
    assert response.status_code == 500
    assert_security_headers(response)


def test_client_request_id_is_echoed(api):
    response = api.get("/health", HTTP_X_REQUEST_ID="job-42.retry:1")
    assert response["X-Request-ID"] == "job-42.retry:1"


@pytest.mark.parametrize("bad", ["has space", "x" * 200, "semi;colon", ""])
def test_unusable_request_id_is_replaced_by_a_uuid(api, bad):
    response = api.get("/health", HTTP_X_REQUEST_ID=bad)
    assert response["X-Request-ID"] != bad
    uuid.UUID(response["X-Request-ID"])


def test_each_request_gets_its_own_id(api):
    assert api.get("/health")["X-Request-ID"] != api.get("/health")["X-Request-ID"]
