"""The whole sign-in as a browser makes it: `requests.Session` following every redirect, from
the API (served over HTTP by pytest-django's live server) to the local provider's consent
screen, back to the API's callback, and on to the frontend; then the frontend exchanges the
one-time code for a JWT, and the session cookie signs the browser in."""

import pytest
import requests

from landed.accounts.models import SocialIdentity
from tests.accounts.oauth.conftest import query_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def served(settings, live_server):
    settings.OAUTH_REDIRECT_BASE_URL = live_server.url
    # Plain HTTP on loopback: a Secure cookie would not come back.
    settings.SESSION_COOKIE_SECURE = False
    return live_server.url


def walk(api: str, provider, name: str) -> tuple[requests.Session, requests.Response]:
    provider.redirect_uris = {f"{api}/auth/oauth/{name}/callback"}
    browser = requests.Session()
    landed = browser.get(f"{api}/auth/oauth/{name}", params={"next": "/welcome"}, timeout=10)
    return browser, landed


@pytest.mark.parametrize("name", ["google", "github"])
def test_sign_in_end_to_end(served, settings, google, github, name):
    provider = google if name == "google" else github
    settings.OAUTH_FRONTEND_URL = provider.frontend_url
    settings.OAUTH_ALLOWED_REDIRECT_URLS = [provider.frontend_url, f"{provider.url}/welcome"]

    browser, landed = walk(served, provider, name)

    # The hops: API -> provider's consent screen -> API callback -> the frontend's page.
    assert [r.status_code for r in landed.history] == [302, 302, 302]
    assert landed.history[1].url.startswith(provider.url)
    assert landed.history[2].url.startswith(f"{served}/auth/oauth/{name}/callback?")
    assert landed.url.startswith(f"{provider.url}/welcome?")
    code = query_of(landed.url)["code"]

    # The frontend turns the code into a JWT ...
    session = requests.post(f"{served}/auth/exchange-code", json={"code": code}, timeout=10)
    assert session.status_code == 200
    jwt = session.json()["access_token"]
    me = requests.get(f"{served}/auth/me", headers={"Authorization": f"Bearer {jwt}"}, timeout=10)
    assert me.json()["user"]["email"] == provider.user.get("email", "octo@example.com")
    # ... once only.
    again = requests.post(f"{served}/auth/exchange-code", json={"code": code}, timeout=10)
    assert again.status_code == 401
    # The browser holds the session cookie (httpOnly, set by the callback).
    assert browser.get(f"{served}/auth/me", timeout=10).status_code == 200
    assert SocialIdentity.objects.get().provider == name


def test_a_replayed_callback_url_lands_on_the_frontend_with_an_error(served, settings, google):
    settings.OAUTH_FRONTEND_URL = google.frontend_url
    browser, landed = walk(served, google, "google")
    callback_url = landed.history[2].url

    replayed = browser.get(callback_url, timeout=10)

    assert replayed.url.startswith(google.frontend_url)
    assert replayed.json() == {"error": "state_used", "provider": "google"}
