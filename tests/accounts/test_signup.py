import pytest

from landed.accounts.models import Account, User

pytestmark = pytest.mark.django_db

SIGNUP = "/auth/signup"


def signup(api, email="new@example.com", password="a-long-and-unusual-passphrase", **extra):
    return api.post(SIGNUP, {"email": email, "password": password, **extra}, format="json")


def test_signup_creates_account_and_returns_customer_and_jwt(api):
    response = signup(api, email="New@Example.com", name="Acme Data")

    assert response.status_code == 201
    body = response.json()
    assert body["customer"]["name"] == "Acme Data"
    assert body["user"]["email"] == "new@example.com"
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"].count(".") == 2
    assert body["customer"]["created_at"].endswith("+00:00")
    user = User.objects.get(email="new@example.com")
    assert str(user.account_id) == body["customer"]["id"]
    assert user.check_password("a-long-and-unusual-passphrase")


def test_signup_sets_the_session_cookie(api):
    response = signup(api)

    cookie = response.cookies["landed_session"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert int(cookie["max-age"]) == 30 * 24 * 3600
    assert "csrftoken" in response.cookies
    # The cookie alone authenticates.
    me = api.get("/auth/me")
    assert me.status_code == 200
    assert me.json()["user"]["email"] == "new@example.com"


def test_signup_jwt_authenticates(api):
    token = signup(api).json()["access_token"]
    api.cookies.clear()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/auth/me").status_code == 200


def test_account_name_defaults_to_email(api):
    assert signup(api).json()["customer"]["name"] == "new@example.com"


def test_duplicate_email_is_409_whatever_its_case(api, user):
    response = signup(api, email=user.email.upper())

    assert response.status_code == 409
    assert response.json() == {
        "error": "Email already registered",
        "detail": "Sign in instead, or use another email.",
    }
    assert Account.objects.count() == 1


@pytest.mark.parametrize(
    ("password", "error_type"),
    [
        ("short1", "string_too_short"),
        ("password123", "password_too_common"),
        ("83749261538", "password_entirely_numeric"),
        ("new@example.com1", "password_too_similar"),
    ],
)
def test_weak_passwords_are_422_on_the_password_field(api, password, error_type):
    response = signup(api, password=password)

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "Validation error"
    assert {"loc": ["body", "password"], "type": error_type} in [
        {"loc": item["loc"], "type": item["type"]} for item in body["detail"]
    ]
    assert not User.objects.exists()


def test_missing_and_invalid_fields_are_listed_each(api):
    response = api.post(SIGNUP, {"email": "not-an-email"}, format="json")

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert {
        "loc": ["body", "email"],
        "msg": "Enter a valid email address.",
        "type": "value_error",
    } in detail
    assert {
        "loc": ["body", "password"],
        "msg": "This field is required.",
        "type": "missing",
    } in detail


def test_production_password_hasher_is_pbkdf2(api, settings):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    signup(api)
    assert User.objects.get().password.startswith("pbkdf2_sha256$")


@pytest.mark.parametrize("value", [12345678901, 1.5, True, ["a-long-password"], {"a": 1}])
def test_non_string_values_are_not_coerced(api, value):
    response = api.post(SIGNUP, {"email": "n@example.com", "password": value}, format="json")

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["body", "password"], "msg": "Not a valid string.", "type": "string_type"}
    ]


def test_null_characters_are_refused(api):
    response = signup(api, password="a-long-\x00-passphrase")
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["body", "password"],
            "msg": "Null characters are not allowed.",
            "type": "null_characters_not_allowed",
        }
    ]
