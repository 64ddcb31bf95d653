"""The README's quickstart on `make run` with nothing configured: SQLite, a file broker, the
API, a worker and the scheduler; a sample connector syncs into a DuckDB file."""

import time

import duckdb
import pytest
import requests

from tests.landed.test_run_command import PASSWORD, base_env, free_port, running

pytestmark = pytest.mark.slow


def test_quickstart_sample_into_duckdb(tmp_path):
    port = free_port()
    log = tmp_path / "run.log"
    with running(
        ["make", "--no-print-directory", "run"], base_env(tmp_path, port), port, log
    ) as url:
        session = requests.Session()
        signup = session.post(
            f"{url}/auth/signup",
            json={"email": "new@example.com", "password": PASSWORD},
            timeout=10,
        )
        assert signup.status_code == 201, signup.text
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
            time.sleep(0.5)
        assert state["status"] == "succeeded", (state, log.read_text()[-3000:])
        # customers, orders (3x) and events (10x)
        assert state["rows_written"] == 500 * 14

    # Each account's DuckDB files live in a directory of their own.
    account_id = signup.json()["customer"]["id"]
    path = tmp_path / "data" / "duckdb" / account_id / "landed.duckdb"
    with duckdb.connect(str(path), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM demo.orders").fetchone()[0] == 1500
