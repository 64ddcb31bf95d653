"""Shared fixtures. Tests run against the real PostgreSQL and Redis named in the environment."""

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.accounts.factories import PASSWORD, UserFactory
from tests.clients import client_for


@pytest.fixture(autouse=True)
def _test_settings(settings) -> None:
    # Fast hashing: the suite signs users in hundreds of times. Production hashing is covered
    # by a test of its own.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Rate limits are switched on only by the tests that are about them.
    settings.RATELIMIT_ENABLE = False


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api() -> APIClient:
    """A client that enforces CSRF as a browser-facing server does."""
    return APIClient(enforce_csrf_checks=True)


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def client(user) -> APIClient:
    """`user`'s client, authenticated by an API key (as scripts use the API)."""
    return client_for(user)


@pytest.fixture
def operator(db):
    """A Django test client signed in to the admin as an operator."""
    from django.core.management import call_command
    from django.test import Client

    call_command("create_operator", "--email", "ops@example.com", "--password", "ops-pass-2026!")
    browser = Client()
    assert browser.login(email="ops@example.com", password="ops-pass-2026!")
    return browser


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def jwt_api(api: APIClient, user) -> APIClient:
    """A client that authenticates with the user's JWT."""
    response = api.post("/auth/login", {"email": user.email, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    fresh = APIClient(enforce_csrf_checks=True)
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access_token']}")
    return fresh


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
