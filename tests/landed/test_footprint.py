"""The API process stays light: serving the API loads none of the connectors' data libraries
(Arrow, ADBC, DuckDB, ConnectorX); only the code that moves data (a worker) pays for them."""

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

# What a gunicorn worker loads before its first request, then every view and the admin.
PROBE = f"""
import sys
import landed.wsgi
from django.contrib import admin
from django.urls import get_resolver
get_resolver().url_patterns
admin.site.get_urls()
print(",".join(sorted(m for m in {DATA_LIBRARIES!r} if m in sys.modules)))
"""


def test_the_api_process_imports_no_data_library():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "landed.settings", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
