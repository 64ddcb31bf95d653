"""Fixtures for sign-in with Google and GitHub: a local Google and GitHub
(tests/oauth_providers.py) that Authlib talks to over HTTP, and a browser that walks the
redirects (Django's test client for our side, `requests` for the provider's)."""

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from django.http import HttpResponse
from django.test import Client

from tests.oauth_providers import FakeGitHub, FakeGoogle, FakeProvider

FRONTEND = "https://app.example.com/auth/callback"
API_ORIGIN = "http://testserver"


@pytest.fixture(autouse=True)
def _oauth_settings(settings) -> None:
    # Off unless a test's provider fixture turns it on, whatever the environment says.
    for prefix in ("GOOGLE_OAUTH", "GITHUB_OAUTH"):
        setattr(settings, f"{prefix}_CLIENT_ID", "")
        setattr(settings, f"{prefix}_CLIENT_SECRET", "")
        setattr(settings, f"{prefix}_REDIRECT_BASE_URL", "")
    settings.OAUTH_REDIRECT_BASE_URL = API_ORIGIN
    settings.OAUTH_FRONTEND_URL = FRONTEND
    settings.OAUTH_ALLOWED_REDIRECT_URLS = []
    settings.OAUTH_HTTP_TIMEOUT_SECONDS = 5.0


@pytest.fixture
def google(settings) -> Iterator[FakeGoogle]:
    with FakeGoogle() as fake:
        fake.redirect_uris = {f"{API_ORIGIN}/auth/oauth/google/callback"}
        settings.GOOGLE_OAUTH_CLIENT_ID = fake.client_id
        settings.GOOGLE_OAUTH_CLIENT_SECRET = fake.client_secret
        settings.GOOGLE_OAUTH_DISCOVERY_URL = fake.discovery_url
        settings.GOOGLE_OAUTH_TOKENINFO_URL = f"{fake.url}/tokeninfo"
        yield fake


@pytest.fixture
def github(settings) -> Iterator[FakeGitHub]:
    with FakeGitHub() as fake:
        fake.redirect_uris = {f"{API_ORIGIN}/auth/oauth/github/callback"}
        settings.GITHUB_OAUTH_CLIENT_ID = fake.client_id
        settings.GITHUB_OAUTH_CLIENT_SECRET = fake.client_secret
        settings.GITHUB_OAUTH_BASE_URL = fake.url
        settings.GITHUB_API_BASE_URL = fake.api_url
        yield fake


@pytest.fixture
def browser() -> Client:
    return Client()


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def at_provider(start: HttpResponse) -> str:
    """The browser at the provider's consent screen: where the provider sends it back."""
    assert start.status_code == 302, start.content
    answer = requests.get(start["Location"], allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def callback(browser: Client, url: str) -> HttpResponse:
    """Follow the provider's redirect back to our callback."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == API_ORIGIN, url
    return browser.get(parts.path, query_of(url))


def sign_in(
    browser: Client, provider: FakeProvider, *, name: str = "", **start_query: Any
) -> HttpResponse:
    """The whole browser sign-in; the callback's answer (a redirect to the frontend)."""
    name = name or ("google" if isinstance(provider, FakeGoogle) else "github")
    start = browser.get(f"/auth/oauth/{name}", start_query)
    return callback(browser, at_provider(start))


def landing(response: HttpResponse) -> tuple[str, dict[str, str]]:
    """Where the callback sent the browser: (URL without query, query)."""
    assert response.status_code == 302, response.content
    location = response["Location"]
    return location.split("?")[0], query_of(location)
