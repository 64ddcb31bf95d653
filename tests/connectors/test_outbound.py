"""Outbound HTTP obeys the network policy: private, loopback and link-local addresses are
refused before any connection unless private networks are allowed; the checked address is the
one connected to; redirects are not followed; the API refuses such URLs when saved."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
import requests

from connectors import services
from connectors.framework.base import ReadRequest
from connectors.models import Connector
from connectors.sources.http_api.source import HttpApiSource
from landed.security import network, outbound
from tests.http_server import FakeApi


@pytest.fixture
def api() -> Iterator[FakeApi]:
    server = FakeApi().start()
    yield server
    server.stop()


def definition(base_url: str, **extra) -> dict:
    return {
        "base_url": base_url,
        "max_retries": 0,
        "streams": [{"name": "users", "path": "offset/users", "record_selector": "data.items"}],
        **extra,
    }


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_private_addresses_are_refused_before_connecting(api, host):
    with pytest.raises(outbound.AddressNotAllowedError, match="ALLOW_PRIVATE_NETWORKS") as raised:
        outbound.session().get(f"http://{host}:{api.port}/v1/offset/users")
    assert raised.value.kind == "host_not_allowed" and not raised.value.retryable
    assert api.hits == []


def test_the_source_refuses_unless_allowed(api):
    config = definition(f"{api.url}/v1")
    refused = HttpApiSource(config)  # the default: private networks not allowed
    result = refused.check()
    assert (result.ok, result.error_type) == (False, "host_not_allowed")
    with pytest.raises(outbound.AddressNotAllowedError):
        refused.discover()
    assert api.hits == []

    allowed = HttpApiSource(config, allow_private_networks=True)
    assert allowed.check().ok and len(api.hits) == 1


def test_the_checked_address_is_the_one_connected_to(api, monkeypatch):
    # A name that resolves (here) to the test server: the connection goes to the address the
    # check saw, and the request still names the host.
    monkeypatch.setattr(outbound, "resolve", lambda host, port: ["127.0.0.1"])
    session = outbound.session(allow_private_networks=True)
    response = session.get(f"http://api.example.test:{api.port}/v1/offset/users?limit=1")
    assert response.status_code == 200 and len(api.hits) == 1

    # One public address among private ones is still refused: any forbidden answer is.
    # The refusal is the save-time check's plain text: it never tells the internal address.
    monkeypatch.setattr(outbound, "resolve", lambda host, port: ["203.0.113.9", "10.0.0.7"])
    with pytest.raises(outbound.AddressNotAllowedError) as raised:
        outbound.session().get(f"http://api.example.test:{api.port}/")
    assert raised.value.message == network._REFUSAL == outbound.REFUSAL
    assert "10.0.0.7" not in str(raised.value)
    assert len(api.hits) == 1


def test_redirects_are_not_followed(api):
    session = outbound.session(allow_private_networks=True)
    response = session.get(f"{api.url}/v1/redirect")
    assert response.status_code == 302 and api.hits_to("/v1/offset/users") == []
    response = session.get(f"{api.url}/v1/redirect", allow_redirects=True)
    assert response.status_code == 302 and api.hits_to("/v1/offset/users") == []


def test_environment_proxies_are_ignored(api, monkeypatch):
    # A proxy would connect on the session's behalf to any address: never used.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    response = outbound.session(allow_private_networks=True).get(f"{api.url}/v1/redirect")
    assert response.status_code == 302
    with pytest.raises(outbound.AddressNotAllowedError, match="Proxies"):
        outbound.session(allow_private_networks=True).get(
            f"{api.url}/v1/redirect", proxies={"http": "http://127.0.0.1:9"}
        )


def test_timeouts_apply_by_default(api):
    api.stall("/v1/offset/users", 1.0)
    with pytest.raises(requests.Timeout):
        outbound.session(allow_private_networks=True, timeout=0.2).get(f"{api.url}/v1/offset/users")


# --- through the API (the `client` fixture: tests/conftest.py) ------------------------------
@pytest.fixture
def destination(client, tmp_path, monkeypatch) -> dict:
    monkeypatch.setenv("LANDED_DUCKDB_ROOT", str(tmp_path))
    response = client.post(
        "/destinations",
        {"name": "lake", "type": "duckdb", "config": {"path": "lake.duckdb"}},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "extra"),
    [
        ("base_url", {}),
        (
            "token_url",
            {
                "auth_type": "oauth2_client_credentials",
                "client_id": "c",
                "client_secret": "s",
                "token_url": "http://localhost:{port}/oauth/token",
            },
        ),
    ],
)
def test_saving_a_loopback_url_is_422(client, destination, settings, api, field, extra):
    settings.ALLOW_PRIVATE_NETWORKS = False
    base_url = f"{api.url}/v1" if field == "base_url" else "https://api.example.com"
    extra = {k: v.format(port=api.port) for k, v in extra.items()}
    body = {
        "name": "api",
        "type": "http_api",
        "config": definition(base_url, **extra),
        "destination_id": destination["id"],
    }
    response = client.post("/connectors", body, format="json")
    assert response.status_code == 422, response.content
    issues = response.json()["detail"]
    assert [i["loc"] for i in issues] == [["body", "config", field]]
    assert issues[0]["type"] == "host_not_allowed"
    assert api.hits == []


@pytest.mark.django_db
def test_a_saved_connector_gets_the_policy_of_the_server(client, destination, settings, api):
    body = {
        "name": "api",
        "type": "http_api",
        "config": definition(f"{api.url}/v1"),
        "destination_id": destination["id"],
    }
    connector = client.post("/connectors", body, format="json").json()
    source = services.source_impl(Connector.objects.get(id=connector["id"]))
    stream = source.discover()[0]
    assert len(list(source.read(ReadRequest(stream=stream)))) == 1

    # The operator turns private networks off: the saved connector's requests are refused.
    settings.ALLOW_PRIVATE_NETWORKS = False
    api.hits.clear()
    tested = client.post(f"/connectors/{connector['id']}/test").json()
    assert tested["status"] == "failed" and tested["error_type"] == "host_not_allowed"
    streams = client.get(f"/connectors/{connector['id']}/streams")
    assert streams.status_code == 400
    assert streams.json()["detail"]["type"] == "host_not_allowed"
    assert api.hits == []


def test_tls_verifies_the_host_name_while_connecting_to_the_checked_address(
    api, tmp_path, monkeypatch
):
    # A certificate for api.example.test only, served on 127.0.0.1: verification passes
    # because the name (not the pinned address) goes to TLS, and fails for another name.
    cert, key = _self_signed(tmp_path, "api.example.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    api._server.socket = context.wrap_socket(api._server.socket, server_side=True)
    monkeypatch.setattr(outbound, "resolve", lambda host, port: ["127.0.0.1"])
    session = outbound.session(allow_private_networks=True)

    response = session.get(f"https://api.example.test:{api.port}/v1/offset/users", verify=cert)
    assert response.status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        session.get(f"https://other.example.test:{api.port}/v1/offset/users", verify=cert)


def _self_signed(directory, name: str) -> tuple[str, str]:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)
