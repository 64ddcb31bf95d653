"""The Connectors and Destinations endpoints: validation, secrets, ownership, catalog."""

import pytest
from rest_framework.test import APIClient

from connectors import services
from connectors.models import Connector, Destination
from tests.accounts.factories import UserFactory
from tests.clients import client_for
from tests.pg import pg_config

pytestmark = pytest.mark.django_db


@pytest.fixture
def duckdb_root(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDED_DUCKDB_ROOT", str(tmp_path / "duckdb"))
    return tmp_path / "duckdb"


@pytest.fixture
def destination(client, duckdb_root) -> dict:
    response = client.post(
        "/destinations",
        {"name": "lake", "type": "duckdb", "config": {"path": "lake.duckdb"}},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def create_connector(client, destination, **overrides) -> dict:
    body = {
        "name": "demo",
        "type": "sample",
        "config": {"size": 100},
        "destination_id": destination["id"],
        **overrides,
    }
    response = client.post("/connectors", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


# --- Catalog -------------------------------------------------------------------------------
def test_catalog_lists_working_types_with_typed_fields():
    response = APIClient().get("/connectors/catalog")
    assert response.status_code == 200
    types = {item["type"]: item for item in response.json()["items"]}
    assert set(types) == {
        "github",
        "http_api",
        "hubspot",
        "microsoft",
        "mysql",
        "postgres",
        "sample",
        "shopify",
        "slack",
        "salesforce",
    }
    password = next(f for f in types["postgres"]["fields"] if f["name"] == "password")
    assert password["type"] == "secret" and password["secret"] is True
    sslmode = next(f for f in types["postgres"]["fields"] if f["name"] == "sslmode")
    assert sslmode["type"] == "enum" and "require" in sslmode["choices"]

    destinations = APIClient().get("/destinations/catalog").json()["items"]
    assert {item["type"] for item in destinations} == {"duckdb", "postgres"}


def test_static_schema_of_the_sample_type():
    response = APIClient().get("/connectors/catalog/sample/schema")
    assert response.status_code == 200
    streams = {s["name"]: s for s in response.json()["streams"]}
    assert set(streams) == {"customers", "orders", "events"}
    assert streams["orders"]["primary_key"] == ["id"]

    assert APIClient().get("/connectors/catalog/postgres/schema").status_code == 404
    missing = APIClient().get("/connectors/catalog/nope/schema")
    assert missing.status_code == 404 and missing.json()["error"] == "Unknown connector type"


# --- Destinations --------------------------------------------------------------------------
def test_destination_secrets_are_encrypted_and_never_returned(client):
    config = {**pg_config("postgres"), "password": "s3cret-value"}
    response = client.post(
        "/destinations", {"name": "wh", "type": "postgres", "config": config}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert "password" not in body["config"]
    assert body["secrets_set"] == ["password"]
    assert b"s3cret-value" not in response.content
    stored = Destination.objects.get(id=body["id"])
    assert "s3cret-value" not in stored.encrypted_secrets
    assert "password" not in stored.config

    # A full update without the secret keeps it.
    update = client.patch(
        f"/destinations/{body['id']}",
        {"name": "wh2", "type": "postgres", "config": pg_config("postgres")},
        format="json",
    )
    assert update.status_code == 200, update.content
    assert update.json()["secrets_set"] == ["password"]
    assert update.json()["name"] == "wh2"


def test_destination_type_cannot_change(client, destination):
    response = client.patch(
        f"/destinations/{destination['id']}",
        {"name": "lake", "type": "postgres", "config": pg_config("postgres")},
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "type"]


def test_destination_patch_needs_the_full_body(client, destination):
    response = client.patch(f"/destinations/{destination['id']}", {"name": "x"}, format="json")
    assert response.status_code == 422
    locs = {tuple(d["loc"]) for d in response.json()["detail"]}
    assert {("body", "type"), ("body", "config")} <= locs


def test_destination_config_is_checked_against_its_spec(client):
    response = client.post(
        "/destinations",
        {"name": "wh", "type": "postgres", "config": {"host": 5, "port": "x", "bogus": 1}},
        format="json",
    )
    assert response.status_code == 422
    detail = {tuple(d["loc"]): d["type"] for d in response.json()["detail"]}
    assert detail[("body", "config", "host")] == "string_type"
    assert detail[("body", "config", "port")] == "int_type"
    assert detail[("body", "config", "bogus")] == "extra_forbidden"
    assert detail[("body", "config", "database")] == "missing"


def test_unknown_type_is_422(client):
    response = client.post(
        "/destinations", {"name": "wh", "type": "oracle", "config": {}}, format="json"
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "type"]
    assert response.json()["detail"][0]["type"] == "enum"


def test_duplicate_names_are_409(client, destination):
    response = client.post(
        "/destinations",
        {"name": "lake", "type": "duckdb", "config": {"path": "other.duckdb"}},
        format="json",
    )
    assert response.status_code == 409


def test_destination_in_use_cannot_be_deleted(client, destination):
    connector = create_connector(client, destination)
    assert client.delete(f"/destinations/{destination['id']}").status_code == 409
    assert client.delete(f"/connectors/{connector['id']}").status_code == 204
    assert client.delete(f"/destinations/{destination['id']}").status_code == 204


def test_destination_test_without_saving(client, duckdb_root):
    response = client.post(
        "/destinations/test", {"type": "duckdb", "config": {"path": "t.duckdb"}}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "succeeded"
    assert Destination.objects.count() == 0


@pytest.mark.parametrize("path", ["../../etc/evil.duckdb", "/etc/evil.duckdb", "x.db"])
def test_duckdb_paths_outside_the_directory_are_422(client, duckdb_root, path):
    for url in ("/destinations", "/destinations/test"):
        response = client.post(
            url, {"name": "x", "type": "duckdb", "config": {"path": path}}, format="json"
        )
        assert response.status_code == 422, response.content
        assert response.json()["detail"][0]["loc"] == ["body", "config", "path"]


def test_duckdb_files_of_two_accounts_are_apart(client, duckdb_root, destination):
    stranger = client_for(UserFactory())
    theirs = stranger.post(
        "/destinations",
        {"name": "lake", "type": "duckdb", "config": {"path": "lake.duckdb"}},
        format="json",
    ).json()
    mine = services.destination_impl(Destination.objects.get(id=destination["id"]))
    other = services.destination_impl(Destination.objects.get(id=theirs["id"]))
    with mine.open_loader("demo"), other.open_loader("demo"):
        pass  # both open for writing at once: two files, not one
    files = sorted(p.relative_to(duckdb_root) for p in duckdb_root.rglob("*.duckdb"))
    assert len(files) == 2
    assert {f.parent.name for f in files} == {
        str(Destination.objects.get(id=destination["id"]).account_id),
        str(Destination.objects.get(id=theirs["id"]).account_id),
    }


def test_destination_test_of_a_closed_port(client, unused_port):
    config = {**pg_config("postgres"), "port": unused_port, "connect_timeout": 2}
    response = client.post(
        "/destinations/test", {"type": "postgres", "config": config}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "failed" and body["reachable"] is False


# --- Connectors ----------------------------------------------------------------------------
def test_connector_lifecycle(client, destination):
    connector = create_connector(client, destination, sync_frequency_minutes=60)
    assert connector["health"] == "never_synced"
    assert connector["destination_schema"] == "demo"
    assert connector["sync_frequency_minutes"] == 60
    assert connector["paused"] is False

    listing = client.get("/connectors").json()
    assert listing["total"] == 1 and listing["has_next"] is False
    assert listing["items"][0]["id"] == connector["id"]

    patched = client.patch(
        f"/connectors/{connector['id']}",
        {"paused": True, "config": {"size": 200}},
        format="json",
    ).json()
    assert patched["paused"] is True and patched["health"] == "paused"
    assert patched["config"] == {"size": 200}

    assert client.delete(f"/connectors/{connector['id']}").status_code == 204
    assert client.get(f"/connectors/{connector['id']}").status_code == 404


def test_connector_validation_names_the_field(client, destination):
    response = client.post(
        "/connectors",
        {
            "name": "",
            "type": "sample",
            "config": {"size": "big"},
            "destination_id": destination["id"],
            "sync_frequency_minutes": 1,
        },
        format="json",
    )
    assert response.status_code == 422
    locs = {tuple(d["loc"]) for d in response.json()["detail"]}
    assert ("body", "name") in locs
    assert ("body", "sync_frequency_minutes") in locs

    response = client.post(
        "/connectors",
        {
            "name": "x",
            "type": "sample",
            "config": {"size": "big"},
            "destination_id": destination["id"],
        },
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "config", "size"]


def test_resources_of_another_account_are_404(client, destination):
    connector = create_connector(client, destination)
    stranger = client_for(UserFactory())
    assert stranger.get(f"/connectors/{connector['id']}").status_code == 404
    assert (
        stranger.post(f"/connectors/{connector['id']}/sync", {}, format="json").status_code == 404
    )
    assert stranger.delete(f"/destinations/{destination['id']}").status_code == 404
    assert stranger.get("/connectors").json()["total"] == 0
    # Naming another account's destination in a body is a 422 on that field.
    response = stranger.post(
        "/connectors",
        {"name": "x", "type": "sample", "destination_id": destination["id"]},
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "destination_id"]
    assert Connector.objects.count() == 1


def test_streams_are_discovered_and_selection_validated(client, destination):
    connector = create_connector(client, destination)
    streams = client.get(f"/connectors/{connector['id']}/streams").json()["streams"]
    assert {s["name"] for s in streams} == {"customers", "orders", "events"}
    assert all(s["saved"] is False for s in streams)

    bad = client.put(
        f"/connectors/{connector['id']}/streams",
        {
            "streams": [
                {
                    "name": "nope",
                    "enabled": True,
                    "sync_mode": "full_refresh",
                    "load_mode": "append",
                },
                {
                    "name": "orders",
                    "enabled": True,
                    "sync_mode": "incremental",
                    "load_mode": "merge",
                    "cursor_field": "no_such_column",
                },
                {
                    "name": "events",
                    "enabled": True,
                    "sync_mode": "full_refresh",
                    "load_mode": "merge",
                    "primary_key": ["missing"],
                },
            ]
        },
        format="json",
    )
    assert bad.status_code == 422
    locs = {tuple(d["loc"]): d["type"] for d in bad.json()["detail"]}
    assert locs[("body", "streams", 0, "name")] == "unknown_stream"
    assert locs[("body", "streams", 1, "cursor_field")] == "unknown_column"
    assert locs[("body", "streams", 2, "primary_key")] == "unknown_column"

    good = client.put(
        f"/connectors/{connector['id']}/streams",
        {
            "streams": [
                {
                    "name": "events",
                    "enabled": False,
                    "sync_mode": "full_refresh",
                    "load_mode": "append",
                }
            ]
        },
        format="json",
    )
    assert good.status_code == 200, good.content
    events = next(s for s in good.json()["streams"] if s["name"] == "events")
    assert events["enabled"] is False and events["saved"] is True


def test_saved_stream_settings_with_an_unknown_mode_are_a_400_until_sent_again(client, destination):
    connector = create_connector(client, destination)
    # Written around the API (by an older version, or by hand): a mode it never accepts.
    Connector.objects.filter(id=connector["id"]).update(
        streams=[
            {"name": "orders", "enabled": True, "sync_mode": "full_refresh", "load_mode": "upsert"}
        ]
    )
    response = client.get(f"/connectors/{connector['id']}/streams")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["error"] == "The saved stream settings cannot be read."
    assert body["detail"]["type"] == "config_error"
    assert body["detail"]["stream"] == "orders"
    assert "unknown load_mode 'upsert'" in body["detail"]["message"]

    repaired = client.put(
        f"/connectors/{connector['id']}/streams",
        {
            "streams": [
                {
                    "name": "orders",
                    "enabled": True,
                    "sync_mode": "full_refresh",
                    "load_mode": "overwrite",
                }
            ]
        },
        format="json",
    )
    assert repaired.status_code == 200, repaired.content
    streams = client.get(f"/connectors/{connector['id']}/streams").json()["streams"]
    orders = next(s for s in streams if s["name"] == "orders")
    assert orders["load_mode"] == "overwrite"


def test_sync_trigger_is_202_then_409(client, destination, django_capture_on_commit_callbacks):
    connector = create_connector(client, destination)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = client.post(f"/connectors/{connector['id']}/sync", {}, format="json")
    assert first.status_code == 202
    job = first.json()
    assert job["status"] == "pending" and job["trigger"] == "manual"
    # The task is enqueued only once the job row is committed.
    assert len(callbacks) == 1
    second = client.post(f"/connectors/{connector['id']}/sync", format="json")
    assert second.status_code == 409
    assert client.get(f"/jobs/{job['id']}").json()["status"] == "pending"
    listing = client.get(f"/jobs?connector_id={connector['id']}&status=pending").json()
    assert listing["total"] == 1
    assert client.get("/jobs?status=bogus").status_code == 422

    # A pending job is cancelled at once; then it can be retried.
    cancelled = client.post(f"/jobs/{job['id']}/cancel", {}, format="json")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    with django_capture_on_commit_callbacks(execute=False):
        retry = client.post(f"/jobs/{job['id']}/retry", format="json")
    assert retry.status_code == 202
    assert retry.json()["retry_of"] == job["id"] and retry.json()["attempt"] == 2
    assert client.post(f"/jobs/{job['id']}/retry", format="json").status_code == 409


def test_summary_counts_by_health(client, destination):
    create_connector(client, destination, name="a")
    create_connector(client, destination, name="b", paused=True)
    summary = client.get("/connectors/summary").json()
    assert summary["total"] == 2
    assert summary["health"]["never_synced"] == 1 and summary["health"]["paused"] == 1
    assert len(summary["sparkline"]) == 14


def test_lone_surrogates_in_config_are_422_not_500(client, duckdb_root):
    """JSON can escape a lone surrogate; UTF-8 and PostgreSQL cannot store one."""
    bodies = [
        r'{"name": "e", "type": "duckdb", "config": {"path": "\ud800.duckdb"}}',
        r'{"name": "e", "type": "duckdb", "config": {"\ud800": 1, "path": "a.duckdb"}}',
        r'{"name": "e", "type": "postgres", "config": {"host": "h", "database": "d", '
        r'"username": "u", "password": "\udfff"}}',
    ]
    for body in bodies:
        response = client.post("/destinations", body, content_type="application/json")
        assert response.status_code == 422, response.content
        assert response.json()["detail"][0]["type"] == "string_unicode"
    assert Destination.objects.count() == 0


def test_null_characters_in_json_config_fields_are_422_not_500(client, destination):
    """PostgreSQL's jsonb refuses "\u0000": refused, naming the field, wherever it is nested."""
    good = {"base_url": "http://127.0.0.1:9/api", "streams": [{"name": "s", "path": "/x"}]}
    bad = [
        ("headers", {**good, "headers": {"X-A": "a\x00b"}}),
        ("streams", {**good, "streams": [{"name": "s", "path": "/x\x00"}]}),
        ("streams", {**good, "streams": [{"name": "s", "path": "/x", "params": {"a\x00": "b"}}]}),
        (
            "streams",
            {**good, "streams": [{"name": "s", "path": "/x", "record_selector": ["\x00"]}]},
        ),
    ]
    for field, cfg in bad:
        body = {"name": "h", "type": "http_api", "config": cfg, "destination_id": destination["id"]}
        response = client.post("/connectors", body, format="json")
        assert response.status_code == 422, response.content
        detail = response.json()["detail"][0]
        assert detail["loc"] == ["body", "config", field]
        assert detail["type"] == "string_pattern_mismatch"
    connector = create_connector(client, destination, name="h", type="http_api", config=good)
    for field, cfg in bad:
        response = client.patch(
            f"/connectors/{connector['id']}", {"config": {field: cfg[field]}}, format="json"
        )
        assert response.status_code == 422, response.content
        assert response.json()["detail"][0]["type"] == "string_pattern_mismatch"
    assert Connector.objects.get(id=connector["id"]).config["streams"] == good["streams"]


def test_flags_and_numbers_must_be_json_booleans_and_integers(client, destination):
    connector = create_connector(client, destination)
    bad = [
        ("post", f"/connectors/{connector['id']}/sync", {"full_resync": "yes"}, "full_resync"),
        ("patch", f"/connectors/{connector['id']}", {"paused": 1}, "paused"),
        ("patch", f"/connectors/{connector['id']}", {"sync_frequency_minutes": "60"}, None),
    ]
    for method, url, body, field in bad:
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 422, (url, body, response.content)
        loc = response.json()["detail"][0]["loc"]
        assert loc == ["body", field or next(iter(body))]
    assert Connector.objects.get(id=connector["id"]).paused is False


@pytest.mark.parametrize("query", ["connector_id=", "status=", "connector_id=nope"])
def test_empty_or_bad_job_filters_are_422(client, query):
    response = client.get(f"/jobs?{query}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "query"


def test_a_duckdb_path_into_another_accounts_directory_is_422(client, duckdb_root, user):
    other_account = UserFactory().account_id
    for path in (f"{duckdb_root}/{other_account}/lake.duckdb", f"{duckdb_root}/lake.duckdb"):
        response = client.post(
            "/destinations",
            {"name": "x", "type": "duckdb", "config": {"path": path}},
            format="json",
        )
        assert response.status_code == 422, (path, response.content)
    mine = f"{duckdb_root}/{user.account_id}/lake.duckdb"
    response = client.post(
        "/destinations", {"name": "x", "type": "duckdb", "config": {"path": mine}}, format="json"
    )
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    "path",
    [
        "a" * 250 + ".duckdb",  # one file name over 255 bytes
        "é" * 125 + ".duckdb",  # 257 bytes in UTF-8, though 132 characters
        "/".join(["d" * 200] * 21) + "/x.duckdb",  # every name short, the whole over 4096
    ],
)
def test_duckdb_paths_too_long_for_the_file_system_are_422(client, duckdb_root, path):
    for url in ("/destinations", "/destinations/test"):
        response = client.post(
            url, {"name": "x", "type": "duckdb", "config": {"path": path}}, format="json"
        )
        assert response.status_code == 422, response.content
        assert response.json()["detail"][0]["loc"] == ["body", "config", "path"]
    assert Destination.objects.count() == 0
