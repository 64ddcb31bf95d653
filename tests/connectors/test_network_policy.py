"""Connectors never reach the server's own network unless the operator allows it: checked on
save, and again (resolved and pinned) before every connection."""

import socket
import threading

import pytest

from connectors import services
from connectors.models import Connector, Destination
from tests.pg import pg_config

pytestmark = pytest.mark.django_db


class RecordingListener:
    """A loopback TCP server that records every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.hits += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def listener():
    server = RecordingListener()
    yield server
    server.close()


@pytest.fixture
def private_off(settings):
    settings.ALLOW_PRIVATE_NETWORKS = False


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "/var/run/postgresql"])
def test_saving_a_private_host_is_422(client, private_off, listener, host):
    config = {**pg_config("postgres"), "host": host, "port": listener.port}
    response = client.post(
        "/destinations", {"name": "wh", "type": "postgres", "config": config}, format="json"
    )
    assert response.status_code == 422, response.content
    issue = response.json()["detail"][0]
    assert issue["loc"] == ["body", "config", "host"]
    assert issue["type"] == "host_not_allowed"
    assert listener.hits == 0


def test_testing_a_private_host_connects_nowhere(client, private_off, listener):
    config = {**pg_config("postgres"), "port": listener.port}
    response = client.post(
        "/destinations/test", {"type": "postgres", "config": config}, format="json"
    )
    assert response.status_code == 422
    assert listener.hits == 0


def test_saved_connectors_are_checked_again_before_connecting(
    client, settings, listener, django_capture_on_commit_callbacks
):
    # Saved while the policy allowed it (or before the host's DNS changed) ...
    config = {**pg_config("postgres"), "port": listener.port}
    destination = client.post(
        "/destinations", {"name": "wh", "type": "postgres", "config": config}, format="json"
    ).json()
    connector = client.post(
        "/connectors",
        {"name": "c", "type": "postgres", "config": config, "destination_id": destination["id"]},
        format="json",
    ).json()
    settings.ALLOW_PRIVATE_NETWORKS = False

    # ... the connection test, discovery and the sync's own connections refuse it.
    tested = client.post(f"/connectors/{connector['id']}/test").json()
    assert tested["status"] == "failed" and tested["error_type"] == "host_not_allowed"
    saved_test = client.post(f"/destinations/{destination['id']}/test").json()
    assert saved_test["error_type"] == "host_not_allowed"
    streams = client.get(f"/connectors/{connector['id']}/streams")
    assert streams.status_code == 400
    assert streams.json()["detail"]["type"] == "host_not_allowed"
    with pytest.raises(Exception, match="not allowed"):
        services.source_impl(Connector.objects.get(id=connector["id"]))
    with pytest.raises(Exception, match="not allowed"):
        services.destination_impl(Destination.objects.get(id=destination["id"]))
    assert listener.hits == 0


def test_public_hosts_are_pinned_to_the_checked_address(settings, monkeypatch):
    from connectors import configs
    from connectors.sources.postgres import PostgresSource
    from landed.security import network

    settings.ALLOW_PRIVATE_NETWORKS = False
    # A documentation-range address stands in for a public one; nothing connects to it.
    monkeypatch.setattr(network, "_resolve", lambda host, port: ["203.0.113.7"])
    monkeypatch.setattr(network, "_forbidden", lambda address: False)
    config = {**pg_config("postgres"), "host": "db.example.com"}
    address = configs.pinned_address(PostgresSource.spec, config)
    assert address == "203.0.113.7"
    conninfo = PostgresSource(config, hostaddr=address).settings.conninfo()
    assert "hostaddr=203.0.113.7" in conninfo and "host=db.example.com" in conninfo


@pytest.mark.parametrize(
    ("address", "forbidden"),
    [
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("fe80::1", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", True),  # noqa: S104 - classified, never bound
        ("100.100.100.200", True),
        ("192.0.0.192", True),
        ("2002:7f00:1::1", True),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", True),
        ("fd00::1", True),
        ("64:ff9b::a9fe:a9fe", True),
        ("64:ff9b:1::a9fe:a9fe", True),
        ("::a9fe:a9fe", True),
        ("8.8.8.8", False),
        ("2001:4860:4860::8888", False),
    ],
)
def test_forbidden_ranges(address, forbidden):
    from landed.security.network import _forbidden

    assert _forbidden(address) is forbidden
