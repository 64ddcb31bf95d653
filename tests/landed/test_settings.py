"""Settings read from the environment, with defaults that work with nothing configured."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from landed.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]

PRINT_SETTINGS = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], "
    "'name': str(s.DATABASES['default']['NAME']), "
    "'cache': s.CACHES['default']['BACKEND'], 'broker': s.CELERY_BROKER_URL, "
    "'secure_cookie': s.SESSION_COOKIE_SECURE, 'hosts': s.ALLOWED_HOSTS}))"
)


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"}
    }
    clean.update(env, DJANGO_SETTINGS_MODULE="landed.settings")
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_secret_key_without_debug_is_a_clear_startup_error(tmp_path):
    result = run_python(PRINT_SETTINGS, {"LANDED_DATA_DIR": str(tmp_path)})

    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set" in result.stderr


def test_nothing_configured_means_embedded_sqlite_and_local_cache(tmp_path):
    result = run_python(PRINT_SETTINGS, {"LANDED_DATA_DIR": str(tmp_path), "SECRET_KEY": "x" * 50})

    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(tmp_path / "landed.sqlite3")
    assert values["cache"].endswith("LocMemCache")
    assert values["broker"] == "filesystem://"
    assert values["secure_cookie"] is True
    assert values["hosts"] == ["localhost", "127.0.0.1", "[::1]"]


def test_urls_switch_to_postgresql_and_redis(tmp_path):
    result = run_python(
        PRINT_SETTINGS,
        {
            "SECRET_KEY": "x" * 50,
            "DATABASE_URL": "postgres://u@127.0.0.1:5432/landed_prod",
            "REDIS_URL": "redis://127.0.0.1:6379/3",
            "ALLOWED_HOSTS": "api.example.com",
        },
    )

    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["name"] == "landed_prod"
    assert values["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert values["broker"] == "redis://127.0.0.1:6379/3"
    assert values["hosts"] == ["api.example.com"]


def test_embedded_mode_passes_system_checks(tmp_path):
    result = run_python(
        "import django; django.setup(); from django.core.management import call_command; "
        "call_command('check', '--fail-level', 'WARNING')",
        {"LANDED_DATA_DIR": str(tmp_path), "SECRET_KEY": "x" * 50},
    )
    assert result.returncode == 0, result.stderr


def test_celery_app_uses_the_configured_broker_and_json_only():
    assert celery_app.conf.broker_url == settings.REDIS_URL
    assert celery_app.conf.task_serializer == "json"
    assert celery_app.conf.accept_content == ["json"]
    assert celery_app.conf.task_acks_late is True
    assert celery_app.conf.task_reject_on_worker_lost is True


@pytest.mark.django_db
def test_database_is_postgresql_in_tests():
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
