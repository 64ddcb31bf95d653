"""Rate limits per client IP, by tier, counted in the shared Redis cache."""

import pytest
from django.core.cache import caches
from django.test import override_settings
from rest_framework.test import APIClient

from tests.accounts.factories import PASSWORD
from tests.ratelimit_windows import ip_with_fresh_window

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _limits_on(settings):
    settings.RATELIMIT_ENABLE = True


def client_from(ip: str) -> APIClient:
    return APIClient(REMOTE_ADDR=ip)


def hammer(client, method, path, times, **kwargs):
    return [getattr(client, method)(path, format="json", **kwargs) for _ in range(times)]


def test_the_cache_is_redis():
    assert type(caches["default"]).__name__ == "RedisCache"


def test_login_allows_ten_a_minute_then_429_with_retry_after():
    client = client_from(ip_with_fresh_window())
    answers = hammer(client, "post", "/auth/login", 11, data={})

    assert [a.status_code for a in answers[:10]] == [422] * 10
    limited = answers[10]
    assert limited.status_code == 429
    assert limited.json() == {
        "error": "Rate limit exceeded",
        "detail": f"Too many requests; retry after {limited['Retry-After']} seconds.",
    }
    assert 1 <= int(limited["Retry-After"]) <= 60


def test_signup_allows_five_a_minute():
    answers = hammer(client_from(ip_with_fresh_window()), "post", "/auth/signup", 6, data={})
    assert [a.status_code for a in answers] == [422] * 5 + [429]


def test_every_rate_of_a_tier_is_enforced(settings):
    # The hourly half of "5/minute, 20/hour", scaled down so the test stays fast.
    settings.RATE_LIMIT_TIERS = {**settings.RATE_LIMIT_TIERS, "signup": ["100/m", "3/h"]}
    # An address whose hour window has over two minutes left: Retry-After is what is left of it.
    client = client_from(ip_with_fresh_window(min_hour_seconds_left=120))
    answers = hammer(client, "post", "/auth/signup", 4, data={})

    assert [a.status_code for a in answers] == [422, 422, 422, 429]
    assert 60 < int(answers[-1]["Retry-After"]) <= 3600


def test_limits_are_per_client_ip():
    ip = ip_with_fresh_window()
    other_ip = "127.0.1.1" if ip != "127.0.1.1" else "127.0.1.2"
    hammer(client_from(ip), "post", "/auth/login", 10, data={})
    assert client_from(ip).post("/auth/login", {}, format="json").status_code == 429
    assert client_from(other_ip).post("/auth/login", {}, format="json").status_code == 422


def test_limits_are_per_endpoint():
    client = client_from(ip_with_fresh_window())
    hammer(client, "post", "/auth/login", 10, data={})
    assert client.post("/auth/login", {}, format="json").status_code == 429
    assert client.post("/auth/exchange-code", {}, format="json").status_code == 422


def test_tier_by_method_on_one_path(user):
    client = client_from(ip_with_fresh_window())
    client.login(email=user.email, password=PASSWORD)
    # Sensitive (10/min) for creating keys, Read (60/min) for listing them.
    creates = hammer(client, "post", "/auth/api-keys", 11, data={})
    assert [a.status_code for a in creates] == [201] * 10 + [429]
    assert client.get("/auth/api-keys").status_code == 200


def test_read_high_tier_for_auth_me(user):
    client = client_from(ip_with_fresh_window())
    client.login(email=user.email, password=PASSWORD)
    answers = hammer(client, "get", "/auth/me", 121)
    assert [a.status_code for a in answers].count(200) == 120
    assert answers[-1].status_code == 429


def test_unauthenticated_requests_are_limited_too():
    answers = hammer(client_from(ip_with_fresh_window()), "get", "/auth/me", 121)
    assert answers[-1].status_code == 429
    assert {a.status_code for a in answers[:120]} == {401}


def test_health_is_never_limited():
    answers = hammer(client_from(ip_with_fresh_window()), "get", "/health", 150)
    assert {a.status_code for a in answers} == {200}


def test_limits_can_be_switched_off(settings):
    settings.RATELIMIT_ENABLE = False
    answers = hammer(client_from(ip_with_fresh_window()), "post", "/auth/signup", 8, data={})
    assert {a.status_code for a in answers} == {422}


def test_counters_live_in_redis():
    client_from(ip_with_fresh_window()).post("/auth/login", {}, format="json")
    keys = caches["default"]._cache.get_client().keys("*rl:*")
    assert keys, "rate-limit counters should be stored in Redis"


def test_a_cache_outage_lets_requests_through():
    broken = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    with override_settings(CACHES=broken):
        response = client_from(ip_with_fresh_window()).post("/auth/login", {}, format="json")
    assert response.status_code == 422
