from datetime import timedelta

import pytest
from django.utils import timezone

from landed.accounts.models import LoginThrottle

pytestmark = pytest.mark.django_db

LOGIN = "/auth/login"


def login(api, email, password):
    return api.post(LOGIN, {"email": email, "password": password}, format="json")


def test_login_returns_customer_jwt_and_session(api, user, password):
    response = login(api, user.email.upper(), password)

    assert response.status_code == 200
    body = response.json()
    assert body["user"]["id"] == str(user.id)
    assert body["customer"]["id"] == str(user.account_id)
    assert body["token_type"] == "bearer"
    assert "landed_session" in response.cookies
    assert body["user"]["last_login"] is not None


def test_wrong_password_and_unknown_email_get_the_same_answer(api, user):
    wrong = login(api, user.email, "not-the-password")
    unknown = login(api, "nobody@example.com", "not-the-password")

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"error": "Invalid email or password", "detail": None}
    assert wrong["WWW-Authenticate"] == 'Bearer realm="api"'
    assert "landed_session" not in wrong.cookies


def test_five_failures_lock_the_email_for_fifteen_minutes(api, user, password):
    for _ in range(4):
        assert login(api, user.email, "wrong").status_code == 401

    fifth = login(api, user.email, "wrong")
    assert fifth.status_code == 429
    assert fifth.json()["error"] == "Account locked"
    assert "locked for 15 more minutes" in fifth.json()["detail"]
    assert 890 <= int(fifth["Retry-After"]) <= 901

    # Even the right password is refused while locked.
    locked = login(api, user.email, password)
    assert locked.status_code == 429
    assert locked.json()["error"] == "Account locked"


def test_lockout_does_not_reveal_whether_an_email_exists(api):
    answers = [login(api, "ghost@example.com", "wrong") for _ in range(5)]
    assert [a.status_code for a in answers] == [401, 401, 401, 401, 429]
    assert answers[-1].json()["error"] == "Account locked"


def test_lock_expires(api, user, password):
    for _ in range(5):
        login(api, user.email, "wrong")
    assert login(api, user.email, password).status_code == 429
    LoginThrottle.objects.filter(email=user.email).update(
        locked_until=timezone.now() - timedelta(seconds=1)
    )

    assert login(api, user.email, password).status_code == 200
    here = LoginThrottle.objects.get(email=user.email, client_address="127.0.0.1")
    assert (here.failed_attempts, here.locked_until) == (0, None)
    assert here.last_succeeded_at is not None


def test_success_resets_the_failure_count(api, user, password):
    for _ in range(4):
        login(api, user.email, "wrong")
    assert login(api, user.email, password).status_code == 200
    for _ in range(4):
        assert login(api, user.email, "wrong").status_code == 401


def test_old_failures_stop_counting(api, user):
    for _ in range(4):
        login(api, user.email, "wrong")
    LoginThrottle.objects.filter(email=user.email).update(
        last_failed_at=timezone.now() - timedelta(minutes=16)
    )
    assert login(api, user.email, "wrong").status_code == 401


def test_disabled_user_cannot_log_in(api, user, password):
    user.is_active = False
    user.save()
    assert login(api, user.email, password).status_code == 401


def test_login_validates_its_body(api):
    response = api.post(LOGIN, {"email": "a@example.com"}, format="json")
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["body", "password"], "msg": "This field is required.", "type": "missing"}
    ]


def test_stale_failure_records_are_purged(api, user):
    LoginThrottle.objects.create(
        email="long-ago@example.com",
        failed_attempts=2,
        last_failed_at=timezone.now() - timedelta(hours=1),
    )
    login(api, user.email, "wrong")
    assert set(LoginThrottle.objects.values_list("email", "client_address")) == {
        (user.email, ""),
        (user.email, "127.0.0.1"),
    }


def test_known_addresses_are_kept_until_they_are_no_longer_known(api, user):
    now = timezone.now()
    LoginThrottle.objects.create(
        email="recent@example.com", client_address="192.0.2.1", last_succeeded_at=now
    )
    LoginThrottle.objects.create(
        email="gone@example.com",
        client_address="192.0.2.1",
        last_succeeded_at=now - timedelta(days=31),
    )
    login(api, user.email, "wrong")
    assert "recent@example.com" in set(LoginThrottle.objects.values_list("email", flat=True))
    assert not LoginThrottle.objects.filter(email="gone@example.com").exists()
