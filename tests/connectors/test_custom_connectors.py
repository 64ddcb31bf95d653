"""The Custom Connectors endpoints: CRUD, the definition's 422s located inside it, versions
and the connectors that pin them, the 409 on delete, other accounts' 404s and the catalog per
account. (Reading with a custom type end to end: tests/e2e/test_custom_connector_sync.py.)"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from connectors import services
from connectors.custom.compile import compile_config
from connectors.custom.schema import DEFINITION_SCHEMA, definition_issues
from connectors.models import Connector, CustomConnector, CustomConnectorGeneration
from landed.security.secrets import encrypted_columns
from tests.accounts.factories import UserFactory
from tests.clients import client_for

pytestmark = pytest.mark.django_db

# Loopback: nothing is requested by these tests, but the network policy judges the host.
BASE_URL = "http://127.0.0.1:9/{config.region}/v1"
DEFINITION: dict[str, Any] = {
    "auth_type": "api_key",
    "api_key_name": "X-Api-Key",
    "config_fields": [
        {"name": "region", "type": "string", "description": "The API's region.", "default": "eu"},
        {"name": "team", "type": "string", "required": True},
    ],
    "streams": [
        {
            "name": "pets",
            "path": "teams/{config.team}/pets",
            "record_selector": "data",
            "primary_key": "id",
            "paginator": {"type": "offset", "limit_param": "limit", "offset_param": "offset"},
            "incremental": {"cursor_field": "updated_at", "request_param": "updated_since"},
        }
    ],
}


def definition(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(DEFINITION), **changes}


@pytest.fixture
def destination(client, tmp_path, monkeypatch) -> dict:
    monkeypatch.setenv("LANDED_DUCKDB_ROOT", str(tmp_path / "duckdb"))
    response = client.post(
        "/destinations",
        {"name": "lake", "type": "duckdb", "config": {"path": "lake.duckdb"}},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def create_custom(client: APIClient, **body: Any) -> dict:
    response = client.post(
        "/custom-connectors",
        {"name": "Pet API", "base_url": BASE_URL, "definition": definition(), **body},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def create_connector(client: APIClient, custom: dict, destination: dict, **extra: Any) -> dict:
    body = {
        "name": "pets",
        "type": custom["type"],
        "config": {"api_key": "k-123", "team": "blue"},
        "destination_id": destination["id"],
        **extra,
    }
    response = client.post("/connectors", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def locs(response) -> list[tuple[list, str]]:
    assert response.status_code == 422, response.content
    return [(item["loc"], item["type"]) for item in response.json()["detail"]]


# --- CRUD ----------------------------------------------------------------------------------
def test_create_get_list_and_update(client):
    bare = client.post(
        "/custom-connectors", {"name": "Bare", "base_url": "https://api.example.com"}, format="json"
    )
    assert bare.status_code == 201, bare.content
    assert bare.json()["current_version"] is None and bare.json()["definition"] is None
    assert bare.json()["versions"] == [] and bare.json()["documentation_url"] is None

    custom = create_custom(client, documentation_url="https://docs.example.com")
    assert custom["type"] == f"custom:{custom['id']}"
    assert custom["current_version"] == 1 and custom["auth_kind"] == "api_key"
    # The definition's base_url defaults to the connector's.
    assert custom["definition"] == {**definition(), "base_url": BASE_URL}
    assert [(v["number"], v["origin"]) for v in custom["versions"]] == [(1, "manual")]
    assert custom["documentation_url"] == "https://docs.example.com"
    assert custom["connectors"] == [] and custom["icon_url"] is None
    assert custom["has_openapi_document"] is False

    got = client.get(f"/custom-connectors/{custom['id']}")
    assert got.status_code == 200 and got.json() == custom

    page = client.get("/custom-connectors?limit=1").json()
    assert (page["total"], page["limit"], page["has_next"]) == (2, 1, True)
    assert page["items"][0]["id"] == custom["id"]  # newest first

    renamed = client.patch(
        f"/custom-connectors/{custom['id']}", {"name": "Pets", "description": "d"}, format="json"
    )
    assert renamed.status_code == 200, renamed.content
    assert (renamed.json()["name"], renamed.json()["description"]) == ("Pets", "d")
    assert renamed.json()["current_version"] == 1  # no definition: no new version

    taken = client.patch(f"/custom-connectors/{custom['id']}", {"name": "Bare"}, format="json")
    assert taken.status_code == 409


def test_an_openapi_document_is_taken_as_an_object_or_as_json_or_yaml_text(client):
    yaml_text = "openapi: 3.0.0\ninfo: {title: Pets, version: '1'}\npaths: {}\n"
    custom = create_custom(client, openapi_document=yaml_text)
    assert custom["has_openapi_document"] is True
    assert CustomConnector.objects.get(id=custom["id"]).openapi_document["info"]["title"] == "Pets"

    laughs = "openapi: 3.0.0\na: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"
    nul = {"openapi": "3.0.0", "info": {"title": "a\x00"}}
    # More digits than Python converts to an int (sys.get_int_max_str_digits): a 422, not a 500.
    huge_int = "openapi: 3.0.0\npaths: {}\nx: " + "9" * 5000 + "\n"
    bads = ("openapi: [unclosed", "just text", {"info": {}}, [1], laughs, nul, "[" * 5000)
    for bad in (*bads, huge_int):
        response = client.patch(
            f"/custom-connectors/{custom['id']}", {"openapi_document": bad}, format="json"
        )
        ((loc, _),) = locs(response)
        assert loc[:2] == ["body", "openapi_document"]
    bad_url = client.patch(
        f"/custom-connectors/{custom['id']}", {"openapi_url": "ftp://x"}, format="json"
    )
    assert locs(bad_url) == [(["body", "openapi_url"], "url_scheme")]


# --- The definition's 422s -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"colour": "blue"}, [(["colour"], "extra_forbidden")]),
        ({"api_key": "s3cret"}, [(["api_key"], "credentials_forbidden")]),
        (
            {"password": "x", "client_secret": "y"},
            [(["password"], "credentials_forbidden"), (["client_secret"], "credentials_forbidden")],
        ),
        ({"streams": []}, [(["streams"], "too_short")]),
        # What PostgreSQL's jsonb cannot store: a 422, not a 500.
        ({"headers": {"X-A": "a\x00b"}}, [(["headers", "X-A"], "string_pattern_mismatch")]),
        ({"headers": {"X-A": "\ud800"}}, [(["headers", "X-A"], "string_unicode")]),
        ({"auth_type": "magic"}, [(["auth_type"], "enum")]),
        ({"page_size": 0}, [(["page_size"], "greater_than_equal")]),
        (
            {"streams": [{"name": "a", "path": "a", "paginator": {"type": "offset", "x": 1}}]},
            [(["streams", 0, "paginator", "x"], "extra_forbidden")],
        ),
        (
            {"streams": [{"name": "a", "path": "a", "colour": 1}, {"path": "b"}]},
            [(["streams", 0, "colour"], "extra_forbidden"), (["streams", 1, "name"], "missing")],
        ),
        (
            {"streams": [{"name": "a", "path": "x/{config.nope}"}]},
            [(["streams", 0, "path"], "value_error")],
        ),
        (
            {"config_fields": [{"name": "api_key"}]},
            [(["config_fields", 0, "name"], "value_error")],
        ),
        (
            {
                "config_fields": [
                    *DEFINITION["config_fields"],
                    {"name": "n", "type": "integer", "default": "ten"},
                ]
            },
            [(["config_fields", 2, "default"], "int_type")],
        ),
        # The engine's own checks, once the schema passes: a parent that does not exist.
        (
            {
                "streams": [
                    {"name": "a", "path": "a/{parent.id}", "parent": {"stream": "nope"}},
                ]
            },
            [(["streams", 0, "parent", "stream"], "value_error")],
        ),
        # A pagination style's keys are the engine's to judge.
        (
            {
                "streams": [
                    {"name": "a", "path": "a", "paginator": {"type": "offset", "rel": "next"}}
                ]
            },
            [(["streams", 0, "paginator", "rel"], "extra_forbidden")],
        ),
    ],
)
def test_a_bad_definition_is_a_422_located_inside_it(client, change, expected):
    body = {"name": "Bad", "base_url": BASE_URL, "definition": definition(**change)}
    # Sent as ASCII JSON: a lone surrogate is an escape in it, as a client sends one.
    response = client.post("/custom-connectors", json.dumps(body), content_type="application/json")
    assert locs(response) == [(["body", "definition", *loc], kind) for loc, kind in expected]
    # Nothing saved: not the row either.
    assert not CustomConnector.objects.filter(name="Bad").exists()


def test_a_definition_that_is_not_an_object(client):
    custom = create_custom(client)
    response = client.patch(
        f"/custom-connectors/{custom['id']}", {"definition": [1]}, format="json"
    )
    assert locs(response) == [(["body", "definition"], "dict_type")]


def test_the_docs_publish_the_json_schema_and_examples_that_pass_it():
    """docs/custom_connectors.md holds the schema the checks use, and its examples pass."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "custom_connectors.md").read_text()
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)\n```", text, re.S)]
    assert blocks[-1] == json.loads(json.dumps(DEFINITION_SCHEMA))
    assert DEFINITION_SCHEMA["$schema"].endswith("2020-12/schema")
    example = blocks[0]
    assert "config_fields" in example and definition_issues(example) == []
    assert definition_issues({**definition(), "base_url": BASE_URL}) == []


# --- Versions and the connectors that pin them ---------------------------------------------
def test_a_default_of_the_wrong_type_is_said_in_plain_english() -> None:
    issues = definition_issues(
        definition(
            base_url="http://127.0.0.1:9/v1",
            config_fields=[{"name": "n", "type": "integer", "default": "x"}],
            streams=[{"name": "pets", "path": "pets"}],
        )
    )
    assert [i.msg for i in issues] == ["The default of an integer field is an integer."]


def test_a_null_definition_in_a_patch_is_a_422_not_ignored(client):
    """Versions are never removed: `{"definition": null}` cannot do what it asks, so it is
    refused rather than answered 200 with nothing changed."""
    custom = create_custom(client)
    response = client.patch(
        f"/custom-connectors/{custom['id']}",
        {"description": "edited", "definition": None},
        format="json",
    )
    assert response.status_code == 422, response.content
    assert response.json()["detail"][0]["loc"] == ["body", "definition"]
    unchanged = client.get(f"/custom-connectors/{custom['id']}").json()
    assert unchanged["description"] == custom["description"]
    assert unchanged["current_version"] == 1


def test_editing_makes_a_version_and_connectors_keep_theirs_until_re_pinned(client, destination):
    custom = create_custom(client)
    connector = create_connector(client, custom, destination)
    assert connector["custom_version"] == 1
    assert connector["config"] == {"team": "blue"} and connector["secrets_set"] == ["api_key"]

    v2 = definition(
        streams=[*DEFINITION["streams"], {"name": "owners", "path": "owners", "params": {}}]
    )
    response = client.patch(f"/custom-connectors/{custom['id']}", {"definition": v2}, format="json")
    assert response.status_code == 200, response.content
    edited = response.json()
    assert edited["current_version"] == 2
    assert [v["number"] for v in edited["versions"]] == [2, 1]
    assert [s["name"] for s in edited["definition"]["streams"]] == ["pets", "owners"]
    assert edited["connectors"] == [{"id": connector["id"], "name": "pets", "custom_version": 1}]

    # Still reading with v1.
    row = Connector.objects.get(id=connector["id"])
    assert client.get(f"/connectors/{connector['id']}").json()["custom_version"] == 1
    source = services.source_impl(row)
    assert [s.name for s in source.engine.definition.streams] == ["pets"]
    # The config's values substituted: region by its default, team as given.
    assert source.engine.definition.base_url == "http://127.0.0.1:9/eu/v1"
    assert source.engine.definition.streams[0].path == "teams/blue/pets"

    # A new connector pins the current version.
    second = create_connector(client, custom, destination, name="pets2")
    assert second["custom_version"] == 2

    repinned = client.patch(f"/connectors/{connector['id']}", {"custom_version": 2}, format="json")
    assert repinned.status_code == 200, repinned.content
    assert repinned.json()["custom_version"] == 2
    row.refresh_from_db()
    assert [s.name for s in services.source_impl(row).engine.definition.streams] == [
        "pets",
        "owners",
    ]

    missing = client.patch(f"/connectors/{connector['id']}", {"custom_version": 7}, format="json")
    assert locs(missing) == [(["body", "custom_version"], "not_found")]


def test_re_pinning_checks_the_config_against_that_version(client, destination):
    custom = create_custom(client)
    connector = create_connector(client, custom, destination)
    bearer = definition(auth_type="bearer", config_fields=[], base_url="http://127.0.0.1:9/v1")
    bearer.pop("api_key_name")
    bearer["streams"][0]["path"] = "pets"
    response = client.patch(
        f"/custom-connectors/{custom['id']}", {"definition": bearer}, format="json"
    )
    assert response.status_code == 200, response.content

    # v2 wants a bearer token, which the connector lacks: 422, still on v1.
    refused = client.patch(f"/connectors/{connector['id']}", {"custom_version": 2}, format="json")
    assert locs(refused) == [(["body", "config", "bearer_token"], "missing")]
    assert Connector.objects.get(id=connector["id"]).custom_version.number == 1

    # With it: v1's api_key and team, which v2 does not declare, are dropped.
    moved = client.patch(
        f"/connectors/{connector['id']}",
        {"custom_version": 2, "config": {"bearer_token": "t-1"}},
        format="json",
    )
    assert moved.status_code == 200, moved.content
    assert (moved.json()["config"], moved.json()["secrets_set"]) == ({}, ["bearer_token"])


def test_a_connector_of_a_custom_type_needs_the_accounts_definition(client, destination):
    bare = client.post(
        "/custom-connectors", {"name": "Bare", "base_url": "https://api.example.com"}, format="json"
    ).json()
    body = {"name": "c", "type": bare["type"], "config": {}, "destination_id": destination["id"]}
    assert locs(client.post("/connectors", body, format="json")) == [
        (["body", "type"], "no_definition")
    ]

    theirs = create_custom(client_for(UserFactory()))
    body["type"] = theirs["type"]
    assert locs(client.post("/connectors", body, format="json")) == [
        (["body", "type"], "not_found")
    ]
    body["type"] = "custom:not-a-uuid"
    assert locs(client.post("/connectors", body, format="json")) == [
        (["body", "type"], "not_found")
    ]

    mine = create_custom(client)
    body["type"] = mine["type"]
    assert locs(client.post("/connectors", body, format="json")) == [
        (["body", "config", "api_key"], "missing"),
        (["body", "config", "team"], "missing"),
    ]
    body["config"] = {"api_key": "k", "team": "blue", "colour": "red"}
    assert locs(client.post("/connectors", body, format="json")) == [
        (["body", "config", "colour"], "extra_forbidden")
    ]
    # A config value that makes the definition's base_url invalid.
    body["config"] = {"api_key": "k", "team": "blue", "region": "eu?x=1"}
    assert locs(client.post("/connectors", body, format="json")) == [
        (["body", "config"], "url_parsing")
    ]
    plain = create_connector(client, mine, destination, name="plain", type="sample", config={})
    assert plain["custom_version"] is None
    refused = client.patch(f"/connectors/{plain['id']}", {"custom_version": 1}, format="json")
    assert locs(refused) == [(["body", "custom_version"], "not_custom")]


# --- Delete, ownership, catalog ------------------------------------------------------------
def test_delete_is_a_409_naming_the_connectors_that_use_it(client, destination):
    custom = create_custom(client)
    connector = create_connector(client, custom, destination, name="pet loader")
    refused = client.delete(f"/custom-connectors/{custom['id']}")
    assert refused.status_code == 409
    assert "pet loader" in refused.json()["detail"]

    assert client.delete(f"/connectors/{connector['id']}").status_code == 204
    assert client.delete(f"/custom-connectors/{custom['id']}").status_code == 204
    assert client.get(f"/custom-connectors/{custom['id']}").status_code == 404


def test_another_accounts_custom_connector_is_a_404(client):
    theirs = create_custom(client_for(UserFactory()))
    path = f"/custom-connectors/{theirs['id']}"
    assert client.get(path).status_code == 404
    assert client.patch(path, {"name": "mine"}, format="json").status_code == 404
    assert client.delete(path).status_code == 404
    assert client.get("/custom-connectors").json()["total"] == 0
    assert CustomConnector.objects.filter(id=theirs["id"], name="Pet API").exists()


def test_the_catalog_lists_the_accounts_own_custom_types(client):
    custom = create_custom(client)
    create_custom(client, name="No definition yet", definition=None)
    create_custom(client_for(UserFactory()), name="Theirs")

    def custom_types(api: APIClient) -> dict[str, dict]:
        items = api.get("/connectors/catalog").json()["items"]
        return {i["type"]: i for i in items if i["type"].startswith("custom:")}

    mine = custom_types(client)
    assert list(mine) == [custom["type"]]
    entry = mine[custom["type"]]
    assert (entry["name"], entry["category"], entry["supports_incremental"]) == (
        "Pet API",
        "api",
        True,
    )
    fields = {f["name"]: (f["type"], f["required"], f["default"]) for f in entry["fields"]}
    assert fields == {
        "api_key": ("secret", True, None),
        "region": ("string", False, "eu"),
        "team": ("string", True, None),
    }
    anonymous = APIClient().get("/connectors/catalog")
    assert anonymous.status_code == 200
    assert custom_types(APIClient()) == {}
    assert "sample" in {i["type"] for i in anonymous.json()["items"]}


def test_the_network_policy_judges_the_compiled_base_url(client, destination, settings):
    custom = create_custom(client)
    settings.ALLOW_PRIVATE_NETWORKS = False
    body = {
        "name": "pets",
        "type": custom["type"],
        "config": {"api_key": "k", "team": "blue"},
        "destination_id": destination["id"],
    }
    refused = client.post("/connectors", body, format="json")
    assert locs(refused) == [(["body", "config"], "host_not_allowed")]
    assert "base_url" in refused.json()["detail"][0]["msg"]


def test_the_admin_shows_a_custom_connector_with_its_versions(client, operator):
    custom = create_custom(client)
    client.patch(
        f"/custom-connectors/{custom['id']}",
        {"definition": definition(base_url="http://127.0.0.1:9/{config.region}/v2")},
        format="json",
    )
    listing = operator.get("/admin/connectors/customconnector/")
    assert listing.status_code == 200 and "Pet API" in listing.content.decode()
    page = operator.get(f"/admin/connectors/customconnector/{custom['id']}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    # Both versions, read-only: the definition is shown, not a form field.
    assert "127.0.0.1:9/{config.region}/v2" in html and "127.0.0.1:9/{config.region}/v1" in html
    assert 'name="versions-0-definition"' not in html
    assert operator.get("/admin/connectors/customconnector/add/").status_code == 403


def test_a_type_named_in_capitals_is_stored_as_the_custom_connector_spells_it(client, destination):
    custom = create_custom(client)
    shouted = {"type": "custom:" + custom["id"].upper()}
    connector = create_connector(client, shouted, destination)
    assert connector["type"] == custom["type"]
    refused = client.delete(f"/custom-connectors/{custom['id']}")
    assert refused.status_code == 409 and "pets" in refused.json()["detail"]


def test_a_generations_test_credentials_are_rotated_with_the_other_secrets():
    assert (CustomConnectorGeneration, "encrypted_config") in encrypted_columns()


def test_compiling_substitutes_the_configs_values_where_placeholders_may_be():
    source = {
        "base_url": "http://127.0.0.1:9/{config.area}",
        "headers": {"X-Team": "{config.size}"},
        "config_fields": [{"name": "area"}, {"name": "size", "type": "integer"}],
        "streams": [
            {
                "name": "a",
                "path": "teams/{config.area}/pets",
                "params": {"limit": "{config.size}", "q": "size:{config.size}"},
                "record_selector": "{config.area}",
            }
        ],
    }
    compiled = compile_config(source, {"area": "a/b c", "size": 5, "api_key": "k"})
    assert compiled["base_url"] == "http://127.0.0.1:9/a/b c"
    assert compiled["headers"] == {"X-Team": "5"}  # a header is text
    stream = compiled["streams"][0]
    assert stream["path"] == "teams/a%2Fb%20c/pets"  # one path segment
    assert stream["params"] == {"limit": 5, "q": "size:5"}  # alone: typed
    assert stream["record_selector"] == "{config.area}"  # not a place for placeholders
    assert compiled["api_key"] == "k" and "config_fields" not in compiled
    assert "config_fields" in source  # the definition itself is left as it was
