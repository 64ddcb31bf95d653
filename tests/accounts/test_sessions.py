"""The session cookie: CSRF on writes, logout, and its place first in the auth order."""

import pytest
from rest_framework.test import APIClient

from tests.accounts.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def session_api(api, user):
    assert (
        api.post(
            "/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
        ).status_code
        == 200
    )
    return api


def csrf_header(client: APIClient) -> dict[str, str]:
    return {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}


def test_cookie_write_without_csrf_token_is_403_json(session_api):
    response = session_api.post("/auth/api-keys", {"name": "ci"}, format="json")

    assert response.status_code == 403
    body = response.json()
    assert body["error"] == "Forbidden"
    assert "CSRF" in body["detail"]


def test_cookie_write_with_csrf_token_succeeds(session_api):
    response = session_api.post(
        "/auth/api-keys", {"name": "ci"}, format="json", **csrf_header(session_api)
    )
    assert response.status_code == 201


def test_cookie_reads_need_no_csrf_token(session_api, user):
    response = session_api.get("/auth/me")
    assert response.status_code == 200
    assert response.json()["user"]["email"] == user.email


def test_logout_ends_the_session_and_clears_the_cookie(session_api):
    response = session_api.post("/auth/logout", **csrf_header(session_api))

    assert response.status_code == 204
    assert response.cookies["landed_session"].value == ""
    assert session_api.get("/auth/me").status_code == 401


def test_logout_needs_a_session(jwt_api):
    response = jwt_api.post("/auth/logout")
    assert response.status_code == 401
    assert response.json()["error"] == "Not authenticated"


def test_session_cookie_is_checked_before_a_bearer_token(session_api, user):
    other = UserFactory()
    token = (
        APIClient()
        .post("/auth/login", {"email": other.email, "password": PASSWORD}, format="json")
        .json()["access_token"]
    )
    session_api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert session_api.get("/auth/me").json()["user"]["id"] == str(user.id)


def test_unauthenticated_is_401_with_a_bearer_challenge(api):
    response = api.get("/auth/me")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json() == {
        "error": "Not authenticated",
        "detail": "Authentication credentials were not provided.",
    }


def test_session_of_a_disabled_user_stops_working(session_api, user):
    user.is_active = False
    user.save()
    assert session_api.get("/auth/me").status_code == 401
