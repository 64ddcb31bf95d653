"""The README's quickstart on `make run` with nothing configured: SQLite, a file broker, the
API, a worker and the scheduler; a sample connector syncs into a DuckDB file. The same run
shows the server as a user first meets it (request ids in its log, the session cookie over
plain HTTP, the admin's static files, its secret key kept in the data directory): one start of
the platform, seconds long, for both."""

import re
import time

import duckdb
import pytest
import requests

from tests.landed.test_run_command import PASSWORD, base_env, free_port, port_is_closed, running

pytestmark = pytest.mark.slow


def test_quickstart_on_make_run_with_nothing_configured(tmp_path):
    port = free_port()
    log = tmp_path / "run.log"
    with running(
        ["make", "--no-print-directory", "run"], base_env(tmp_path, port), port, log
    ) as url:
        health = requests.get(f"{url}/health", timeout=5)
        assert health.status_code == 200
        assert health.json()["database"]["vendor"] == "sqlite"

        session = requests.Session()
        signup = session.post(
            f"{url}/auth/signup",
            json={"email": "quickstart@example.com", "password": PASSWORD},
            headers={"X-Request-ID": "quickstart-trace-1"},
            timeout=10,
        )
        assert signup.status_code == 201, signup.text
        assert signup.headers["X-Request-ID"] == "quickstart-trace-1"
        # The session cookie comes back over plain HTTP on the loopback.
        me = session.get(f"{url}/auth/me", timeout=5)
        assert me.status_code == 200
        assert me.json()["user"]["email"] == "quickstart@example.com"
        # The admin's static files are served.
        assert requests.get(f"{url}/static/admin/css/base.css", timeout=5).status_code == 200

        # The quickstart, as a script follows it: with the access token.
        session.cookies.clear()
        session.headers["Authorization"] = f"Bearer {signup.json()['access_token']}"
        destination = session.post(
            f"{url}/destinations",
            json={"name": "local", "type": "duckdb", "config": {"path": "landed.duckdb"}},
            timeout=10,
        )
        assert destination.status_code == 201, destination.text
        connector = session.post(
            f"{url}/connectors",
            json={
                "name": "demo",
                "type": "sample",
                "config": {"size": 500},
                "destination_id": destination.json()["id"],
            },
            timeout=10,
        )
        assert connector.status_code == 201, connector.text
        job = session.post(f"{url}/connectors/{connector.json()['id']}/sync", timeout=10)
        assert job.status_code == 202, job.text

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = session.get(f"{url}/jobs/{job.json()['id']}", timeout=10).json()
            if state["status"] not in ("pending", "running"):
                break
            time.sleep(0.1)
        assert state["status"] == "succeeded", (state, log.read_text()[-3000:])
        # customers, orders (3x) and events (10x)
        assert state["rows_written"] == 500 * 14

    assert port_is_closed(port)
    output = log.read_text()
    assert f"Landed API on http://127.0.0.1:{port}" in output
    assert "gunicorn" in output.lower()
    assert re.search(r"\[request_id=quickstart-trace-1\] accounts\.signup", output), output
    assert "request_id=quickstart-trace-1" in output.split("accounts.signup", 1)[1]
    # Data and the generated secret key stay in the data directory.
    assert (tmp_path / "data" / "landed.sqlite3").exists()
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o077 == 0

    # Each account's DuckDB files live in a directory of their own.
    account_id = signup.json()["customer"]["id"]
    path = tmp_path / "data" / "duckdb" / account_id / "landed.duckdb"
    with duckdb.connect(str(path), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM demo.orders").fetchone()[0] == 1500
