"""POST /auth/oauth/exchange: a provider access token (the NextAuth flow) for a Landed JWT."""

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from landed.accounts.models import SocialIdentity, User
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db

EXCHANGE = "/auth/oauth/exchange"


def exchange(api, provider: str, token: str):
    return api.post(EXCHANGE, {"provider": provider, "access_token": token}, format="json")


def test_a_google_token_is_exchanged_for_a_jwt_and_a_session(api, google):
    token = google.issue_access_token(scope="openid email profile")

    response = exchange(api, "google", token)

    assert response.status_code == 200, response.content
    body = response.json()
    user = User.objects.get(email="ada@example.com")
    assert body["user"]["id"] == str(user.id)
    assert AccessToken(body["access_token"])["user_id"] == str(user.id)
    assert "landed_session" in response.cookies
    assert SocialIdentity.objects.get().subject == google.user["sub"]
    assert api.get("/auth/me").status_code == 200


def test_a_github_token_is_exchanged_for_a_jwt(api, github):
    token = github.issue_access_token(scope="read:user,user:email")

    response = exchange(api, "github", token)

    assert response.status_code == 200, response.content
    assert response.json()["user"]["email"] == "octo@example.com"
    assert github.hits(f"/api/applications/{github.client_id}/token") == 1


@pytest.mark.parametrize("provider", ["google", "github"])
def test_a_token_issued_to_another_application_is_401(api, google, github, provider):
    fake = google if provider == "google" else github
    token = fake.issue_access_token(client_id="someone-elses-app", scope="read:user,user:email")

    response = exchange(api, provider, token)

    assert response.status_code == 401
    assert response.json()["error"] == f"Invalid {fake.__class__.__name__[4:]} access token"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert not User.objects.exists()


@pytest.mark.parametrize("provider", ["google", "github"])
def test_an_unknown_token_is_401(api, google, github, provider):
    response = exchange(api, provider, "not-a-token")

    assert response.status_code == 401
    assert set(response.json()) == {"error", "detail"}


def test_a_github_token_without_the_email_scope_is_403(api, github):
    token = github.issue_access_token(scope="read:user")

    response = exchange(api, "github", token)

    assert response.status_code == 403
    assert response.json()["error"] == "No verified email"


def test_the_same_linking_rules_apply(api, google):
    UserFactory(email="ada@example.com")
    google.user = {**google.user, "email_verified": False}

    response = exchange(api, "google", google.issue_access_token())

    assert response.status_code == 403
    assert response.json()["error"] == "No verified email"
    assert not SocialIdentity.objects.exists()


@pytest.mark.parametrize("provider", ["google", "github"])
def test_not_configured_is_503(api, provider):
    response = exchange(api, provider, "anything")

    assert response.status_code == 503
    assert response.json()["error"].startswith("Sign-in with ")


@pytest.mark.parametrize(
    ("provider", "path"),
    [("google", "/tokeninfo"), ("google", "/v1/userinfo"), ("github", "/api/user")],
)
def test_provider_5xx_is_502(api, google, github, provider, path):
    fake = google if provider == "google" else github
    fake.fail(path, 500)
    token = fake.issue_access_token(scope="read:user,user:email")

    response = exchange(api, provider, token)

    assert response.status_code == 502
    assert response.json()["error"].endswith(" is unavailable")


def test_provider_unreachable_is_502(api, github, settings, unused_port):
    token = github.issue_access_token(scope="read:user,user:email")
    settings.GITHUB_API_BASE_URL = f"http://127.0.0.1:{unused_port}"

    response = exchange(api, "github", token)

    assert response.status_code == 502
    assert response.json() == {
        "error": "GitHub is unavailable",
        "detail": "check token: ConnectionError",
    }


def test_a_wrong_client_secret_at_github_is_502_not_401(api, github, settings):
    token = github.issue_access_token(scope="read:user,user:email")
    settings.GITHUB_OAUTH_CLIENT_SECRET = "not-the-secret"

    response = exchange(api, "github", token)

    assert response.status_code == 502


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"provider": "facebook", "access_token": "x"}, ["body", "provider"]),
        ({"provider": "google"}, ["body", "access_token"]),
        ({"provider": "google", "access_token": 42}, ["body", "access_token"]),
    ],
)
def test_a_bad_body_is_422(api, body, loc):
    response = api.post(EXCHANGE, body, format="json")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc
