"""Every failure is the reference's JSON envelope, with the reference's status codes."""

import logging

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_unknown_path_is_json_404(api):
    response = api.get("/no/such/thing")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "Not found", "detail": "No endpoint at /no/such/thing"}


def test_trailing_slash_is_not_redirected(api):
    response = api.post("/auth/login/", {}, format="json")
    assert response.status_code == 404
    assert response.json()["error"] == "Not found"


def test_method_not_allowed_is_json_405_with_allow(api):
    response = api.put("/auth/login", {}, format="json")

    assert response.status_code == 405
    assert response.json() == {"error": "Method not allowed", "detail": 'Method "PUT" not allowed.'}
    assert "POST" in response["Allow"]


def test_unsupported_media_type_is_json_415(api):
    response = api.post("/auth/login", "email=a", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415
    body = response.json()
    assert body["error"] == "Unsupported media type"
    assert "application/json" in body["detail"]


def test_malformed_json_is_400(api):
    response = api.post("/auth/login", '{"email": ', content_type="application/json")

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Malformed JSON"
    assert "Expecting value" in body["detail"]


@pytest.mark.parametrize(
    ("payload", "error_type"),
    [
        ("[]", "model_attributes_type"),
        ('"text"', "model_attributes_type"),
        ("42", "model_attributes_type"),
        ("null", "missing"),
    ],
)
def test_a_body_that_is_not_an_object_is_422(api, payload, error_type):
    response = api.post("/auth/login", payload, content_type="application/json")

    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body"]
    assert problem["type"] == error_type


def test_validation_error_shape(api):
    response = api.post(
        "/auth/signup", {"email": None, "password": ["x"], "name": ""}, format="json"
    )

    assert response.status_code == 422
    assert response.json() == {
        "error": "Validation error",
        "detail": [
            {"loc": ["body", "email"], "msg": "This field may not be null.", "type": "null"},
            {"loc": ["body", "password"], "msg": "Not a valid string.", "type": "string_type"},
            {
                "loc": ["body", "name"],
                "msg": "This field may not be blank.",
                "type": "string_too_short",
            },
        ],
    }


def test_oversized_body_is_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = api.post(
        "/auth/login", {"email": "a@example.com", "password": "x" * 5000}, format="json"
    )
    assert response.status_code == 413
    assert response.json()["error"] == "Request body too large"


@pytest.mark.urls("tests.landed.crash_urls")
def test_crash_in_an_api_view_is_json_500_without_internals():
    client = APIClient(raise_request_exception=False)
    response = client.get("/test/crash", HTTP_X_REQUEST_ID="trace-500")

    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "Internal server error"
    assert "boom" not in response.content.decode()
    assert "trace-500" in body["detail"]
    assert response["X-Request-ID"] == "trace-500"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.urls("tests.landed.crash_urls")
def test_crash_outside_drf_is_json_500():
    client = APIClient(raise_request_exception=False)
    response = client.get("/test/django-crash")
    assert response.status_code == 500
    assert response.json()["error"] == "Internal server error"


@pytest.mark.urls("tests.landed.crash_urls")
def test_debug_pages_are_json_too(settings):
    settings.DEBUG = True
    client = APIClient(raise_request_exception=False)

    missing = client.get("/nowhere")
    crash = client.get("/test/django-crash")

    assert missing.status_code == 404
    assert missing.json()["error"] == "Not found"
    assert crash.status_code == 500
    assert crash.json()["error"] == "Internal server error"


@pytest.mark.urls("tests.landed.crash_urls")
def test_any_html_error_page_becomes_the_envelope(api):
    response = api.get("/test/html-error")
    assert response.status_code == 418
    assert response.json() == {"error": "I'm a teapot", "detail": None}


def test_disallowed_host_is_json_400(api):
    response = api.get("/health", HTTP_HOST="evil.example.com")
    assert response.status_code == 400
    assert response.json()["error"] == "Bad request"


def test_disallowed_host_logs_one_warning_line_without_a_traceback(api, caplog):
    # Anyone can send any Host header, on every request: an operator's problem at most (a
    # missing ALLOWED_HOSTS entry), never a crash worth a traceback at ERROR.
    caplog.set_level(logging.DEBUG)
    response = api.get("/health", HTTP_HOST="evil.example.com")
    assert response.status_code == 400
    assert response.json() == {"error": "Bad request", "detail": "Invalid Host header."}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.exc_info or r.exc_text]
    (line,) = [r for r in caplog.records if "evil.example.com" in r.getMessage()]
    assert line.levelno == logging.WARNING
    assert line.name == "django.security.DisallowedHost"
    assert "\n" not in caplog.text.strip()
