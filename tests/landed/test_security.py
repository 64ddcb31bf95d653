"""The plain-Python parts of landed.security load without Django (or Celery): the connector
framework's HTTP sources use the outbound session through them."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_outbound_session_and_the_http_api_source_load_without_django():
    code = (
        "import sys; import landed.security.outbound, connectors.framework.http, "
        "connectors.sources.http_api; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'celery')); "
        "assert not heavy, heavy"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
