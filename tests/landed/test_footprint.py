"""The processes that never move data stay light: the API, beat and the light worker load none
of the connectors' data libraries (Arrow, ADBC, DuckDB, ConnectorX); a worker that runs syncs
loads them all as it starts, before its pool forks."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA_LIBRARIES = (
    "pyarrow",
    "adbc_driver_manager",
    "adbc_driver_postgresql",
    "duckdb",
    "connectorx",
)
LOADED = f"print(','.join(sorted(m for m in {DATA_LIBRARIES!r} if m in sys.modules)))"

# What a gunicorn worker loads before its first request, then every view and the admin.
API = f"""
import sys
import landed.wsgi
from django.contrib import admin
from django.urls import get_resolver
get_resolver().url_patterns
admin.site.get_urls()
{LOADED}
"""

# What a Celery process loads as it starts (every app's tasks), then what a worker's start-up
# signal does for the queues it consumes.
WORKER = f"""
import sys
from types import SimpleNamespace
import django
django.setup()
from landed.celery import app
app.loader.import_default_modules()
from syncs.tasks import import_connectors_in_sync_workers
def started(*queues):
    consume = SimpleNamespace(consume_from={{q: None for q in queues}})
    worker = SimpleNamespace(app=SimpleNamespace(amqp=SimpleNamespace(queues=consume)))
    import_connectors_in_sync_workers(sender="test@host", instance=worker)
started("default", "webhooks")
{LOADED}
started("syncs")
{LOADED}
"""


def loaded_by(program: str) -> list[str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "landed.settings", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_the_api_process_imports_no_data_library():
    assert loaded_by(API) == [""]


def test_only_a_worker_that_runs_syncs_imports_the_connectors():
    light, syncs = loaded_by(WORKER)
    assert light == ""
    assert set(syncs.split(",")) == set(DATA_LIBRARIES)
