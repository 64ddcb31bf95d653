"""Request bodies sent with `Transfer-Encoding: chunked` (no Content-Length) on the real server
(`scripts/run.sh`: gunicorn's uvicorn workers serving landed.asgi).

Django and DRF read a body by CONTENT_LENGTH, so a chunked body used to read as empty: a PATCH
answered 200 and changed nothing, a POST answered a misleading 422. The last test is the WSGI
entry point's (landed.wsgi), which the test suite's live server and `manage.py runserver` use.
"""

import io
import json
import socket
from collections.abc import Iterator
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
import requests

from landed.wsgi import application
from tests.landed.test_run_command import PASSWORD, ROOT, base_env, free_port, running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The API alone (`scripts/run.sh`), a signed-up user and a connector."""
    tmp_path = tmp_path_factory.mktemp("chunked")
    port = free_port()
    env = base_env(tmp_path, port, RUN_WORKERS="false")
    command = ["bash", str(ROOT / "scripts" / "run.sh")]
    with running(command, env, port, tmp_path / "run.log") as url:
        signup = requests.post(
            f"{url}/auth/signup",
            json={"email": "chunked@example.com", "password": PASSWORD},
            timeout=10,
        )
        assert signup.status_code == 201, signup.text
        token = signup.json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        destination = requests.post(
            f"{url}/destinations",
            json={"name": "local", "type": "duckdb", "config": {"path": "landed.duckdb"}},
            headers=auth,
            timeout=10,
        )
        assert destination.status_code == 201, destination.text
        connector = requests.post(
            f"{url}/connectors",
            json={
                "name": "before",
                "type": "sample",
                "config": {"size": 10},
                "destination_id": destination.json()["id"],
            },
            headers=auth,
            timeout=10,
        )
        assert connector.status_code == 201, connector.text
        yield {
            "port": port,
            "url": url,
            "token": token,
            "destination_id": destination.json()["id"],
            "connector_id": connector.json()["id"],
            "log": tmp_path / "run.log",
        }


def chunked(
    port: int, method: str, path: str, token: str, body: bytes, piece_size: int = 7
) -> tuple[int, dict]:
    """Send `body` in several chunks over a raw socket, with no Content-Length; return the
    status and the JSON answer."""
    pieces = [body[i : i + piece_size] for i in range(0, len(body), piece_size)]
    encoded = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
    head = (
        f"{method} {path} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + encoded)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    header, _, payload = received.partition(b"\r\n\r\n")
    status = int(header.split(b" ", 2)[1])
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.decode().partition(":") for line in header.split(b"\r\n")[1:])
    }
    if headers.get("transfer-encoding", "").lower() == "chunked":
        payload = dechunk(payload)
    return status, json.loads(payload) if payload else {}


def dechunk(data: bytes) -> bytes:
    out = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return out
        out, data = out + data[:size], data[size + 2 :]


@pytest.mark.slow
def test_a_chunked_patch_changes_the_connector(server: dict[str, Any]) -> None:
    path = f"/connectors/{server['connector_id']}"
    status, body = chunked(
        server["port"], "PATCH", path, server["token"], json.dumps({"name": "after"}).encode()
    )
    assert status == 200, body
    assert body["name"] == "after"
    again = requests.get(
        f"{server['url']}{path}",
        headers={"Authorization": f"Bearer {server['token']}"},
        timeout=10,
    )
    assert again.json()["name"] == "after"


@pytest.mark.slow
def test_a_chunked_post_creates_the_connector(server: dict[str, Any]) -> None:
    payload = {
        "name": "chunked-post",
        "type": "sample",
        "config": {"size": 10},
        "destination_id": server["destination_id"],
    }
    status, body = chunked(
        server["port"], "POST", "/connectors", server["token"], json.dumps(payload).encode()
    )
    assert status == 201, body
    assert body["name"] == "chunked-post"


@pytest.mark.slow
def test_a_chunked_body_over_the_limit_is_refused_with_413(server: dict[str, Any]) -> None:
    # Django's default DATA_UPLOAD_MAX_MEMORY_SIZE is 2.5 MiB.
    too_big = json.dumps({"name": "x" * (3 * 1024 * 1024)}).encode()
    path = f"/connectors/{server['connector_id']}"
    status, body = chunked(server["port"], "PATCH", path, server["token"], too_big, 65536)
    assert status == 413, body
    assert body["error"] == "Request body too large"


# Django's request signals check the test's database connection when one is open.
@pytest.mark.django_db
def test_a_server_that_cannot_end_a_chunked_body_gets_411() -> None:
    """A WSGI server that does not set `wsgi.input_terminated` (wsgiref, `manage.py runserver`)
    leaves reading a chunked body unbounded: the body is refused, not read as empty."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "PATCH",
        "PATH_INFO": "/connectors/00000000-0000-0000-0000-000000000000",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "CONTENT_TYPE": "application/json",
        "HTTP_X_REQUEST_ID": "chunked-411",
        "wsgi.input": io.BytesIO(b'{"name": "after"}'),
    }
    setup_testing_defaults(environ)
    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, headers))

    body = b"".join(application(environ, start_response))
    ((status, headers),) = started
    assert status.startswith("411 ")
    assert json.loads(body) == {
        "error": "Length required",
        "detail": "Send the body with a Content-Length header.",
    }
    assert ("X-Request-ID", "chunked-411") in headers
