from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from landed.accounts import services, sign_ins
from landed.accounts.models import AuthCode

pytestmark = pytest.mark.django_db

EXCHANGE = "/auth/exchange-code"


def issue_code(user) -> str:
    return services.auth_code_issue(user=user, sign_in=sign_ins.sign_in_create(user=user))


def test_a_code_is_exchanged_for_a_jwt(api, user):
    code = issue_code(user)

    response = api.post(EXCHANGE, {"code": code}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["user"]["id"] == str(user.id)
    assert AccessToken(body["access_token"])["user_id"] == str(user.id)


def test_a_code_works_once(api, user):
    code = issue_code(user)
    assert api.post(EXCHANGE, {"code": code}, format="json").status_code == 200

    reused = api.post(EXCHANGE, {"code": code}, format="json")
    assert reused.status_code == 401
    assert reused.json() == {
        "error": "Invalid code",
        "detail": "The code is unknown, expired or already used.",
    }


def test_a_code_expires_after_about_a_minute(api, user, settings):
    assert settings.AUTH_CODE_TTL_SECONDS == 60
    code = issue_code(user)
    stored = AuthCode.objects.get()
    assert timedelta(seconds=59) <= stored.expires_at - stored.created_at <= timedelta(seconds=61)
    AuthCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert api.post(EXCHANGE, {"code": code}, format="json").status_code == 401


def test_only_the_hash_of_a_code_is_stored(user):
    code = issue_code(user)
    assert AuthCode.objects.get().code_hash != code


def test_unknown_code_is_401(api, db):
    assert api.post(EXCHANGE, {"code": "nope"}, format="json").status_code == 401


def test_missing_code_is_422(api, db):
    response = api.post(EXCHANGE, {}, format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "code"]


def test_the_codes_jwt_belongs_to_the_browsers_session(api, user):
    sign_in = sign_ins.sign_in_create(user=user)
    code = services.auth_code_issue(user=user, sign_in=sign_in)
    token = api.post(EXCHANGE, {"code": code}, format="json").json()["access_token"]
    assert AccessToken(token)["sid"] == str(sign_in.id)

    # Signing that session out ends the JWT, and an unspent code with it.
    unspent = services.auth_code_issue(user=user, sign_in=sign_in)
    sign_ins.sign_in_end(sign_in_id=sign_in.id)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/auth/me").status_code == 401
    assert api.post(EXCHANGE, {"code": unspent}, format="json").status_code == 401
