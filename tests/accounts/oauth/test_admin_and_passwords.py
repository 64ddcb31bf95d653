"""Accounts with a password, providers, or both: what the admin shows, and how a user who signed
up through a provider gets a password."""

import pytest
from django.test import Client

from landed.accounts.models import SocialIdentity, User
from tests.accounts.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-fresh-and-long-passphrase-2026"


@pytest.fixture
def provider_only_user() -> User:
    user = User.objects.create_user("ada@example.com", None, account_name="Ada")
    SocialIdentity.objects.create(
        user=user, provider="google", subject="108", email="ada@example.com"
    )
    return user


def test_the_user_page_lists_linked_sign_ins(operator, provider_only_user):
    page = operator.get(f"/admin/accounts/user/{provider_only_user.id}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "Linked sign-ins (Google, GitHub)" in html
    assert "108" in html and "Google" in html
    assert "No password set" in html


def test_the_lists_show_how_each_user_signs_in(operator, provider_only_user):
    both = UserFactory(email="both@example.com")
    SocialIdentity.objects.create(user=both, provider="github", subject="7", email=both.email)

    users = operator.get("/admin/accounts/user/").content.decode()
    account = operator.get(
        f"/admin/accounts/account/{provider_only_user.account_id}/change/"
    ).content.decode()
    by_provider = operator.get("/admin/accounts/user/?social_identities__provider=github")

    assert "Password, GitHub" in users
    assert ">Google<" in users
    assert ">Google<" in account
    assert "both@example.com" in by_provider.content.decode()
    assert "ada@example.com" not in by_provider.content.decode()


def test_an_operator_can_unlink_an_identity(operator, provider_only_user):
    identity = provider_only_user.social_identities.get()
    form = {
        "email": provider_only_user.email,
        "account": provider_only_user.account_id,
        "is_active": "on",
        "social_identities-TOTAL_FORMS": "1",
        "social_identities-INITIAL_FORMS": "1",
        "social_identities-MIN_NUM_FORMS": "0",
        "social_identities-MAX_NUM_FORMS": "1000",
        "social_identities-0-id": str(identity.id),
        "social_identities-0-user": str(provider_only_user.id),
        "social_identities-0-DELETE": "on",
    }

    response = operator.post(f"/admin/accounts/user/{provider_only_user.id}/change/", form)

    assert response.status_code == 302, response.content.decode()[:2000]
    assert not SocialIdentity.objects.exists()


def test_a_provider_only_user_cannot_sign_in_with_a_password(provider_only_user):
    response = Client().post(
        "/auth/login",
        {"email": "ada@example.com", "password": ""},
        content_type="application/json",
    )
    assert response.status_code == 422
    response = Client().post(
        "/auth/login",
        {"email": "ada@example.com", "password": "!"},  # what an unusable hash starts with
        content_type="application/json",
    )
    assert response.status_code == 401
    assert response.json()["error"] == "Invalid email or password"


def test_an_operator_can_set_a_password_for_a_provider_only_user(operator, provider_only_user):
    page = operator.get(f"/admin/accounts/user/{provider_only_user.id}/password/")
    assert page.status_code == 200

    response = operator.post(
        f"/admin/accounts/user/{provider_only_user.id}/password/",
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    provider_only_user.refresh_from_db()
    assert provider_only_user.check_password(NEW_PASSWORD)
    login = Client().post(
        "/auth/login",
        {"email": "ada@example.com", "password": NEW_PASSWORD},
        content_type="application/json",
    )
    assert login.status_code == 200
    # The provider still signs in too: the account has both now.
    assert provider_only_user.social_identities.count() == 1


def test_a_password_account_keeps_its_password_when_a_provider_is_linked(user):
    SocialIdentity.objects.create(user=user, provider="github", subject="9", email=user.email)

    login = Client().post(
        "/auth/login", {"email": user.email, "password": PASSWORD}, content_type="application/json"
    )

    assert login.status_code == 200
