"""JWTs: /auth/me hands out a fresh one, expired ones are refused, and refresh rules."""

from datetime import timedelta

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from tests.accounts.factories import PASSWORD, UserFactory, jwt_for

pytestmark = pytest.mark.django_db


def token_issued(user, *, ago: timedelta) -> str:
    return jwt_for(user, ago=ago)


def test_me_returns_the_customer_and_a_fresh_token(jwt_api, user):
    response = jwt_api.get("/auth/me")

    assert response.status_code == 200
    body = response.json()
    assert body["customer"] == {
        "id": str(user.account.id),
        "name": user.account.name,
        "created_at": user.account.created_at.isoformat(),
    }
    claims = AccessToken(body["access_token"])
    assert claims["user_id"] == str(user.id)
    assert claims["account_id"] == str(user.account_id)
    assert claims["exp"] - claims["iat"] == 3600


def test_expired_jwt_is_401(api, user):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token_issued(user, ago=timedelta(hours=2))}")
    response = api.get("/auth/me")

    assert response.status_code == 401
    assert response.json() == {"error": "Invalid or expired token", "detail": "Token is expired"}
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_tampered_jwt_is_401(api, user):
    header, payload, signature = token_issued(user, ago=timedelta(0)).split(".")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {header}.{payload}.{signature[::-1]}")
    response = api.get("/auth/me")
    assert response.status_code == 401
    assert response.json()["error"] == "Invalid or expired token"


@pytest.fixture
def session_api(api, user):
    api.post("/auth/login", {"email": user.email, "password": PASSWORD}, format="json")
    return api


def refresh(client, token=None, *, body=None):
    headers = (
        {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}
        if "csrftoken" in client.cookies
        else {}
    )
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client.post("/auth/refresh", body or {}, format="json", **headers)


def test_refresh_an_expired_token_with_a_valid_session(session_api, user):
    response = refresh(session_api, token_issued(user, ago=timedelta(days=6)))

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert AccessToken(body["access_token"])["user_id"] == str(user.id)


def test_refresh_accepts_the_token_in_the_body(session_api, user):
    token = token_issued(user, ago=timedelta(hours=3))
    assert refresh(session_api, body={"access_token": token}).status_code == 200


def test_refresh_refuses_a_token_older_than_seven_days(session_api, user):
    response = refresh(session_api, token_issued(user, ago=timedelta(days=7, minutes=1)))

    assert response.status_code == 401
    assert response.json()["error"] == "Token too old to refresh"


def test_refresh_needs_a_session(api, user):
    response = refresh(api, token_issued(user, ago=timedelta(hours=2)))
    assert response.status_code == 401


def test_refresh_refuses_another_users_token(session_api):
    other = UserFactory()
    response = refresh(session_api, token_issued(other, ago=timedelta(hours=2)))

    assert response.status_code == 401
    assert response.json()["detail"] == "The token belongs to another session."


def test_refresh_refuses_a_forged_token(session_api, user):
    token = token_issued(user, ago=timedelta(hours=2))
    assert refresh(session_api, token[:-3] + "AAA").status_code == 401


def test_refresh_without_a_token_is_401(session_api):
    response = refresh(session_api)
    assert response.status_code == 401
    assert response.json()["error"] == "Missing token"
