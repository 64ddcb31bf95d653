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


def test_missing_secret_key_with_a_database_url_is_a_clear_startup_error(tmp_path):
    result = run_python(
        PRINT_SETTINGS,
        {
            "LANDED_DATA_DIR": str(tmp_path),
            "DATABASE_URL": "postgres://u@127.0.0.1:5432/landed_prod",
        },
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set" in result.stderr
    # Production never falls back to a key file.
    assert not (tmp_path / "secret_key").exists()


PRINT_SECRET_KEY = (
    "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
)


def test_embedded_default_without_secret_key_uses_the_data_directory_key(tmp_path):
    data_dir = tmp_path / "data"
    first = run_python(PRINT_SECRET_KEY, {"LANDED_DATA_DIR": str(data_dir)})
    assert first.returncode == 0, first.stderr
    key_file = data_dir / "secret_key"
    key = key_file.read_text().strip()
    assert len(key) >= 50
    assert first.stdout.strip() == key
    # Readable by its owner only.
    assert key_file.stat().st_mode & 0o777 == 0o600

    # Generated once: another process (a management command, a worker) finds the same key,
    # and so does scripts/run.sh, which hands it to the server it starts.
    again = run_python(PRINT_SECRET_KEY, {"LANDED_DATA_DIR": str(data_dir)})
    assert again.stdout.strip() == key
    for_run_sh = subprocess.run(
        [sys.executable, "-m", "landed.secret_key", str(data_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert for_run_sh.stdout.strip() == key


def test_an_explicit_secret_key_wins_over_the_data_directory_key(tmp_path):
    (tmp_path / "secret_key").write_text("from-the-file\n")
    result = run_python(
        PRINT_SECRET_KEY, {"LANDED_DATA_DIR": str(tmp_path), "SECRET_KEY": "x" * 50}
    )
    assert result.stdout.strip() == "x" * 50


def test_processes_starting_together_agree_on_one_generated_key(tmp_path):
    code = (
        "import sys; from pathlib import Path; from landed.secret_key import "
        "data_dir_secret_key; print(data_dir_secret_key(Path(sys.argv[1])))"
    )
    clean = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path / "data")],
            cwd=ROOT,
            env=clean,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    keys = {process.communicate(timeout=60)[0].strip() for process in processes}
    assert keys == {(tmp_path / "data" / "secret_key").read_text().strip()}
    # No temporary file is left behind.
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["secret_key"]


def test_nothing_configured_means_embedded_sqlite_and_local_cache(tmp_path):
    result = run_python(PRINT_SETTINGS, {"LANDED_DATA_DIR": str(tmp_path), "SECRET_KEY": "x" * 50})

    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(tmp_path / "landed.sqlite3")
    assert values["cache"].endswith("LocMemCache")
    assert values["broker"] == "filesystem://localhost"
    assert values["secure_cookie"] is True
    assert values["hosts"] == ["localhost", "127.0.0.1", "[::1]"]


def test_the_embedded_broker_connects_without_warnings(tmp_path):
    """kombu logs "No hostname was supplied" each time it resolves a broker URL without a host:
    ten times in a `make run` log, for a transport that has no host."""
    result = run_python(
        "import django, logging; django.setup(); from landed.celery import app; "
        "logging.getLogger().setLevel(logging.WARNING); "
        "connection = app.connection_for_write(); connection.connect(); "
        "print(connection.as_uri()); connection.release()",
        {"LANDED_DATA_DIR": str(tmp_path), "SECRET_KEY": "x" * 50},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "filesystem://:**@localhost//"
    assert "WARNING" not in result.stderr, result.stderr


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


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"}, "TRUSTED_PROXIES:"),
        ({"RATELIMIT_IP_META_KEY": "HTTP_X_FORWARDED_FOR"}, "set TRUSTED_PROXIES"),
    ],
)
def test_client_address_settings_fail_clearly(tmp_path, env, message):
    result = run_python(PRINT_SETTINGS, {"LANDED_DATA_DIR": str(tmp_path), **env})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr
