"""The lockout counts per (email, client address), with a slower backoff per email across
all addresses: a stranger can neither lock the owner out nor guess fast from many addresses."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from landed.accounts.models import LoginThrottle

pytestmark = pytest.mark.django_db

ATTACKER = "198.51.100.7"
OWNER = "203.0.113.20"
PROXY = "10.0.0.2"


def login(email: str, password: str, *, ip: str, forwarded_for: str | None = None):
    client = APIClient(REMOTE_ADDR=ip)
    headers = {"HTTP_X_FORWARDED_FOR": forwarded_for} if forwarded_for else {}
    return client.post(
        "/auth/login", {"email": email, "password": password}, format="json", **headers
    )


def test_a_stranger_locks_only_their_own_address(user, password):
    answers = [login(user.email, "wrong", ip=ATTACKER).status_code for _ in range(5)]
    assert answers == [401, 401, 401, 401, 429]

    # The attacker stays locked, even with the right password ...
    locked = login(user.email, password, ip=ATTACKER)
    assert locked.status_code == 429
    assert locked.json()["error"] == "Account locked"
    assert 890 <= int(locked["Retry-After"]) <= 900

    # ... while the owner signs in from their own address.
    assert login(user.email, password, ip=OWNER).status_code == 200


def test_a_lock_expires_and_the_right_password_works_again(user, password):
    for _ in range(5):
        login(user.email, "wrong", ip=ATTACKER)
    LoginThrottle.objects.filter(email=user.email, client_address=ATTACKER).update(
        locked_until=timezone.now() - timedelta(seconds=1)
    )
    assert login(user.email, password, ip=ATTACKER).status_code == 200


def many_addresses(count: int) -> list[str]:
    return [f"192.0.2.{n}" for n in range(1, count + 1)]


def test_the_email_wide_backoff_engages_across_many_addresses(settings, user, password):
    settings.LOGIN_BACKOFF_THRESHOLD = 8
    # The owner signed in from their address last week: it is a known address.
    assert login(user.email, password, ip=OWNER).status_code == 200

    # Two wrong passwords from each of four addresses: no address reaches its lockout ...
    answers = [login(user.email, "wrong", ip=ip).status_code for ip in many_addresses(4) * 2]
    assert answers == [401] * 8

    # ... but the email has had 8 failures: a ninth address must wait, whatever the password.
    waiting = login(user.email, password, ip="192.0.2.200")
    assert waiting.status_code == 429
    assert waiting.json() == {
        "error": "Rate limit exceeded",
        "detail": "Too many failed sign-in attempts for this email. Try again in 1 second.",
    }
    assert waiting["Retry-After"] == "1"

    # The known address is spared the wait.
    assert login(user.email, password, ip=OWNER).status_code == 200


def test_the_backoff_doubles_up_to_its_cap(settings, user):
    settings.LOGIN_BACKOFF_THRESHOLD = 3
    settings.LOGIN_BACKOFF_MAX_SECONDS = 6
    everywhere = LoginThrottle.objects.filter(email=user.email, client_address="")
    delays = []
    for ip in many_addresses(6):
        assert login(user.email, "wrong", ip=ip).status_code == 401
        row = everywhere.get()
        if row.locked_until:
            delays.append(round((row.locked_until - row.last_failed_at).total_seconds()))
            # Let the delay pass, as a patient guesser would.
            everywhere.update(locked_until=timezone.now())
    assert delays == [1, 2, 4, 6]


def test_the_backoff_never_locks_the_owner_out_for_long(settings, user, password):
    settings.LOGIN_BACKOFF_THRESHOLD = 2
    for ip in many_addresses(4):
        login(user.email, "wrong", ip=ip)
        LoginThrottle.objects.filter(email=user.email, client_address="").update(
            locked_until=timezone.now()
        )
    login(user.email, "wrong", ip="192.0.2.99")

    # From a new address the owner waits at most LOGIN_BACKOFF_MAX_SECONDS, never the lockout.
    waiting = login(user.email, password, ip=OWNER)
    assert waiting.status_code == 429
    assert int(waiting["Retry-After"]) <= settings.LOGIN_BACKOFF_MAX_SECONDS


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(settings, user, password):
    # Not trusted: X-Forwarded-For is the client's own claim, and every attempt is the proxy's.
    for n in range(5):
        login(user.email, "wrong", ip=PROXY, forwarded_for=f"192.0.2.{n}")
    assert login(user.email, password, ip=PROXY, forwarded_for=OWNER).status_code == 429

    LoginThrottle.objects.all().delete()
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for _ in range(5):
        # The attacker writes a fake address first; the proxy appends the real one.
        login(user.email, "wrong", ip=PROXY, forwarded_for=f"{OWNER}, {ATTACKER}")
    assert login(user.email, password, ip=PROXY, forwarded_for=ATTACKER).status_code == 429
    assert login(user.email, password, ip=PROXY, forwarded_for=OWNER).status_code == 200
    assert set(
        LoginThrottle.objects.exclude(client_address="").values_list("client_address", flat=True)
    ) == {ATTACKER, OWNER}


def test_the_admin_sign_in_follows_the_same_rule(user, password):
    from django.test import Client

    user.is_staff = True
    user.save()
    for _ in range(5):
        Client(REMOTE_ADDR=ATTACKER).post(
            "/admin/login/", {"username": user.email, "password": "wrong"}
        )
    attacker = Client(REMOTE_ADDR=ATTACKER).post(
        "/admin/login/", {"username": user.email, "password": password}
    )
    assert attacker.status_code == 200
    assert b"locked" in attacker.content

    owner = Client(REMOTE_ADDR=OWNER).post(
        "/admin/login/", {"username": user.email, "password": password}
    )
    assert owner.status_code == 302


def test_past_the_threshold_each_attempt_takes_the_next_slot_before_it_is_checked(
    settings, user, password
):
    # Attempts sent at once must not all find the wait over: the first through takes the slot.
    settings.LOGIN_BACKOFF_THRESHOLD = 2
    for ip in many_addresses(2):
        login(user.email, "wrong", ip=ip)
    everywhere = LoginThrottle.objects.filter(email=user.email, client_address="")
    everywhere.update(locked_until=timezone.now())

    assert login(user.email, password, ip="192.0.2.50").status_code == 200
    # The right password got through, and the next stranger still waits for the slot.
    assert login(user.email, "wrong", ip="192.0.2.51").status_code == 429
