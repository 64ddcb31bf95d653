"""Each JWT belongs to a sign-in (its session, or the API key that obtained it): logging out,
signing out everywhere, a password change, disabling the user or revoking the key end it at
its next request."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient, APIRequestFactory

from landed.accounts.authentication import BearerJWTAuthentication
from landed.accounts.models import SignIn
from tests.accounts.factories import PASSWORD

pytestmark = pytest.mark.django_db

ENDED = {
    "error": "Invalid or expired token",
    "detail": "The sign-in this token belongs to has ended (signed out); sign in again.",
}


def signed_in(user) -> tuple[APIClient, str]:
    """A browser signed in with a password: its cookie session, and the JWT it was given."""
    browser = APIClient(enforce_csrf_checks=True)
    response = browser.post(
        "/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    return browser, response.json()["access_token"]


def with_jwt(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def logout(browser: APIClient, body: dict | None = None):
    csrf = browser.cookies["csrftoken"].value
    return browser.post("/auth/logout", body, format="json", HTTP_X_CSRFTOKEN=csrf)


def test_logout_ends_the_sessions_jwt_at_once(user):
    browser, token = signed_in(user)
    assert with_jwt(token).get("/auth/api-keys").status_code == 200

    assert logout(browser).status_code == 204

    response = with_jwt(token).get("/auth/api-keys")
    assert response.status_code == 401
    assert response.json() == ENDED
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_logout_ends_only_its_own_session(user):
    laptop, laptop_token = signed_in(user)
    phone, phone_token = signed_in(user)

    logout(laptop)

    assert with_jwt(laptop_token).get("/auth/me").status_code == 401
    assert with_jwt(phone_token).get("/auth/me").status_code == 200
    assert phone.get("/auth/me").status_code == 200


def test_jwts_from_me_and_refresh_belong_to_the_session(user):
    browser, _ = signed_in(user)
    from_me = browser.get("/auth/me").json()["access_token"]
    csrf = browser.cookies["csrftoken"].value
    refreshed = browser.post(
        "/auth/refresh", {"access_token": from_me}, format="json", HTTP_X_CSRFTOKEN=csrf
    ).json()["access_token"]
    assert with_jwt(refreshed).get("/auth/me").status_code == 200

    logout(browser)

    assert with_jwt(from_me).get("/auth/me").status_code == 401
    assert with_jwt(refreshed).get("/auth/me").status_code == 401


def test_a_signed_out_jwt_cannot_be_refreshed_with_another_session(user):
    old_browser, old_token = signed_in(user)
    logout(old_browser)
    browser, _ = signed_in(user)

    csrf = browser.cookies["csrftoken"].value
    response = browser.post(
        "/auth/refresh", {"access_token": old_token}, format="json", HTTP_X_CSRFTOKEN=csrf
    )
    assert response.status_code == 401
    assert response.json()["detail"] == ENDED["detail"]


def test_signing_out_everywhere_ends_every_session_and_jwt(user):
    laptop, laptop_token = signed_in(user)
    phone, phone_token = signed_in(user)

    assert logout(laptop, {"everywhere": True}).status_code == 204

    assert with_jwt(laptop_token).get("/auth/me").status_code == 401
    assert with_jwt(phone_token).get("/auth/me").status_code == 401
    # The other browser's cookie is refused, and cleared.
    refused = phone.get("/auth/me")
    assert refused.status_code == 401
    assert refused.cookies["landed_session"].value == ""
    assert not SignIn.objects.filter(user=user).exists()

    # A fresh sign-in works.
    _, fresh_token = signed_in(user)
    assert with_jwt(fresh_token).get("/auth/me").status_code == 200


def test_logout_validates_its_body(user):
    browser, _ = signed_in(user)
    response = logout(browser, {"everywhere": "yes"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "everywhere"]


def test_revoking_api_keys_ends_the_jwts_they_obtained(jwt_api):
    raw_key = jwt_api.post("/auth/api-keys", {"name": "ci"}, format="json").json()["key"]
    token = with_jwt(raw_key).get("/auth/me").json()["access_token"]
    assert with_jwt(token).get("/auth/me").status_code == 200

    assert jwt_api.delete("/auth/api-keys").status_code == 200

    assert with_jwt(token).get("/auth/me").status_code == 401
    # The JWT that revoked them belongs to a session, which goes on.
    assert jwt_api.get("/auth/me").status_code == 200


def change_page_data(user, **changes) -> dict:
    data = {
        "email": user.email,
        "account": str(user.account_id),
        "is_active": "on",
        "social_identities-TOTAL_FORMS": "0",
        "social_identities-INITIAL_FORMS": "0",
        "social_identities-MIN_NUM_FORMS": "0",
        "social_identities-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_a_user_disabled_in_the_admin_is_refused_at_once(operator, user):
    browser, token = signed_in(user)
    raw_key = with_jwt(token).post("/auth/api-keys", {"name": "ci"}, format="json").json()["key"]

    response = operator.post(
        f"/admin/accounts/user/{user.id}/change/", change_page_data(user, is_active=None)
    )
    assert response.status_code == 302, response.content

    assert with_jwt(token).get("/auth/me").status_code == 401
    assert browser.get("/auth/me").status_code == 401
    assert with_jwt(raw_key).get("/auth/me").status_code == 401

    # Enabled again, the user signs in afresh: the old JWT stays ended.
    operator.post(f"/admin/accounts/user/{user.id}/change/", change_page_data(user))
    assert with_jwt(token).get("/auth/me").status_code == 401
    _, fresh_token = signed_in(user)
    assert with_jwt(fresh_token).get("/auth/me").status_code == 200


def test_a_password_changed_in_the_admin_ends_the_users_jwts(operator, user):
    browser, token = signed_in(user)

    response = operator.post(
        f"/admin/accounts/user/{user.id}/password/",
        {"password1": "a-new-long-passphrase-2026", "password2": "a-new-long-passphrase-2026"},
    )
    assert response.status_code == 302, response.content

    assert with_jwt(token).get("/auth/me").json() == ENDED
    assert browser.get("/auth/me").status_code == 401


def test_the_admin_signs_a_user_out_everywhere(operator, user):
    browser, token = signed_in(user)
    operator.post(
        "/admin/accounts/user/",
        {"action": "sign_out_everywhere", "_selected_action": [str(user.id)]},
    )
    assert with_jwt(token).get("/auth/me").status_code == 401
    assert browser.get("/auth/me").status_code == 401


def test_a_session_from_before_sign_ins_is_signed_out(user):
    browser, _ = signed_in(user)
    SignIn.objects.filter(user=user).delete()
    assert browser.get("/auth/me").status_code == 401


def test_a_jwt_without_a_sign_in_is_refused(user):
    from rest_framework_simplejwt.tokens import AccessToken

    response = with_jwt(str(AccessToken.for_user(user))).get("/auth/me")
    assert response.status_code == 401
    assert response.json() == ENDED


def test_checking_a_jwt_costs_one_query(user):
    _, token = signed_in(user)
    request = APIRequestFactory().get("/auth/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    with CaptureQueriesContext(connection) as queries:
        authenticated, _ = BearerJWTAuthentication().authenticate(request)
    assert authenticated == user
    # The sign-in and its user, in the query that reads the user anyway.
    assert len(queries) == 1
    assert "accounts_signin" in queries[0]["sql"]


def test_an_operator_who_changes_their_own_password_keeps_the_session(operator):
    from landed.accounts.models import User

    me = User.objects.get(email="ops@example.com")
    old_token = operator.get("/auth/me").json()["access_token"]

    response = operator.post(
        f"/admin/accounts/user/{me.id}/password/",
        {"password1": "a-new-long-passphrase-2026", "password2": "a-new-long-passphrase-2026"},
    )
    assert response.status_code == 302

    new_token = operator.get("/auth/me").json()["access_token"]
    assert with_jwt(new_token).get("/auth/me").status_code == 200
    assert with_jwt(old_token).get("/auth/me").status_code == 401
