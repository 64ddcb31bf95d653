"""Discovery from real OpenAPI 3 / Swagger 2 documents (tests/connectors/openapi_documents),
from documents written to the point, and the bounded live sample against a local pet store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.custom.compile import compile_config
from connectors.custom.discovery.definition import definition_from_discovery, definition_problems
from connectors.custom.discovery.openapi import (
    DocumentError,
    discover_from_openapi,
    empty_discovery,
    load_document,
)
from connectors.custom.discovery.sampling import MAX_REQUESTS_CAP, sample_discovery
from connectors.framework.base import ReadRequest
from connectors.sources.http_api.source import HttpApiSource
from tests.petstore_server import API_KEY, PetStore, openapi_yaml

DOCUMENTS = Path(__file__).parent / "openapi_documents"
OFFSET = {"type": "offset", "limit_param": "limit", "offset_param": "offset"}


def _discover(name: str, **kwargs: Any) -> dict[str, Any]:
    return discover_from_openapi(load_document((DOCUMENTS / name).read_bytes()), **kwargs)


def _stream(discovery: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in discovery["streams"] if s["name"] == name)


def _minimal(paths: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths, **extra}


def _list_of(schema: dict[str, Any], params: list[dict[str, Any]] | None = None) -> dict:
    return {
        "get": {
            "parameters": params or [],
            "responses": {
                "200": {"description": "ok", "content": {"application/json": {"schema": schema}}}
            },
        }
    }


# --- real documents ------------------------------------------------------------------------
def test_petstore_openapi3_yaml() -> None:
    discovery = _discover("petstore-openapi3.yaml")
    assert discovery["sources"] == ["openapi"]
    assert discovery["title"] == "Swagger Petstore - OpenAPI 3.0"
    assert discovery["base_url"] == "https://petstore3.swagger.io/api/v3"
    # api_key (header) is supported; the implicit OAuth2 flow is not, and says so.
    assert discovery["auth"] == {
        "type": "api_key",
        "api_key_name": "api_key",
        "api_key_in": "header",
        "token_url": None,
        "scopes": None,
        "evidence": "components.securitySchemes.api_key",
    }
    assert any("petstore_auth" in w and "OAuth2" in w for w in discovery["warnings"])
    assert [s["name"] for s in discovery["streams"]] == ["pet_find_by_status", "pet_find_by_tags"]
    pets = _stream(discovery, "pet_find_by_status")
    assert pets["path"] == "pet/findByStatus"
    assert pets["record_selector"] == ""
    assert pets["primary_key"] == ["id"]
    assert pets["paginator"] is None
    assert pets["columns"] == {
        "id": "bigint",
        "name": "string",
        "category": "json",
        "photoUrls": "json",
        "tags": "json",
        "status": "string",
    }
    assert pets["evidence"] == ["GET /pet/findByStatus returns array of Pet"]
    # Single-record operations are not streams.
    assert any("GET /pet/{petId}" in w for w in discovery["warnings"])
    assert definition_problems(definition_from_discovery(discovery)) == []


def test_petstore_swagger2_json() -> None:
    discovery = _discover("petstore-swagger2.json")
    assert discovery["base_url"] == "http://petstore.swagger.io/v1"  # schemes: [http]
    assert discovery["auth"]["type"] == "none"
    assert [s["name"] for s in discovery["streams"]] == ["pets"]
    pets = _stream(discovery, "pets")
    assert (pets["path"], pets["primary_key"]) == ("pets", ["id"])
    assert pets["columns"] == {"id": "bigint", "name": "string", "tag": "string"}
    # /pets/{petId} addresses one pet: not a child stream.
    assert any("/pets/{petId}" in w and "one record" in w for w in discovery["warnings"])


def test_uber_swagger2_offset_paging_selector_and_required_params() -> None:
    discovery = _discover("uber-swagger2.json")
    assert discovery["base_url"] == "https://api.uber.com/v1"
    history = _stream(discovery, "history")
    assert history["record_selector"] == "history"  # Activities: {offset, limit, count, history}
    assert history["paginator"] == OFFSET
    assert history["primary_key"] == ["uuid"]
    products = _stream(discovery, "products")
    assert products["primary_key"] == ["product_id"]
    # Required query parameters without a default become config fields.
    assert products["params"] == {
        "latitude": "{config.latitude}",
        "longitude": "{config.longitude}",
    }
    fields = {f["name"]: f for f in discovery["config_fields"]}
    assert fields["latitude"]["required"] is True
    assert set(fields) >= {"latitude", "longitude", "start_latitude", "end_longitude"}
    definition = definition_from_discovery(discovery)
    assert definition["config_fields"][0].keys() == {
        "name",
        "type",
        "description",
        "required",
        "default",
    }
    assert definition_problems(definition) == []


def test_uspto_server_variable_in_scheme_and_root_stream() -> None:
    discovery = _discover("uspto-openapi3.yaml")
    assert discovery["base_url"] == "https://developer.uspto.gov/ds-api"
    assert any("'scheme'" in w for w in discovery["warnings"])
    datasets = _stream(discovery, "list_data_sets")  # GET /: named from its operationId
    assert (datasets["path"], datasets["record_selector"]) == ("/", "apis")
    assert definition_problems(definition_from_discovery(discovery)) == []


# --- documents to the point ----------------------------------------------------------------
def test_ref_cycles_do_not_loop() -> None:
    document = _minimal(
        {"/nodes": _list_of({"type": "array", "items": {"$ref": "#/components/schemas/Node"}})},
        components={
            "schemas": {
                "Node": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "parent": {"$ref": "#/components/schemas/Node"},
                        "loop": {"$ref": "#/components/schemas/A"},
                    },
                },
                "A": {"$ref": "#/components/schemas/B"},
                "B": {"$ref": "#/components/schemas/A"},
            }
        },
    )
    discovery = discover_from_openapi(document)
    nodes = _stream(discovery, "nodes")
    assert nodes["columns"] == {"id": "string", "parent": "json", "loop": "string"}


def test_a_response_that_is_a_reference_cycle_is_no_stream() -> None:
    document = _minimal(
        {"/a": _list_of({"$ref": "#/components/schemas/A"})},
        components={"schemas": {"A": {"$ref": "#/components/schemas/A"}}},
    )
    assert discover_from_openapi(document)["streams"] == []


def test_auth_kinds_paging_kinds_cursors_and_children() -> None:
    pet = {
        "type": "object",
        "properties": {
            "pet_id": {"type": "integer", "format": "int32"},
            "weight": {"type": "number", "format": "float"},
            "born_on": {"type": "string", "format": "date"},
            "created_at": {"type": "string", "format": "date-time"},
            "modifiedAt": {"type": "string", "format": "date-time"},
            "alive": {"type": "boolean"},
        },
    }
    query = [
        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
        {"name": "page_size", "in": "query", "schema": {"type": "integer"}},
        {"name": "updated_since", "in": "query", "schema": {"type": "string"}},
    ]
    document = _minimal(
        {
            "/pets": _list_of(
                {
                    "type": "object",
                    "properties": {
                        "items": {"type": "array", "items": pet},
                        "meta": {
                            "type": "object",
                            "properties": {"next_cursor": {"type": "string"}},
                        },
                    },
                },
                query,
            ),
            "/owners": {
                "get": {
                    "parameters": [{"name": "page", "in": "query"}],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "headers": {"Link": {"schema": {"type": "string"}}},
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {"id": {"type": "string"}},
                                        },
                                    }
                                }
                            },
                        }
                    },
                }
            },
            "/owners/{ownerId}/pets": _list_of({"type": "array", "items": pet}),
            "/things/{thingId}/parts": _list_of({"type": "array", "items": pet}),
        },
        servers=[
            {
                "url": "https://{region}.example.com/api/{version}",
                "variables": {"region": {"default": "eu"}, "version": {"default": "v2"}},
            }
        ],
        security=[{"client": []}],
        components={
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "client": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": "https://auth.example.com/token",
                            "scopes": {"pets:read": "", "owners:read": ""},
                        }
                    },
                },
            }
        },
    )
    discovery = discover_from_openapi(document)
    # The host's variable takes its default; the path's is a config field.
    assert discovery["base_url"] == "https://eu.example.com/api/{config.version}"
    assert discovery["config_fields"] == [
        {
            "name": "version",
            "type": "string",
            "description": "Server variable version.",
            "required": False,
            "default": "v2",
        }
    ]
    assert discovery["auth"]["type"] == "oauth2_client_credentials"
    assert discovery["auth"]["token_url"] == "https://auth.example.com/token"
    assert discovery["auth"]["scopes"] == "pets:read owners:read"
    pets = _stream(discovery, "pets")
    assert pets["record_selector"] == "items"
    assert pets["paginator"] == {
        "type": "cursor",
        "cursor_param": "cursor",
        "cursor_path": "meta.next_cursor",
        "size_param": "page_size",
    }
    assert pets["primary_key"] == ["pet_id"]
    assert pets["cursor_candidates"] == ["modifiedAt", "created_at"]
    assert pets["incremental_param"] == "updated_since"
    assert pets["columns"] == {
        "pet_id": "integer",
        "weight": "real",
        "born_on": "date",
        "created_at": "timestamptz",
        "modifiedAt": "timestamptz",
        "alive": "boolean",
    }
    assert _stream(discovery, "owners")["paginator"] == {"type": "link_header"}
    child = _stream(discovery, "owners_pets")
    assert child["path"] == "owners/{parent.id}/pets"
    assert child["parent"] == {"stream": "owners", "field": "id", "include_as": "owner_id"}
    # No list stream at /things: skipped with a warning.
    assert "things_parts" not in {s["name"] for s in discovery["streams"]}
    assert any("/things/{thingId}/parts" in w for w in discovery["warnings"])
    definition = definition_from_discovery(discovery)
    assert definition["streams"][1]["incremental"] == {
        "cursor_field": "modifiedAt",
        "request_param": "updated_since",
    }
    assert definition_problems(definition) == []


def test_unique_valid_stream_names() -> None:
    array = {"type": "array", "items": {"type": "object", "properties": {"id": {}}}}
    document = _minimal({"/v1/pets": _list_of(array), "/v1-pets": _list_of(array)})
    names = [s["name"] for s in discover_from_openapi(document)["streams"]]
    assert names == ["v1_pets", "v1_pets_2"]


@pytest.mark.parametrize(
    ("text", "kind", "words"),
    [
        ("openapi: 3.1.0\npaths: {}", None, None),  # 3.1 is a 3.x: read
        ('{"openapi": "2.5", "paths": {}}', "openapi_unsupported", "not supported"),
        ("swagger: '1.2'\npaths: {}", "openapi_unsupported", "Swagger 2.0"),
        ("- just\n- a list", "openapi_invalid", "object"),
        ("openapi: 3.0.0\npaths: [", "openapi_invalid", "neither JSON nor YAML"),
        ("openapi: 3.0.0\ninfo: {}", "openapi_invalid", "paths"),
        ("!!python/object/apply:os.system ['true']", "openapi_invalid", "neither"),
    ],
)
def test_documents_refused_with_a_reason(text: str, kind: str | None, words: str | None) -> None:
    if kind is None:
        assert load_document(text)["openapi"] == "3.1.0"
        return
    with pytest.raises(DocumentError) as caught:
        load_document(text)
    assert caught.value.kind == kind
    assert words in caught.value.message


def test_size_caps_and_alias_bombs() -> None:
    with pytest.raises(DocumentError, match="larger than 100 bytes"):
        load_document("openapi: 3.0.0\npaths: {}\n" + "#" * 100, max_bytes=100)
    bomb = ["openapi: 3.0.0", "paths: {}", 'a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for level in range(1, 8):
        previous = f"*a{level - 1}"
        bomb.append(f"a{level}: &a{level} [{', '.join([previous] * 10)}]")
    with pytest.raises(DocumentError) as caught:
        load_document("\n".join(bomb))
    assert caught.value.kind == "openapi_too_large"


# --- the live sample -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def store() -> Iterator[PetStore]:
    server = PetStore().start()
    yield server
    server.stop()


def test_sample_confirms_and_detects_paging_with_secrets_masked(store: PetStore) -> None:
    documented = discover_from_openapi(load_document(openapi_yaml(store.url)))
    # The document lists page/per_page for pets; the API pages with a Link header.
    assert _stream(documented, "pets")["paginator"]["type"] == "page_number"
    store.hits.clear()
    sampled = sample_discovery(
        documented, config={"api_key": API_KEY}, max_requests=10, allow_private_networks=True
    )
    assert documented["sources"] == ["openapi"]  # the input is not changed
    assert sampled["sources"] == ["openapi", "sampling"]
    pets = _stream(sampled, "pets")
    assert pets["paginator"] == {"type": "link_header", "size_param": "per_page"}
    assert pets["sample"] == {"status": 200, "records": 7, "requests": 2, "error": None}
    owners = _stream(sampled, "owners")
    assert owners["paginator"]["type"] == "offset"
    assert "sampled: a second page (offset) gave 3 records" in owners["evidence"]
    child = _stream(sampled, "owners_pets")
    assert child["sample"]["records"] == 1  # owner 1's pets
    # Every request the server saw is recorded, within the bound, with the key masked.
    assert len(store.api_hits()) == len(sampled["requests"]) == 5
    assert all(API_KEY in hit for hit in store.api_hits())
    assert API_KEY not in json.dumps(sampled)
    assert all("api_key=***" in r["url"] for r in sampled["requests"])
    assert definition_problems(definition_from_discovery(sampled)) == []


def test_sample_without_a_document_explores_the_index(store: PetStore) -> None:
    discovery = empty_discovery(base_url=f"{store.url}/v1")
    discovery["auth"]["type"] = "api_key"
    store.hits.clear()
    sampled = sample_discovery(
        discovery,
        config={"api_key": API_KEY, "api_key_name": "X-Api-Key", "api_key_in": "header"},
        allow_private_networks=True,
    )
    assert [s["name"] for s in sampled["streams"]] == ["pets", "owners"]
    pets, owners = sampled["streams"]
    assert pets["paginator"] == {"type": "link_header"}
    assert pets["primary_key"] == ["id"]
    assert pets["cursor_candidates"] == ["updated_at"]
    assert pets["columns"]["updated_at"] == "timestamptz"
    assert owners["record_selector"] == "data"
    # limit=1&offset=1 answered the second record alone: offset paging.
    assert owners["paginator"] == OFFSET
    assert sampled["auth"]["api_key_name"] == "X-Api-Key"
    assert len(store.hits) == len(sampled["requests"]) <= 10
    definition = definition_from_discovery(sampled)
    assert definition["api_key_name"] == "X-Api-Key"
    assert definition_problems(definition) == []


def test_sample_stops_at_its_bound(store: PetStore) -> None:
    documented = discover_from_openapi(load_document(openapi_yaml(store.url)))
    store.hits.clear()
    sampled = sample_discovery(
        documented, config={"api_key": API_KEY}, max_requests=2, allow_private_networks=True
    )
    assert len(store.hits) == len(sampled["requests"]) == 2
    assert any("limit of 2 requests" in w for w in sampled["warnings"])
    store.hits.clear()
    sample_discovery(
        documented, config={"api_key": API_KEY}, max_requests=1000, allow_private_networks=True
    )
    assert len(store.hits) <= MAX_REQUESTS_CAP


def test_sample_without_credentials_records_the_refusal(store: PetStore) -> None:
    documented = discover_from_openapi(load_document(openapi_yaml(store.url)))
    sampled = sample_discovery(documented, allow_private_networks=True)
    assert any("without authentication" in w for w in sampled["warnings"])
    owners = _stream(sampled, "owners")
    assert owners["sample"]["status"] == 401
    assert "401" in owners["sample"]["error"]


def test_sample_refuses_private_addresses_by_default(store: PetStore) -> None:
    documented = discover_from_openapi(load_document(openapi_yaml(store.url)))
    store.hits.clear()
    sampled = sample_discovery(documented, config={"api_key": API_KEY})
    assert store.hits == []
    assert all(s["sample"]["records"] == 0 for s in sampled["streams"] if s["sample"])
    assert "not allowed" in _stream(sampled, "owners")["sample"]["error"]


def test_required_params_config_fields_are_valid_names() -> None:
    array = {"type": "array", "items": {"type": "object", "properties": {"id": {}}}}
    query = [
        {"name": "api_key", "in": "query", "required": True, "schema": {"type": "string"}},
        {"name": "password", "in": "query", "required": True, "schema": {"type": "string"}},
        {"name": "2fa-code", "in": "query", "required": True, "schema": {"type": "string"}},
        {"name": "status", "in": "query", "required": True, "schema": {"enum": ["open", "all"]}},
    ]
    document = _minimal(
        {"/tickets": _list_of(array, query)},
        components={
            "securitySchemes": {"key": {"type": "apiKey", "in": "query", "name": "api_key"}}
        },
    )
    discovery = discover_from_openapi(document, base_url="https://help.example.com/api")
    tickets = _stream(discovery, "tickets")
    # The key is the auth's to send; a credential's name is never a config field's.
    assert tickets["params"] == {
        "password": "{config.password_value}",
        "2fa-code": "{config._2fa_code}",
        "status": "open",
    }
    assert [f["name"] for f in discovery["config_fields"]] == ["password_value", "_2fa_code"]
    assert definition_problems(definition_from_discovery(discovery)) == []


def test_yaml_dates_become_text_and_nan_is_refused() -> None:
    document = load_document("openapi: 3.0.0\ninfo: {title: t, version: 2024-01-02}\npaths: {}\n")
    assert document["info"]["version"] == "2024-01-02"
    with pytest.raises(DocumentError, match="NaN"):
        load_document('{"openapi": "3.0.0", "paths": {}, "x": NaN}')
    with pytest.raises(DocumentError, match="nested too deeply"):
        deep = "[" * 100_000 + "]" * 100_000
        load_document('{"openapi": "3.0.0", "paths": {}, "x": ' + deep + "}")


def test_base_url_needing_a_config_value_is_not_sampled(store: PetStore) -> None:
    discovery = empty_discovery(base_url=f"{store.url}/{{config.tenant}}")
    discovery["config_fields"] = [
        {"name": "tenant", "type": "string", "description": "", "required": True, "default": None}
    ]
    store.hits.clear()
    sampled = sample_discovery(discovery, allow_private_networks=True)
    assert store.hits == [] and sampled["requests"] == []
    assert any("tenant" in w for w in sampled["warnings"])


def test_the_definition_made_from_a_sampled_discovery_reads_every_record(store: PetStore) -> None:
    documented = discover_from_openapi(load_document(openapi_yaml(store.url)))
    sampled = sample_discovery(documented, config={"api_key": API_KEY}, allow_private_networks=True)
    definition = definition_from_discovery(sampled)
    source = HttpApiSource(
        compile_config(definition, {"api_key": API_KEY}), allow_private_networks=True
    )
    read = {}
    for stream in source.discover():
        batches = list(source.read(ReadRequest(stream=stream)))
        read[stream.name] = [v for b in batches for v in b.records.column("id").to_pylist()]
    # Every page followed (Link header for pets, offset for owners), every owner's pets read.
    assert read == {
        "owners": list(range(1, 9)),
        "pets": list(range(1, 8)),
        "owners_pets": [4, 1, 5, 2, 6, 3, 7],
    }


def test_streams_needing_values_or_parents_are_not_sampled(store: PetStore) -> None:
    documented = discover_from_openapi(load_document(openapi_yaml(store.url)))
    _stream(documented, "pets")["params"] = {"species": "{config.species}"}
    _stream(documented, "owners")["path"] = "owners/{config.region}"
    store.hits.clear()
    sampled = sample_discovery(documented, config={"api_key": API_KEY}, allow_private_networks=True)
    assert _stream(sampled, "pets")["sample"]["error"] == (
        "Not sampled: a config field it needs has no value."
    )
    assert _stream(sampled, "owners")["sample"]["requests"] == 0
    # Its parent has no record: the child is not asked for.
    assert _stream(sampled, "owners_pets")["sample"]["error"] == (
        "Not sampled: its parent has no sampled record."
    )
    assert store.hits == []


def test_sample_of_an_api_with_nothing_to_find(store: PetStore) -> None:
    store.hits.clear()
    nothing = empty_discovery(base_url=f"{store.url}/nothing")
    sampled = sample_discovery(nothing, allow_private_networks=True)
    assert sampled["streams"] == []
    # The base URL, then the conventional places of a document: nothing more.
    assert store.hits == ["/nothing", "/nothing/openapi.json", "/nothing/swagger.json"]
    assert any("found no list of records" in w for w in sampled["warnings"])
