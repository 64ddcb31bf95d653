"""Input built to break parsers, headers and negotiation still gets the JSON envelope."""

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from tests.accounts.factories import jwt_for

pytestmark = pytest.mark.django_db


def test_deeply_nested_json_is_400(api):
    body = "[" * 100_000 + "]" * 100_000
    response = api.post("/auth/exchange-code", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"error": "Malformed JSON", "detail": "JSON nested too deeply."}


def test_integer_with_too_many_digits_is_400(api):
    body = '{"code": ' + "9" * 5000 + "}"
    response = api.post("/auth/exchange-code", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {
        "error": "Malformed JSON",
        "detail": "A number in the body has too many digits.",
    }


def test_huge_offset_is_422(jwt_api):
    response = jwt_api.get("/auth/api-keys?offset=99999999999999999999")

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "offset"]
    assert response.json()["detail"][0]["type"] == "less_than_equal"


def test_jwt_with_a_malformed_user_id_is_401(api, user):
    token = AccessToken(jwt_for(user))
    token["user_id"] = "not-a-uuid"
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = api.get("/auth/me")

    assert response.status_code == 401
    assert response.json()["error"] == "Invalid or expired token"


def test_jwt_of_a_deleted_user_is_401_with_a_sentence(api, user):
    token = jwt_for(user)
    user.delete()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = api.get("/auth/me")

    assert response.status_code == 401
    assert response.json() == {
        "error": "Invalid or expired token",
        "detail": "The sign-in this token belongs to has ended (signed out); sign in again.",
    }


def test_malformed_authorization_header_is_401_with_a_sentence(api):
    response = api.get("/auth/me", HTTP_AUTHORIZATION="Bearer a b")

    assert response.status_code == 401
    assert isinstance(response.json()["detail"], str)


def test_bearer_scheme_is_case_insensitive_for_jwts(api, user):
    api.credentials(HTTP_AUTHORIZATION=f"bearer {jwt_for(user)}")
    assert api.get("/auth/me").status_code == 200


def test_format_parameter_is_ignored(api):
    response = api.get("/health?format=xml")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_html_accept_header_still_gets_json(api):
    response = api.get("/health", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def test_disallowed_host_does_not_leak_settings_and_keeps_security_headers(api):
    response = api.get("/health", HTTP_HOST="evil.example")

    assert response.status_code == 400
    assert response.json() == {"error": "Bad request", "detail": "Invalid Host header."}
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_oversized_body_names_the_limit_not_the_setting(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = api.post(
        "/auth/login", {"email": "a@example.com", "password": "x" * 5000}, format="json"
    )
    assert response.json() == {
        "error": "Request body too large",
        "detail": "The limit is 1024 bytes.",
    }


@pytest.mark.parametrize(("method", "path"), [("post", "/docs"), ("delete", "/redoc")])
def test_docs_views_errors_are_json(api, settings, method, path):
    settings.EXPOSE_API_DOCS = True
    response = getattr(api, method)(path)
    assert response.status_code == 405
    assert response.json()["error"] == "Method not allowed"
