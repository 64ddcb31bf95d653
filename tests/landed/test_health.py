import pytest
from django.db import connection
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_health_reports_database_pool_and_cache(api):
    response = api.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    database = body["database"]
    assert database["ok"] is True
    assert database["vendor"] == "postgresql"
    assert database["latency_ms"] >= 0
    pool = database["pool"]
    assert pool["max_size"] == 10
    assert pool["min_size"] == 1
    assert 0 <= pool["available"] <= pool["size"] <= pool["max_size"]
    assert body["cache"] == {
        "ok": True,
        "backend": "RedisCache",
        "latency_ms": body["cache"]["latency_ms"],
    }


def test_pool_is_psycopgs(db):
    assert type(connection.pool).__name__ == "ConnectionPool"


def test_health_needs_no_credentials(api):
    assert api.get("/health", HTTP_AUTHORIZATION="Bearer junk").status_code == 200


def test_health_is_503_with_a_json_body_when_the_cache_is_unreachable(api):
    unreachable = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    }
    with override_settings(CACHES=unreachable):
        response = api.get("/health")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["error"] == "Service unavailable"
    assert body["detail"] == "cache unreachable"
    assert body["database"]["ok"] is True
    assert body["cache"]["ok"] is False
