"""Sign in with GitHub: OAuth 2.0 with PKCE through Authlib, then GitHub's /user and
/user/emails, against the local GitHub."""

import pytest
from django.test import Client

from landed.accounts.models import OAuthState, SocialIdentity, User
from tests.accounts.factories import UserFactory
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


def test_start_redirects_to_githubs_consent_screen_with_pkce(browser, github):
    response = browser.get("/auth/oauth/github")

    assert response.status_code == 302
    assert response["Location"].startswith(f"{github.url}/login/oauth/authorize?")
    params = query_of(response["Location"])
    row = OAuthState.objects.get()
    assert params["client_id"] == github.client_id
    assert params["redirect_uri"] == f"{API_ORIGIN}/auth/oauth/github/callback"
    assert params["scope"] == "read:user user:email"
    assert params["code_challenge_method"] == "S256"
    assert params["code_challenge"] == s256(row.code_verifier)
    assert "nonce" not in params  # GitHub is not OpenID Connect
    assert response.cookies["landed_oauth"]["max-age"] == 600


def test_a_new_person_signs_up_with_the_primary_verified_email(browser, github):
    target, params = landing(sign_in(browser, github))

    assert target == FRONTEND and set(params) == {"code"}
    user = User.objects.get()
    assert user.email == "octo@example.com"
    assert user.account.name == "The Octocat"
    assert not user.has_usable_password()
    identity = SocialIdentity.objects.get()
    assert (identity.provider, identity.subject) == ("github", "583231")
    assert browser.get("/auth/me").json()["user"]["email"] == "octo@example.com"
    exchanged = Client().post(
        "/auth/exchange-code", {"code": params["code"]}, content_type="application/json"
    )
    assert exchanged.status_code == 200


def test_the_token_is_fetched_with_the_pkce_verifier_and_client_secret(browser, github):
    back = at_provider(browser.get("/auth/oauth/github"))
    OAuthState.objects.update(code_verifier="y" * 64)

    assert landing(callback(browser, back))[1] == {"error": "code_rejected", "provider": "github"}


def test_an_unverified_primary_email_never_takes_over_an_existing_account(browser, github):
    owner = UserFactory(email="octo@example.com")
    # The primary address is unverified; a verified secondary one does not stand in for it.
    github.user["emails"][0]["verified"] = False

    assert landing(sign_in(browser, github))[1] == {
        "error": "email_unverified",
        "provider": "github",
    }
    assert not SocialIdentity.objects.exists()
    assert list(User.objects.all()) == [owner]


def test_an_unverified_primary_email_makes_no_account(browser, github):
    github.user["emails"][0]["verified"] = False

    assert landing(sign_in(browser, github))[1]["error"] == "email_unverified"
    assert not User.objects.exists()


def test_a_verified_primary_email_links_the_existing_password_account(browser, github):
    owner = UserFactory(email="octo@example.com")

    landing(sign_in(browser, github))

    assert SocialIdentity.objects.get().user == owner
    assert owner.social_identities.get().provider == "github"
    assert browser.get("/auth/me").json()["user"]["id"] == str(owner.id)


def test_one_user_may_have_google_and_github(browser, github, google):
    google.user = {**google.user, "email": "octo@example.com"}
    landing(sign_in(browser, google))
    landing(sign_in(Client(), github))

    user = User.objects.get()
    assert sorted(user.social_identities.values_list("provider", flat=True)) == [
        "github",
        "google",
    ]


def test_an_identity_linked_to_one_account_does_not_move_to_another(browser, github):
    landing(sign_in(browser, github))
    first = User.objects.get()
    other = UserFactory(email="new@example.com")
    github.user["emails"] = [{"email": "new@example.com", "primary": True, "verified": True}]

    browser = Client()
    landing(sign_in(browser, github))

    assert browser.get("/auth/me").json()["user"]["id"] == str(first.id)
    assert not other.social_identities.exists()


def test_a_reused_authorization_code_is_refused(browser, github):
    first = at_provider(browser.get("/auth/oauth/github"))
    assert "code" in landing(callback(browser, first))[1]
    fresh = query_of(at_provider(browser.get("/auth/oauth/github")))

    response = browser.get(
        "/auth/oauth/github/callback", {"state": fresh["state"], "code": query_of(first)["code"]}
    )

    # GitHub answers bad_verification_code in a 200 body; Authlib raises it all the same.
    assert landing(response)[1] == {"error": "code_rejected", "provider": "github"}


def test_denied_consent(browser, github):
    github.deny_next()

    assert landing(sign_in(browser, github)) == (
        FRONTEND,
        {"error": "access_denied", "provider": "github"},
    )


def test_a_replayed_callback_is_refused(browser, github):
    back = at_provider(browser.get("/auth/oauth/github"))
    landing(callback(browser, back))

    assert landing(callback(browser, back))[1]["error"] == "state_used"


@pytest.mark.parametrize("path", ["/login/oauth/access_token", "/api/user", "/api/user/emails"])
def test_github_5xx_sends_the_browser_back_with_provider_unavailable(browser, github, path):
    github.fail(path, 502)

    assert landing(sign_in(browser, github))[1] == {
        "error": "provider_unavailable",
        "provider": "github",
    }
    assert not User.objects.exists()


def test_github_down_sends_the_browser_back_with_provider_unavailable(
    browser, github, settings, unused_port
):
    back = at_provider(browser.get("/auth/oauth/github"))
    settings.GITHUB_OAUTH_BASE_URL = f"http://127.0.0.1:{unused_port}"

    assert landing(callback(browser, back))[1]["error"] == "provider_unavailable"


def test_not_configured_is_503(browser, github, settings):
    settings.GITHUB_OAUTH_CLIENT_ID = ""

    response = browser.get("/auth/oauth/github")

    assert response.status_code == 503
    assert response.json()["error"] == "Sign-in with GitHub is not configured"
    assert browser.get("/auth/oauth/github/callback").status_code == 503


def test_a_wrong_client_secret_is_a_refused_code_not_a_crash(browser, github, settings):
    settings.GITHUB_OAUTH_CLIENT_SECRET = "not-the-secret"

    assert landing(sign_in(browser, github))[1]["error"] == "code_rejected"


def test_the_callback_url_follows_the_configured_base(browser, github, settings):
    settings.GITHUB_OAUTH_REDIRECT_BASE_URL = "https://api.landed.example/"

    response = browser.get("/auth/oauth/github")

    assert query_of(response["Location"])["redirect_uri"] == (
        "https://api.landed.example/auth/oauth/github/callback"
    )
