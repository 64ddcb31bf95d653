"""The custom connectors' sandbox: a definition's check and bounded read run in a child process
of their own, and each of its limits is hit on purpose against a local API on 127.0.0.1 (time,
memory, bytes of a response, bytes of output, records), with the network policy, secrets
masked and an environment that holds nothing of the server's."""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import threading
import time
from typing import Any

import pytest

from connectors.custom.sandbox import process
from connectors.custom.sandbox.process import SandboxLimits, sandbox_read
from tests.connectors.test_network_policy import RecordingListener
from tests.http_server import API_KEY, FakeApi

LIMITS = SandboxLimits(seconds=10, memory_mib=512, records=100, bytes=5 * 1024 * 1024)
USERS = {
    "name": "users",
    "path": "keyed/offset/users",
    "record_selector": "data.items",
    "primary_key": "id",
    "paginator": {"type": "offset", "limit_param": "limit", "offset_param": "offset"},
}


@pytest.fixture(scope="module")
def fake_api():
    api = FakeApi(users=23).start()
    yield api
    api.stop()


def http_config(api: FakeApi, *streams: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An http_api config (what a custom definition compiles to) with the API key in the query,
    where a careless report would show it."""
    return {
        "base_url": f"{api.url}/v1",
        "auth_type": "api_key",
        "api_key_name": "api_key",
        "api_key_in": "query",
        "api_key": API_KEY,
        "page_size": 10,
        "max_retries": 0,
        "streams": list(streams or [USERS]),
        **extra,
    }


def read(config: dict[str, Any], *, max_records: int = 20, **limits: Any) -> dict[str, Any]:
    bounds = SandboxLimits(**{**LIMITS.as_dict(), **limits})
    return sandbox_read(
        config=config, max_records=max_records, limits=bounds, allow_private_networks=True
    )


def test_check_and_a_bounded_read_of_each_stream(fake_api):
    events = {
        "name": "events",
        "path": "keyed/pages/users",
        "record_selector": "results",
        "paginator": {"type": "page_number", "page_param": "page", "size_param": "per_page"},
    }
    result = read(http_config(fake_api, USERS, events), max_records=15)

    assert result["status"] == "succeeded" and result["error"] is None, result
    assert result["check"]["status"] == "succeeded"
    users, pages = result["streams"]
    assert users["name"] == "users" and users["status"] == "succeeded"
    assert [r["id"] for r in users["records"]] == list(range(1, 16))
    assert users["record_count"] == 15 and users["truncated"] is True
    assert {"name": "id", "type": "bigint"} in users["columns"]
    assert {"name": "address", "type": "json"} in users["columns"]
    assert pages["record_count"] == 15 and pages["error"] is None
    # Two pages of ten for 15 records, not the stream's third: the read stops at the limit.
    assert [r["url"].split("?")[1] for r in result["requests"] if "offset/" in r["url"]] == [
        "limit=10&offset=0&api_key=***",  # the check
        "limit=10&offset=0&api_key=***",
        "limit=10&offset=10&api_key=***",
    ]
    first = result["requests"][0]
    assert first["method"] == "GET" and first["status"] == 200
    assert first["bytes"] > 1000 and first["duration_ms"] >= 0
    assert API_KEY not in json.dumps(result)
    assert result["limits"] == {**LIMITS.as_dict(), "records": 15}


def test_a_stream_read_to_its_end_is_not_truncated(fake_api):
    result = read(http_config(fake_api), max_records=50)
    (users,) = result["streams"]
    assert users["record_count"] == 23 and users["truncated"] is False


def test_records_are_capped_by_the_sandbox_whatever_is_asked(fake_api):
    result = read(http_config(fake_api), max_records=50, records=4)
    (users,) = result["streams"]
    assert users["record_count"] == 4 and users["truncated"] is True
    assert result["limits"]["records"] == 4


def test_one_failing_stream_does_not_stop_the_others_and_its_error_is_masked(fake_api):
    # The API quotes the request's query back in its error, API key included.
    fake_api.route("/v1/keyed/echo", lambda handler, query: (400, {"refused": query}, {}))
    echo = {"name": "echo", "path": "keyed/echo", "record_selector": ""}
    result = read(http_config(fake_api, echo, USERS))

    assert result["status"] == "failed" and result["error"] is None
    assert result["check"]["status"] == "failed"  # the first stream is the check's
    failed, users = result["streams"]
    assert failed["status"] == "failed" and failed["records"] == []
    assert failed["error"]["type"] == "connector_error"
    assert "HTTP 400" in failed["error"]["message"] and "***" in failed["error"]["message"]
    assert users["status"] == "succeeded" and users["record_count"] == 20
    assert API_KEY not in json.dumps(result)


def test_a_server_that_streams_forever_hits_the_time_limit(fake_api):
    disconnected = threading.Event()

    def forever(handler, query):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.end_headers()
        handler.wfile.write(b'{"items": [')
        handler.wfile.flush()
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                # Straight to the socket: nothing left buffered when the client is gone.
                handler.connection.sendall(b'{"id": 1},')
                time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):
            disconnected.set()
        handler.close_connection = True
        return None

    fake_api.route("/v1/keyed/forever", forever)
    endless = {"name": "endless", "path": "keyed/forever", "record_selector": "items"}
    started = time.monotonic()
    # The shortest limit that still leaves the check and the users' read time to finish.
    result = read(http_config(fake_api, USERS, endless), seconds=1.5)
    elapsed = time.monotonic() - started

    assert 1.5 <= elapsed < 4.5, elapsed
    assert result["status"] == "failed"
    assert result["error"]["type"] == "time_limit"
    assert "SANDBOX_SECONDS" in result["error"]["message"]
    # What was done before the limit is kept.
    assert result["check"]["status"] == "succeeded"
    users, endless_out = result["streams"]
    assert users["status"] == "succeeded" and users["record_count"] == 20
    assert endless_out["status"] == "failed" and endless_out["error"]["type"] == "time_limit"
    # The child was killed: its connection closed, and the server's writes fail.
    assert disconnected.wait(3)


def test_a_huge_page_hits_the_byte_limit_of_a_response(fake_api):
    huge = {"items": [{"id": i, "blob": "x" * 1000} for i in range(200)]}  # ~200 KB
    fake_api.route("/v1/keyed/huge", lambda handler, query: (200, huge, {}))
    stream = {"name": "huge", "path": "keyed/huge", "record_selector": "items"}
    result = read(http_config(fake_api, USERS, stream), bytes=64 * 1024)

    users, failed = result["streams"]
    assert users["status"] == "succeeded"
    assert failed["status"] == "failed"
    assert "more than max_response_bytes (65536 bytes)" in failed["error"]["message"]
    assert result["status"] == "failed" and result["error"] is None


def test_records_larger_than_the_output_limit_hit_it(fake_api):
    def big_pages(handler, query):
        offset, limit = int(query.get("offset", 0)), int(query.get("limit", 10))
        items = [{"id": i, "blob": "y" * 3000} for i in range(offset, min(offset + limit, 60))]
        return 200, {"items": items}, {}

    fake_api.route("/v1/keyed/big", big_pages)
    stream = {**USERS, "name": "big", "path": "keyed/big", "record_selector": "items"}
    # Each page (~30 KB) fits the byte limit; 60 records of 3 KB (~180 KB) do not.
    result = read(http_config(fake_api, stream), max_records=100, bytes=64 * 1024)

    assert result["status"] == "failed"
    assert result["error"]["type"] == "output_limit"
    assert "SANDBOX_MAX_BYTES" in result["error"]["message"]
    assert result["streams"][0]["status"] == "failed"


def test_a_page_that_parses_into_more_than_the_memory_limit_hits_it(fake_api):
    # 32 MB of JSON (within the byte limit) that Python holds as ~8 million float objects:
    # some 256 MB more than the interpreter's own, past a 400 MiB address space.
    body = b'{"items": [' + b"0.5," * 8_000_000 + b"0.5]}"
    fake_api.route("/v1/keyed/floats", lambda handler, query: (200, body, {}))
    stream = {"name": "floats", "path": "keyed/floats", "record_selector": "items"}
    result = read(http_config(fake_api, stream), memory_mib=400, bytes=64 * 1024 * 1024)

    assert result["status"] == "failed"
    assert result["error"]["type"] == "memory_limit", result
    assert "SANDBOX_MEMORY_MIB" in result["error"]["message"]
    (floats,) = result["streams"]
    assert floats["status"] == "failed" and floats["error"]["type"] == "memory_limit"


def test_with_private_networks_refused_the_api_on_loopback_is_not_reached(fake_api):
    before = len(fake_api.hits)
    result = sandbox_read(
        config=http_config(fake_api),
        max_records=5,
        limits=LIMITS,
        allow_private_networks=False,
    )
    assert result["status"] == "failed"
    assert result["check"]["error_type"] == "host_not_allowed"
    (users,) = result["streams"]
    assert users["error"]["type"] == "host_not_allowed"
    assert "not allowed" in users["error"]["message"]
    assert len(fake_api.hits) == before


def test_a_redirect_to_a_private_address_is_not_followed(fake_api):
    listener = RecordingListener()  # the "private" service a redirect points at
    try:
        target = f"http://127.0.0.1:{listener.port}/latest/meta-data"
        fake_api.route("/v1/keyed/hop", lambda handler, query: (302, {}, {"Location": target}))
        stream = {"name": "hop", "path": "keyed/hop", "record_selector": ""}
        result = read(http_config(fake_api, stream))
    finally:
        listener.close()
    (hop,) = result["streams"]
    assert hop["status"] == "failed"
    assert "redirects are not followed" in hop["error"]["message"]
    assert [r["status"] for r in result["requests"]] == [302, 302]  # the check, the read
    assert listener.hits == 0


PROBE = """
import json, os, resource, sys
from connectors.custom.sandbox import child
child.main()
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("django", "rest_framework",
    "celery", "psycopg", "redis") or m in ("landed.settings", "landed.security.secrets",
    "connectors.models"))
# Then: could it read the server's settings if it tried?
try:
    from django.conf import settings
    settings.SECRET_KEY
    reachable = True
except Exception:
    reachable = False
print(json.dumps({"event": "probe", "env": dict(os.environ), "loaded": loaded,
    "settings_reachable": reachable, "cwd": os.getcwd(),
    "limits": {name: resource.getrlimit(getattr(resource, name))
               for name in ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NOFILE", "RLIMIT_FSIZE")}}))
"""


def test_the_child_runs_without_django_settings_or_the_servers_environment(fake_api, monkeypatch):
    """The real child's work, then a look at what it had: its environment, its modules, its
    working directory and its resource limits."""
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ENCRYPTION_KEYS", "LLM_API_KEY"):
        monkeypatch.setenv(name, f"server-{name.lower()}")
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_server")
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "landed.settings")
    request = {"config": http_config(fake_api), "max_records": 3, "allow_private_networks": True}
    with tempfile.TemporaryDirectory() as workdir:
        exchange = process._run_child(
            json.dumps(request).encode(),
            workdir,
            LIMITS,
            command=[sys.executable, "-B", "-s", "-c", PROBE],
        )
        events = process._events(exchange.stdout)
        probe = events[-1]
        assert probe["event"] == "probe", exchange.stderr
        assert probe["cwd"] == workdir
    assert any(e["event"] == "stream" and e["stream"]["record_count"] == 3 for e in events)
    assert set(probe["env"]) <= {
        "PATH",
        "LANG",
        "PYTHONPATH",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONIOENCODING",
        "HOME",
        "TMPDIR",
        "LC_CTYPE",  # set by the interpreter itself for a C locale
    }
    assert not any("server-" in value or "sk_test" in value for value in probe["env"].values())
    assert probe["loaded"] == []
    assert probe["settings_reachable"] is False
    limits = probe["limits"]
    assert limits["RLIMIT_AS"] == [512 * 1024 * 1024] * 2
    assert limits["RLIMIT_CPU"][0] == 10
    assert limits["RLIMIT_NOFILE"] == [process.MAX_OPEN_FILES] * 2
    assert limits["RLIMIT_FSIZE"] == [process.MAX_FILE_BYTES] * 2
    assert resource.getrlimit(resource.RLIMIT_AS)[0] != 512 * 1024 * 1024  # not the parent's


# --- POST /custom-connectors/{id}/test ---------------------------------------------------------
DEFINITION = {
    "auth_type": "api_key",
    "api_key_name": "api_key",
    "api_key_in": "query",
    "page_size": 10,
    "max_retries": 0,
    "streams": [
        {
            "name": "users",
            "path": "keyed/offset/users",
            "record_selector": "data.items",
            "primary_key": "id",
            "paginator": {"type": "offset", "limit_param": "limit", "offset_param": "offset"},
        }
    ],
}


@pytest.fixture
def custom(user, fake_api):
    from connectors.custom.services import custom_version_create
    from connectors.models import CustomConnector

    row = CustomConnector.objects.create(
        account=user.account, name="fake", base_url=f"{fake_api.url}/v1", auth_kind="api_key"
    )
    custom_version_create(custom_connector=row, definition={**DEFINITION, "base_url": row.base_url})
    return row


def locs(response) -> dict[tuple, str]:
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["error"] == "Validation error"
    return {tuple(item["loc"]): item["type"] for item in body["detail"]}


@pytest.mark.django_db
def test_the_current_version_is_tested_through_the_api(client, custom):
    response = client.post(
        f"/custom-connectors/{custom.id}/test",
        {"config": {"api_key": API_KEY}, "max_records": 5},
        format="json",
    )
    assert response.status_code == 200, response.content
    result = response.json()
    assert result["status"] == "succeeded" and result["version"] == 1
    (users,) = result["streams"]
    assert users["record_count"] == 5 and users["truncated"] is True
    assert result["limits"] == {"seconds": 30.0, "memory_mib": 512, "records": 5, "bytes": 5 << 20}
    assert all("api_key=***" in r["url"] for r in result["requests"])
    assert API_KEY not in response.content.decode()


@pytest.mark.django_db
def test_a_secret_config_field_is_masked_in_the_requests_and_errors(client, custom):
    """A `secret` config field put in a query parameter and a path is masked like a credential
    in what the test reports ("masked in error messages, never returned")."""
    secret = "tenant-secret-4711"
    users = {**USERS, "params": {"tenant": "{config.tenant}"}}
    missing = {"name": "missing", "path": "nowhere/{config.tenant}", "record_selector": "x"}
    definition = {
        **DEFINITION,
        "base_url": custom.base_url,
        "config_fields": [{"name": "tenant", "type": "secret"}],
        "streams": [users, missing],
    }
    response = client.post(
        f"/custom-connectors/{custom.id}/test",
        {"definition": definition, "config": {"api_key": API_KEY, "tenant": secret}},
        format="json",
    )
    assert response.status_code == 200, response.content
    result = response.json()
    assert any("tenant=***" in r["url"] for r in result["requests"]), result["requests"]
    assert secret not in response.content.decode()


@pytest.mark.django_db
def test_a_failing_api_is_a_200_with_the_errors(client, custom):
    response = client.post(
        f"/custom-connectors/{custom.id}/test", {"config": {"api_key": "wrong"}}, format="json"
    )
    assert response.status_code == 200, response.content
    result = response.json()
    assert result["status"] == "failed" and result["error"] is None
    assert result["check"]["error_type"] == "authentication_failed"
    assert result["streams"][0]["error"]["type"] == "authentication_failed"
    assert [r["status"] for r in result["requests"]] == [401, 401]


@pytest.mark.django_db
def test_a_definition_sent_is_tried_without_being_saved(client, custom):
    pages = {
        **DEFINITION,
        "streams": [
            {
                "name": "pages",
                "path": "keyed/pages/users",
                "record_selector": "results",
                "paginator": {
                    "type": "page_number",
                    "page_param": "page",
                    "size_param": "per_page",
                },
            }
        ],
    }
    response = client.post(
        f"/custom-connectors/{custom.id}/test",
        {"config": {"api_key": API_KEY}, "definition": pages, "max_records": 3},
        format="json",
    )
    result = response.json()
    assert result["status"] == "succeeded" and result["version"] is None
    assert [s["name"] for s in result["streams"]] == ["pages"]
    custom.refresh_from_db()
    assert custom.current_version == 1 and custom.versions.count() == 1


@pytest.mark.django_db
def test_bad_input_is_a_422_naming_the_field(client, custom, settings):
    url = f"/custom-connectors/{custom.id}/test"
    bad_definition = {**DEFINITION, "streams": [{"name": "x"}], "api_key": "leak"}
    assert ("body", "definition", "api_key") in locs(
        client.post(url, {"definition": bad_definition}, format="json")
    )
    assert locs(client.post(url, {"config": {}}, format="json")) == {
        ("body", "config", "api_key"): "missing"
    }
    assert locs(client.post(url, {"config": {"api_key": "k"}, "version": 9}, format="json")) == {
        ("body", "version"): "not_found"
    }
    settings.SANDBOX_MAX_RECORDS = 10
    assert locs(client.post(url, {"max_records": 11}, format="json")) == {
        ("body", "max_records"): "less_than_equal"
    }
    assert locs(client.post(url, {"max_records": "5"}, format="json")) == {
        ("body", "max_records"): "int_parsing"
    }


@pytest.mark.django_db
def test_a_config_that_makes_the_base_url_invalid_is_a_422_as_for_a_connector(client, custom):
    """The same check as POST /connectors: not a 200 whose streams say the sandbox crashed."""
    templated = {
        **DEFINITION,
        "base_url": "http://{config.host}/v1",
        "config_fields": [{"name": "host"}],
    }
    # A space or a control character in the host: no client can send it.
    for host in ("[::1", "x y", "a\tb"):
        response = client.post(
            f"/custom-connectors/{custom.id}/test",
            {"definition": templated, "config": {"api_key": "k", "host": host}},
            format="json",
        )
        assert locs(response) == {("body", "config"): "url_scheme"}, host


@pytest.mark.django_db
def test_another_accounts_custom_connector_is_a_404(custom):
    from tests.accounts.factories import UserFactory
    from tests.clients import client_for

    stranger = client_for(UserFactory())
    response = stranger.post(f"/custom-connectors/{custom.id}/test", {}, format="json")
    assert response.status_code == 404
    assert response.json()["error"] == "Custom connector not found"
    listing = stranger.get(f"/custom-connectors/{custom.id}/generations")
    assert listing.status_code == 404


# --- generation ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def petstore():
    from tests.petstore_server import PetStore

    store = PetStore().start()
    yield store
    store.stop()


@pytest.fixture
def pet_custom(user, petstore):
    import yaml

    from connectors.models import CustomConnector
    from tests.petstore_server import openapi_yaml

    return CustomConnector.objects.create(
        account=user.account,
        name="pets",
        base_url=f"{petstore.url}/v1",
        openapi_document=yaml.safe_load(openapi_yaml(petstore.url)),
    )


@pytest.mark.django_db
def test_generation_is_queued_once_then_run_into_a_version_with_a_diff(
    client, pet_custom, django_capture_on_commit_callbacks, monkeypatch
):
    from connectors.custom import generation as generation_module
    from connectors.models import CustomConnectorGeneration
    from tests.petstore_server import API_KEY as PET_KEY

    sent: list[tuple[str, str]] = []
    monkeypatch.setattr(
        "landed.tasks.enqueue", lambda name, *args, countdown=None: sent.append((name, *args))
    )
    url = f"/custom-connectors/{pet_custom.id}/generate"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"config": {"api_key": PET_KEY}}, format="json")
    assert response.status_code == 202, response.content
    queued = response.json()
    assert queued["status"] == "queued" and queued["base_version"] is None
    assert sent == [("connectors.custom_generate", queued["id"])]
    stored = CustomConnectorGeneration.objects.get(id=queued["id"])
    assert stored.encrypted_config and PET_KEY not in stored.encrypted_config
    # One at a time.
    conflict = client.post(url, {}, format="json")
    assert conflict.status_code == 409, conflict.content

    done = generation_module.generation_run(generation_id=queued["id"])
    assert done is not None and done.status == "succeeded", done.errors
    # Run twice (a redelivered task): nothing more happens.
    assert generation_module.generation_run(generation_id=queued["id"]) is None

    page = client.get(f"/custom-connectors/{pet_custom.id}/generations").json()
    assert page["total"] == 1 and page["has_next"] is False
    (first,) = page["items"]
    assert first["status"] == "succeeded" and first["version"] == 1
    assert first["errors"] == [] and first["used_llm"] is False
    assert first["test"]["status"] == "succeeded" and first["test"]["version"] == 1
    assert {s["name"] for s in first["test"]["streams"]} >= {"pets", "owners"}
    assert first["diff"].startswith("--- no version\n+++ generated\n")
    stored.refresh_from_db()
    assert stored.encrypted_config == "" and stored.finished_at is not None
    pet_custom.refresh_from_db()
    assert pet_custom.current_version == 1 and pet_custom.discovery is not None
    assert pet_custom.versions.get(number=1).origin == "generated"

    # A second attempt against version 1: the same discovery, the same definition.
    with django_capture_on_commit_callbacks(execute=True):
        second = client.post(url, {"config": {"api_key": PET_KEY}}, format="json").json()
    assert second["base_version"] == 1
    generation_module.generation_run(generation_id=second["id"])
    newest = client.get(f"/custom-connectors/{pet_custom.id}/generations").json()["items"][0]
    assert newest["status"] == "succeeded" and newest["version"] == 2
    assert newest["diff"] == ""  # the same definition as version 1


@pytest.mark.django_db
def test_a_generation_whose_test_read_fails_records_the_errors(client, pet_custom):
    from connectors.custom import generation as generation_module

    generation = generation_module.generation_start(
        custom_connector=pet_custom, config={"api_key": "not-the-key"}
    )
    done = generation_module.generation_run(generation_id=generation.id)
    assert done is not None and done.status == "failed"
    assert done.version is None and done.encrypted_config == ""
    assert done.test is not None and done.test["status"] == "failed"
    stages = {(e["stage"], e["type"]) for e in done.errors}
    assert ("test", "authentication_failed") in stages, done.errors
    assert any(e.get("stream") == "pets" for e in done.errors)
    # The stream is named once, not "Stream 'pets': Stream 'pets': ..."
    assert not any(e["message"].count("Stream 'pets'") > 1 for e in done.errors), done.errors
    assert "not-the-key" not in json.dumps(done.errors)
    assert done.diff.startswith("--- no version")  # what was tried is shown
    pet_custom.refresh_from_db()
    assert pet_custom.current_version is None


def test_a_child_that_crashes_or_cannot_start_is_reported_as_crashed(fake_api):
    from connectors.sources.http_api.masking import Masker

    config = http_config(fake_api)
    masker = Masker.from_config(config)
    crash = [sys.executable, "-c", f"import sys; sys.exit('died holding {API_KEY}')"]
    missing = ["/nonexistent/python"]
    with tempfile.TemporaryDirectory() as workdir:
        crashed = process._result(
            process._run_child(b"{}", workdir, LIMITS, command=crash), config, LIMITS, masker
        )
        unstarted = process._result(
            process._run_child(b"{}", workdir, LIMITS, command=missing), config, LIMITS, masker
        )
    assert crashed["status"] == "failed"
    assert crashed["error"] == {
        "type": "crashed",
        "message": "The sandbox ended unexpectedly (1): died holding ***",
    }
    assert crashed["streams"][0]["error"] == crashed["error"]
    assert unstarted["error"]["type"] == "crashed"
    assert "could not start: FileNotFoundError" in unstarted["error"]["message"]


# --- generation with an LLM provider -----------------------------------------------------------
@pytest.fixture
def llm(settings):
    from tests.openai_server import FakeOpenAI, serve_as_provider

    with FakeOpenAI() as server:
        yield serve_as_provider(server, settings)


def deterministic_definition(custom) -> dict[str, Any]:
    from connectors.custom.discover import custom_connector_discover
    from connectors.custom.discovery.definition import definition_from_discovery
    from tests.petstore_server import API_KEY as PET_KEY

    discovery = custom_connector_discover(custom_connector=custom, config={"api_key": PET_KEY})
    return definition_from_discovery(discovery)


@pytest.mark.django_db
def test_an_llm_refinement_that_validates_is_the_version_offered(pet_custom, llm):
    from connectors.custom import generation as generation_module
    from tests.petstore_server import API_KEY as PET_KEY

    deterministic = deterministic_definition(pet_custom)
    pets_only = [s for s in deterministic["streams"] if s["name"] == "pets"]
    # The model answers with another host: the definition's own base URL is kept.
    llm.answer_json({**deterministic, "base_url": "https://evil.example/v1", "streams": pets_only})
    generation = generation_module.generation_start(
        custom_connector=pet_custom, config={"api_key": PET_KEY}
    )
    done = generation_module.generation_run(generation_id=generation.id)

    assert done is not None and done.status == "succeeded", done.errors
    assert done.used_llm is True and done.llm_model == "fake-gpt"
    assert done.prompt_tokens > 0 and done.completion_tokens > 0
    assert done.errors == []
    version = done.version
    assert version is not None and [s["name"] for s in version.definition["streams"]] == ["pets"]
    assert version.definition["base_url"] == deterministic["base_url"]
    # The model was handed the discovery and the definition as quoted data.
    (request,) = llm.requests
    assert "pets" in request.messages[-1]["content"]


@pytest.mark.django_db
def test_an_llm_definition_that_fails_validation_falls_back_to_the_deterministic_one(
    pet_custom, llm
):
    from connectors.custom import generation as generation_module
    from tests.petstore_server import API_KEY as PET_KEY

    deterministic = deterministic_definition(pet_custom)
    pets = next(s for s in deterministic["streams"] if s["name"] == "pets")
    llm.answer_json({**deterministic, "streams": [pets, pets]})  # a stream defined twice
    generation = generation_module.generation_start(
        custom_connector=pet_custom, config={"api_key": PET_KEY}
    )
    done = generation_module.generation_run(generation_id=generation.id)

    assert done is not None and done.status == "succeeded"
    assert done.used_llm is True
    (note,) = done.errors
    assert note["stage"] == "llm" and note["type"] == "llm_definition_invalid"
    assert "defined twice" in note["message"]
    assert done.version is not None and done.version.definition == deterministic


@pytest.mark.django_db
def test_a_lost_attempt_does_not_hold_the_next_one_back(pet_custom, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    from connectors.custom import generation as generation_module
    from connectors.models import CustomConnectorGeneration

    monkeypatch.setattr("landed.tasks.enqueue", lambda *args, **kwargs: None)
    lost = generation_module.generation_start(custom_connector=pet_custom, config={"api_key": "k"})
    with pytest.raises(generation_module.ConflictError):
        generation_module.generation_start(custom_connector=pet_custom, config={})
    # Its message never reached a worker.
    long_ago = timezone.now() - generation_module.STALE_AFTER - timedelta(seconds=1)
    CustomConnectorGeneration.objects.filter(id=lost.id).update(created_at=long_ago)

    fresh = generation_module.generation_start(custom_connector=pet_custom, config={})
    lost.refresh_from_db()
    assert lost.status == "failed" and lost.encrypted_config == ""
    assert [e["type"] for e in lost.errors] == ["lost"]
    assert fresh.status == "queued"
    # The lost attempt's message, delivered at last, finds it ended.
    assert generation_module.generation_run(generation_id=lost.id) is None
