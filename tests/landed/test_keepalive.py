"""An idle keep-alive connection outlives a client's polling interval on the real server."""

import http.client
import select
import sys
import time

import pytest

from tests.landed.test_run_command import base_env, free_port, running

pytestmark = pytest.mark.slow

# Longer than gunicorn's own default keep-alive (2 s), which a client polling a job every 2 s
# raced: its next request went out on a connection the server was closing.
PAUSE_SECONDS = 3.0


def test_a_polling_client_reuses_its_connection_after_a_pause(tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--config", "python:landed.gunicorn_conf"]
    env = base_env(tmp_path, port, SECRET_KEY="x" * 50)
    (tmp_path / "data").mkdir()
    with running([*command, "landed.asgi"], env, port, tmp_path / "gunicorn.log"):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request("GET", "/health")
            first = connection.getresponse()
            first.read()
            assert first.status == 200
            assert first.getheader("Connection", "").lower() != "close"
            sock = connection.sock

            time.sleep(PAUSE_SECONDS)
            # The server has not closed its end: a closed socket would be readable (EOF).
            readable, _, _ = select.select([sock], [], [], 0)
            assert not readable, "the server closed the idle connection"

            connection.request("GET", "/health")
            second = connection.getresponse()
            second.read()
            assert second.status == 200
            assert connection.sock is sock  # the same connection, not a new one
        finally:
            connection.close()
