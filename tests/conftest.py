"""Shared fixtures. Tests run against the real PostgreSQL and Redis named in the environment."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.db.backends.postgresql.operations import (
    DatabaseOperations as PostgreSQLOperations,
)
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


def _sql_flush_by_delete(
    self: Any,
    style: Any,
    tables: list[str],
    *,
    reset_sequences: bool = False,
    allow_cascade: bool = False,
) -> list[str]:
    """Empty the tables with DELETE, not TRUNCATE. After each transactional test (the
    end-to-end ones, every test with real worker processes) the database is flushed; TRUNCATE
    gives each of its tables, indexes and TOAST tables new files, and took one to two seconds
    on the test server (fsync on), where DELETE of the few rows a test leaves takes
    milliseconds. Django declares its foreign keys DEFERRABLE INITIALLY DEFERRED and the flush
    runs in one transaction, so the order of the tables does not matter: the keys are checked
    at commit, when every table is empty."""
    if not tables or reset_sequences or allow_cascade:
        return _truncating_sql_flush(
            self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
    return [
        "SET CONSTRAINTS ALL DEFERRED",
        *(f"{style.SQL_KEYWORD('DELETE FROM')} {self.quote_name(t)}" for t in tables),
    ]


_truncating_sql_flush = PostgreSQLOperations.sql_flush


@pytest.fixture(autouse=True, scope="session")
def _flush_by_delete() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PostgreSQLOperations, "sql_flush", _sql_flush_by_delete)
        yield


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
