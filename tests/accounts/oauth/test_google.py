"""Sign in with Google: OpenID Connect through Authlib against the local Google."""

from datetime import timedelta

import pytest
import requests
from django.core import signing
from django.test import Client
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from landed.accounts.models import OAuthState, SocialIdentity, User
from tests.accounts.factories import PASSWORD, UserFactory
from tests.accounts.oauth.conftest import (
    API_ORIGIN,
    FRONTEND,
    at_provider,
    callback,
    landing,
    query_of,
    sign_in,
)
from tests.oauth_providers import s256

pytestmark = pytest.mark.django_db


def test_start_redirects_to_the_consent_screen_with_signed_state_pkce_and_nonce(browser, google):
    response = browser.get("/auth/oauth/google")

    assert response.status_code == 302
    assert response["Location"].startswith(f"{google.url}/o/oauth2/v2/auth?")
    assert "no-store" in response["Cache-Control"]
    params = query_of(response["Location"])
    row = OAuthState.objects.get()
    assert params["client_id"] == google.client_id
    assert params["redirect_uri"] == f"{API_ORIGIN}/auth/oauth/google/callback"
    assert params["response_type"] == "code"
    assert params["scope"] == "openid email profile"
    assert params["code_challenge_method"] == "S256"
    assert params["code_challenge"] == s256(row.code_verifier)
    assert params["nonce"] == row.nonce
    # The state is signed: what it carries cannot be altered.
    payload = signing.TimestampSigner(salt="landed.accounts.oauth.state").unsign_object(
        params["state"]
    )
    assert payload["p"] == "google"
    # Bound to this browser by a short-lived cookie sent only to the OAuth endpoints.
    cookie = response.cookies["landed_oauth"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert cookie["path"] == "/auth/oauth/"
    assert cookie["max-age"] == 600
    assert row.expires_at - row.created_at == timedelta(minutes=10)
    # Nothing the callback needs that must stay secret travels through the browser.
    assert row.code_verifier not in response["Location"]


def test_a_new_person_gets_an_account_a_session_and_a_one_time_code(browser, google):
    response = sign_in(browser, google)

    target, params = landing(response)
    assert target == FRONTEND
    assert set(params) == {"code"}
    user = User.objects.get(email="ada@example.com")
    assert user.account.name == "Ada Lovelace"
    # Signed up through Google: no password until the user sets one.
    assert not user.has_usable_password()
    identity = SocialIdentity.objects.get()
    assert (identity.user, identity.provider, identity.subject) == (
        user,
        "google",
        google.user["sub"],
    )
    assert identity.last_login_at is not None
    # The session cookie is set: the browser is signed in.
    assert browser.get("/auth/me").json()["user"]["email"] == "ada@example.com"
    # The code turns into a JWT once.
    exchanged = Client().post(
        "/auth/exchange-code", {"code": params["code"]}, content_type="application/json"
    )
    assert exchanged.status_code == 200
    assert AccessToken(exchanged.json()["access_token"])["user_id"] == str(user.id)
    again = Client().post(
        "/auth/exchange-code", {"code": params["code"]}, content_type="application/json"
    )
    assert again.status_code == 401


def test_signing_in_again_uses_the_linked_identity(browser, google):
    sign_in(browser, google)
    landing(sign_in(Client(), google))

    assert User.objects.count() == 1
    assert SocialIdentity.objects.count() == 1


def test_discovery_document_and_keys_are_cached(browser, google):
    sign_in(browser, google)
    google.user = {**google.user, "sub": "2", "email": "b@example.com"}
    sign_in(Client(), google)

    assert google.hits("/.well-known/openid-configuration") == 1
    assert google.hits("/oauth2/v3/certs") == 1


def test_a_rotated_signing_key_is_fetched_again(browser, google):
    sign_in(browser, google)
    google.rotate_key()
    google.user = {**google.user, "sub": "2", "email": "b@example.com"}

    _, params = landing(sign_in(Client(), google))

    assert "code" in params
    assert google.hits("/oauth2/v3/certs") == 2


@pytest.mark.parametrize(
    "claims",
    [
        {"aud": "another-client"},
        {"iss": "https://accounts.example.org"},
        {"exp": 1_000_000_000, "iat": 999_990_000},
        {"nonce": "not-the-nonce-we-sent"},
        {"nonce": None},
        {"sub": None},
    ],
    ids=["audience", "issuer", "expired", "nonce", "no-nonce", "no-subject"],
)
def test_an_id_token_that_fails_a_check_signs_no_one_in(browser, google, claims):
    google.id_token_claims = claims

    _, params = landing(sign_in(browser, google))

    assert params == {"error": "id_token_invalid", "provider": "google"}
    assert not User.objects.exists()
    assert browser.get("/auth/me").status_code == 401


def test_an_id_token_not_signed_by_googles_published_key_signs_no_one_in(browser, google):
    google.sign_with_other_key()

    _, params = landing(sign_in(browser, google))

    assert params["error"] == "id_token_invalid"
    assert not User.objects.exists()


def test_the_issuer_without_its_scheme_is_googles_too(browser, google):
    # Google documents both spellings of its issuer in ID tokens.
    google.id_token_claims = {"iss": "accounts.google.com"}

    assert "code" in landing(sign_in(browser, google))[1]


def test_not_configured_is_503(browser, settings, google):
    settings.GOOGLE_OAUTH_CLIENT_SECRET = ""

    for path in ("/auth/oauth/google", "/auth/oauth/google/callback"):
        response = browser.get(path)
        assert response.status_code == 503
        assert response.json() == {
            "error": "Sign-in with Google is not configured",
            "detail": "Set GOOGLE_OAUTH_CLIENT_ID and GOOGLE_OAUTH_CLIENT_SECRET "
            "(see docs/auth.md).",
        }


def test_google_unreachable_at_start_is_502(browser, settings, unused_port, google):
    settings.GOOGLE_OAUTH_DISCOVERY_URL = (
        f"http://127.0.0.1:{unused_port}/.well-known/openid-configuration"
    )

    response = browser.get("/auth/oauth/google")

    assert response.status_code == 502
    assert response.json()["error"] == "Google is unavailable"


def test_google_5xx_at_start_is_502(browser, google):
    google.fail("/.well-known/openid-configuration", 503)

    response = browser.get("/auth/oauth/google")

    assert response.status_code == 502
    assert response.json() == {
        "error": "Google is unavailable",
        "detail": "discovery document: HTTP 503",
    }


def test_token_endpoint_5xx_sends_the_browser_back_with_provider_unavailable(browser, google):
    google.fail("/token", 500)

    target, params = landing(sign_in(browser, google))

    assert target == FRONTEND
    assert params == {"error": "provider_unavailable", "provider": "google"}


def test_google_down_at_the_callback_sends_the_browser_back_with_provider_unavailable(
    browser, google
):
    back = at_provider(browser.get("/auth/oauth/google"))
    google.__exit__()  # the port is closed now

    _, params = landing(callback(browser, back))

    assert params["error"] == "provider_unavailable"


def test_denied_consent(browser, google):
    google.deny_next()

    target, params = landing(sign_in(browser, google))

    assert target == FRONTEND
    assert params == {"error": "access_denied", "provider": "google"}
    assert not User.objects.exists()
    assert OAuthState.objects.get().used_at is not None


@pytest.mark.parametrize(
    "state",
    ["", "garbage", "eyJpZCI6IngiLCJwIjoiZ29vZ2xlIn0:1tZz:forged-signature"],
    ids=["missing", "garbage", "forged"],
)
def test_a_bad_state_is_refused(browser, google, state):
    back = at_provider(browser.get("/auth/oauth/google"))
    params = query_of(back)
    params["state"] = state

    response = browser.get("/auth/oauth/google/callback", params)

    assert landing(response) == (FRONTEND, {"error": "invalid_state", "provider": "google"})
    assert not User.objects.exists()


def test_a_state_for_another_provider_is_refused(browser, google, github):
    google_back = at_provider(browser.get("/auth/oauth/google"))
    github_back = at_provider(browser.get("/auth/oauth/github"))

    response = browser.get(
        "/auth/oauth/google/callback",
        {"code": query_of(google_back)["code"], "state": query_of(github_back)["state"]},
    )

    assert landing(response)[1]["error"] == "invalid_state"


def test_a_replayed_callback_is_refused(browser, google):
    back = at_provider(browser.get("/auth/oauth/google"))
    assert "code" in landing(callback(browser, back))[1]

    assert landing(callback(browser, back))[1] == {"error": "state_used", "provider": "google"}


def test_an_expired_state_is_refused(browser, google):
    back = at_provider(browser.get("/auth/oauth/google"))
    OAuthState.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert landing(callback(browser, back))[1]["error"] == "state_expired"


def test_a_state_signed_more_than_ten_minutes_ago_is_refused(browser, google, monkeypatch):
    back = at_provider(browser.get("/auth/oauth/google"))
    real_time = signing.time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() + 601)

    assert landing(callback(browser, back))[1]["error"] == "state_expired"


def test_the_callback_in_another_browser_is_refused(browser, google):
    back = at_provider(browser.get("/auth/oauth/google"))
    other = Client()
    other.get("/auth/oauth/google")  # a cookie of its own sign-in

    assert landing(callback(other, back))[1]["error"] == "state_mismatch"
    assert landing(callback(Client(), back))[1]["error"] == "state_mismatch"
    # Not spent by the attempts: the browser that started it can still finish.
    assert "code" in landing(callback(browser, back))[1]


def test_two_sign_ins_started_in_two_tabs_both_finish(browser, google):
    first = at_provider(browser.get("/auth/oauth/google"))
    second = at_provider(browser.get("/auth/oauth/google"))

    assert "code" in landing(callback(browser, first))[1]
    assert "code" in landing(callback(browser, second))[1]


def test_an_authorization_code_used_before_is_refused(browser, google):
    first = at_provider(browser.get("/auth/oauth/google"))
    assert "code" in landing(callback(browser, first))[1]
    # A fresh state, with the code the provider already redeemed.
    fresh = query_of(at_provider(browser.get("/auth/oauth/google")))

    response = browser.get(
        "/auth/oauth/google/callback",
        {"state": fresh["state"], "code": query_of(first)["code"]},
    )

    assert landing(response)[1] == {"error": "code_rejected", "provider": "google"}


def test_the_pkce_verifier_is_checked_by_the_provider(browser, google):
    back = at_provider(browser.get("/auth/oauth/google"))
    OAuthState.objects.update(code_verifier="x" * 64)

    assert landing(callback(browser, back))[1]["error"] == "code_rejected"
    assert not User.objects.exists()


def test_the_callback_without_a_code_is_refused(browser, google):
    back = query_of(at_provider(browser.get("/auth/oauth/google")))

    response = browser.get("/auth/oauth/google/callback", {"state": back["state"]})

    assert landing(response)[1]["error"] == "code_missing"


# --- Linking -----------------------------------------------------------------------------------
def test_an_unverified_email_never_takes_over_an_existing_account(browser, google):
    owner = UserFactory(email="ada@example.com")
    google.user = {**google.user, "email_verified": False}

    _, params = landing(sign_in(browser, google))

    assert params == {"error": "email_unverified", "provider": "google"}
    assert not SocialIdentity.objects.exists()
    assert User.objects.get() == owner
    assert browser.get("/auth/me").status_code == 401


def test_an_unverified_email_does_not_claim_an_address_for_a_new_account(browser, google):
    google.user = {**google.user, "email_verified": False}

    assert landing(sign_in(browser, google))[1]["error"] == "email_unverified"
    assert not User.objects.exists()


def test_a_verified_email_links_the_existing_password_account(browser, google):
    owner = UserFactory(email="Ada@Example.com")

    _, params = landing(sign_in(browser, google))

    assert "code" in params
    assert User.objects.get() == owner
    assert SocialIdentity.objects.get().user == owner
    # Both ways in now: the password still works.
    login = Client().post(
        "/auth/login",
        {"email": "ada@example.com", "password": PASSWORD},
        content_type="application/json",
    )
    assert login.status_code == 200


def test_an_identity_stays_with_the_account_it_signed_in_to_first(browser, google):
    landing(sign_in(browser, google))
    first = User.objects.get()
    other = UserFactory(email="grace@example.com")
    # At Google, the account's email is now another user's (verified) address.
    google.user = {**google.user, "email": "grace@example.com"}

    browser = Client()
    landing(sign_in(browser, google))

    assert browser.get("/auth/me").json()["user"]["id"] == str(first.id)
    assert not other.social_identities.exists()
    assert SocialIdentity.objects.get().email == "grace@example.com"


def test_a_disabled_account_cannot_sign_in(browser, google):
    UserFactory(email="ada@example.com", is_active=False)

    assert landing(sign_in(browser, google))[1]["error"] == "account_disabled"


# --- Where the browser goes ------------------------------------------------------------------
def test_next_may_name_an_allowed_page(browser, google, settings):
    settings.OAUTH_ALLOWED_REDIRECT_URLS = ["https://app.example.com/welcome"]

    target, params = landing(
        sign_in(browser, google, next="https://app.example.com/welcome/tour?step=2")
    )

    assert target == "https://app.example.com/welcome/tour"
    assert params["step"] == "2"
    assert "code" in params


def test_next_may_be_a_path_on_the_frontend(browser, google):
    target, params = landing(sign_in(browser, google, next="/connectors"))

    assert target == "https://app.example.com/connectors"
    assert "code" in params


def test_errors_go_to_the_page_that_started_the_sign_in(browser, google):
    google.deny_next()

    target, params = landing(sign_in(browser, google, next="/connectors"))

    assert target == "https://app.example.com/connectors"
    assert params["error"] == "access_denied"


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example.net/",
        "//evil.example.net/x",
        "https://app.example.com.evil.example.net/",
        "https://app.example.com@evil.example.net/",
        "http://app.example.com/",  # another scheme
        "https://app.example.com:8443/",  # another port
        "javascript:alert(1)",
        "/\\evil.example.net",
        "https://app.example.com/\r\nLocation: https://evil.example.net/",
    ],
)
def test_next_outside_the_allow_list_is_refused(browser, google, next_url):
    response = browser.get("/auth/oauth/google", {"next": next_url})

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "next"]
    assert response.json()["detail"][0]["type"] == "redirect_not_allowed"
    assert not OAuthState.objects.exists()


def test_an_allow_list_entry_is_matched_by_path_segment(browser, google, settings):
    settings.OAUTH_ALLOWED_REDIRECT_URLS = ["https://app.example.com/welcome"]

    refused = browser.get("/auth/oauth/google", {"next": "https://app.example.com/welcomex"})

    assert refused.status_code == 422


# --- Limits ----------------------------------------------------------------------------------
def test_the_endpoints_are_on_the_sensitive_tier(google, settings):
    from tests.ratelimit_windows import ip_with_fresh_window

    settings.RATELIMIT_ENABLE = True
    browser = Client(REMOTE_ADDR=ip_with_fresh_window())

    answers = [browser.get("/auth/oauth/google").status_code for _ in range(11)]

    assert answers == [302] * 10 + [429]


def test_the_provider_is_called_on_loopback_only(google):
    # The suite's providers are local: a guard against a test reaching the real Google.
    assert google.url.startswith("http://127.0.0.1:")
    discovery = requests.get(google.discovery_url, timeout=5).json()
    assert discovery["token_endpoint"].startswith(google.url)


def test_a_next_path_too_long_once_resolved_is_422_not_500(browser, google):
    response = browser.get("/auth/oauth/google", {"next": "/" + "a" * 1999})

    assert response.status_code == 422


def test_an_email_longer_than_a_user_may_have_is_refused_not_500(browser, google):
    google.user = {**google.user, "email": "a" * 250 + "@example.com"}

    assert landing(sign_in(browser, google))[1]["error"] == "email_unverified"
    assert not User.objects.exists()
