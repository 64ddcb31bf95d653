"""The operators' admin and the command that creates operators."""

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from landed.accounts import services
from landed.accounts.models import ApiKey, LoginThrottle, User

pytestmark = pytest.mark.django_db

OPERATOR_PASSWORD = "operator-passphrase-2026"


@pytest.fixture
def operator_client() -> Client:
    call_command("create_operator", "--email", "ops@example.com", "--password", OPERATOR_PASSWORD)
    client = Client()
    assert client.login(email="ops@example.com", password=OPERATOR_PASSWORD)
    return client


def test_create_operator_makes_a_staff_superuser():
    call_command("create_operator", "--email", "Ops@Example.com", "--password", OPERATOR_PASSWORD)

    operator = User.objects.get(email="ops@example.com")
    assert operator.is_staff and operator.is_superuser
    assert operator.account.name == "Operators"


def test_create_operator_promotes_an_existing_user(user):
    call_command("create_operator", "--email", user.email, "--no-input")

    user.refresh_from_db()
    assert user.is_staff and user.is_superuser
    assert User.objects.count() == 1


def test_create_operator_reads_the_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("LANDED_OPERATOR_PASSWORD", OPERATOR_PASSWORD)
    call_command("create_operator", "--email", "env@example.com", "--no-input")
    assert User.objects.get(email="env@example.com").check_password(OPERATOR_PASSWORD)


def test_create_operator_without_a_password_fails_clearly(monkeypatch):
    monkeypatch.delenv("LANDED_OPERATOR_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="No password"):
        call_command("create_operator", "--email", "x@example.com", "--no-input")


def test_create_operator_refuses_a_weak_password():
    with pytest.raises(CommandError, match="too common"):
        call_command("create_operator", "--email", "x@example.com", "--password", "password")


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/accounts/account/",
        "/admin/accounts/user/",
        "/admin/accounts/apikey/",
        "/admin/accounts/loginthrottle/",
        "/admin/accounts/account/?q=user",
        "/admin/accounts/apikey/?revoked_at__isnull=True",
    ],
)
def test_admin_pages_render(operator_client, user, path):
    services.api_key_create(user=user, name="deploy")
    response = operator_client.get(path)
    assert response.status_code == 200


def test_admin_user_and_account_pages_show_details(operator_client, user):
    assert operator_client.get(f"/admin/accounts/user/{user.id}/change/").status_code == 200
    page = operator_client.get(f"/admin/accounts/account/{user.account_id}/change/")
    assert page.status_code == 200
    assert user.email in page.content.decode()


def test_admin_api_keys_show_only_the_hash(operator_client, user):
    key, raw = services.api_key_create(user=user, name="deploy")
    page = operator_client.get(f"/admin/accounts/apikey/{key.id}/change/").content.decode()
    listing = operator_client.get("/admin/accounts/apikey/").content.decode()

    assert key.key_hash in page
    assert raw not in page and raw not in listing
    assert operator_client.get("/admin/accounts/apikey/add/").status_code == 403


def test_admin_revoke_action(operator_client, user):
    key, _ = services.api_key_create(user=user)
    response = operator_client.post(
        "/admin/accounts/apikey/",
        {"action": "revoke", "_selected_action": [str(key.id)]},
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_admin_unlock_action(operator_client):
    throttle = LoginThrottle.objects.create(email="locked@example.com", failed_attempts=0)
    operator_client.post(
        "/admin/accounts/loginthrottle/",
        {"action": "unlock", "_selected_action": [str(throttle.pk)]},
    )
    assert not LoginThrottle.objects.exists()


def test_admin_is_closed_to_customers(user, password):
    client = Client()
    client.login(email=user.email, password=password)
    response = client.get("/admin/accounts/account/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_admin_user_search_and_filters(operator_client, user):
    response = operator_client.get(f"/admin/accounts/user/?q={user.email}&is_staff__exact=0")
    assert response.status_code == 200
    assert user.email in response.content.decode()
    assert ApiKey.objects.count() == 0


def _admin_login(client: Client, email: str, password: str):
    return client.post("/admin/login/", {"username": email, "password": password})


def test_admin_login_locks_like_the_api(operator_client):
    client = Client()
    for _ in range(5):
        page = _admin_login(client, "ops@example.com", "wrong-password")
        assert page.status_code == 200
    locked = _admin_login(client, "ops@example.com", OPERATOR_PASSWORD)

    assert locked.status_code == 200
    assert "Too many failed sign-in attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_admin_login_still_works(operator_client):
    client = Client()
    response = _admin_login(client, "ops@example.com", OPERATOR_PASSWORD)
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_admin_login_refuses_customers(user, password):
    page = _admin_login(Client(), user.email, password)
    assert page.status_code == 200
    assert "staff account" in page.content.decode()


def test_admin_login_attempts_are_rate_limited(settings, db):
    from tests.ratelimit_windows import ip_with_fresh_window

    settings.RATELIMIT_ENABLE = True
    client = Client(REMOTE_ADDR=ip_with_fresh_window())
    answers = [_admin_login(client, f"x{i}@example.com", "wrong").status_code for i in range(11)]

    assert answers == [200] * 10 + [429]
