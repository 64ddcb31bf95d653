"""`POST /custom-connectors/{id}/discover` through HTTP, against the local pet store."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from connectors.models import CustomConnector
from tests.accounts.factories import UserFactory
from tests.openai_server import API_KEY as OPENAI_KEY
from tests.openai_server import FakeOpenAI, serve_as_provider
from tests.petstore_server import API_KEY, PetStore, openapi_yaml


@pytest.fixture(scope="module")
def store() -> Iterator[PetStore]:
    server = PetStore().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _private_networks(settings) -> None:
    settings.ALLOW_PRIVATE_NETWORKS = True  # the pet store listens on 127.0.0.1


def _custom(user, **fields) -> CustomConnector:
    return CustomConnector.objects.create(account=user.account, name="Pet store", **fields)


def _url(custom: CustomConnector) -> str:
    return f"/custom-connectors/{custom.id}/discover"


@pytest.mark.django_db
def test_uploaded_document_sampled_and_stored(client, user, store: PetStore) -> None:
    import yaml

    custom = _custom(
        user,
        base_url=f"{store.url}/v1",
        openapi_document=yaml.safe_load(openapi_yaml(store.url)),
    )
    store.hits.clear()
    response = client.post(
        _url(custom), {"config": {"api_key": API_KEY}, "max_requests": 6}, format="json"
    )
    assert response.status_code == 200, response.content
    discovery = response.json()
    assert discovery["sources"] == ["openapi", "sampling"]
    assert discovery["auth"]["type"] == "api_key"
    streams = {s["name"]: s for s in discovery["streams"]}
    assert streams["pets"]["paginator"]["type"] == "link_header"  # seen in the answer
    assert streams["owners"]["paginator"]["type"] == "offset"
    assert streams["owners_pets"]["parent"]["stream"] == "owners"
    assert len(store.hits) == len(discovery["requests"]) <= 6
    assert API_KEY not in response.content.decode()
    custom.refresh_from_db()
    assert custom.discovery == discovery
    assert custom.discovered_at is not None


@pytest.mark.django_db
def test_document_fetched_from_openapi_url_without_sampling(client, user, store) -> None:
    custom = _custom(user, base_url=store.url, openapi_url=f"{store.url}/docs/openapi.yaml")
    store.hits.clear()
    response = client.post(_url(custom), {"sample": False}, format="json")
    assert response.status_code == 200, response.content
    discovery = response.json()
    assert discovery["sources"] == ["openapi"]
    assert discovery["title"] == "Local Pet Store"
    assert {s["name"] for s in discovery["streams"]} == {"pets", "owners", "owners_pets"}
    assert store.hits == ["/docs/openapi.yaml"]
    assert discovery["requests"] == []


@pytest.mark.django_db
def test_sampling_only_without_a_document(client, user, store) -> None:
    custom = _custom(user, base_url=f"{store.url}/v1", auth_kind="api_key")
    response = client.post(
        _url(custom),
        {"config": {"api_key": API_KEY, "api_key_name": "api_key", "api_key_in": "query"}},
        format="json",
    )
    assert response.status_code == 200, response.content
    discovery = response.json()
    assert discovery["sources"] == ["sampling"]
    assert [s["name"] for s in discovery["streams"]] == ["pets", "owners"]
    assert all("api_key=***" in r["url"] for r in discovery["requests"])
    assert API_KEY not in json.dumps(discovery)


@pytest.mark.django_db
def test_credentials_in_the_config_are_used_when_no_auth_kind_is_set(client, user, store) -> None:
    """Without a document and with the default auth_kind ("none"), the credentials the config
    gives say the auth type: they are sent, not silently dropped (every request a 401)."""
    custom = _custom(user, base_url=f"{store.url}/v1")
    assert custom.auth_kind == "none"
    response = client.post(
        _url(custom),
        {"config": {"api_key": API_KEY, "api_key_name": "X-Api-Key", "api_key_in": "header"}},
        format="json",
    )
    assert response.status_code == 200, response.content
    discovery = response.json()
    assert discovery["auth"]["type"] == "api_key"
    assert discovery["auth"]["api_key_name"] == "X-Api-Key"
    assert discovery["auth"]["evidence"] == "config"
    sampled = [r for r in discovery["requests"] if r["url"].endswith(("/pets", "/owners"))]
    assert sampled and all(r["status"] == 200 for r in sampled), discovery["requests"]
    assert API_KEY not in json.dumps(discovery)


@pytest.mark.django_db
def test_config_values_that_are_not_text_or_numbers_are_422(client, user, store) -> None:
    """A credential given as an object would be sent as its Python repr: refused up front."""
    custom = _custom(user, base_url=f"{store.url}/v1", auth_kind="api_key")
    response = client.post(
        _url(custom),
        {"config": {"api_key": {"key": API_KEY}, "api_key_name": "X-Api-Key", "page": [1]}},
        format="json",
    )
    assert response.status_code == 422, response.content
    locs = {tuple(item["loc"]) for item in response.json()["detail"]}
    assert locs == {("body", "config", "api_key"), ("body", "config", "page")}


@pytest.mark.django_db
def test_bad_documents_are_422(client, user) -> None:
    custom = _custom(
        user, base_url="https://api.example.com", openapi_document={"openapi": "4.0", "paths": {}}
    )
    response = client.post(_url(custom), {"sample": False}, format="json")
    assert response.status_code == 422
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["body", "openapi_document"]
    assert problem["type"] == "openapi_unsupported"
    assert "4.0" in problem["msg"]


@pytest.mark.django_db
def test_document_served_as_html_is_422(client, user, store) -> None:
    custom = _custom(user, base_url=store.url, openapi_url=f"{store.url}/v1")
    response = client.post(_url(custom), {"sample": False}, format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "openapi_url"]


@pytest.mark.django_db
def test_unreachable_document_url_is_502(client, user, unused_port) -> None:
    custom = _custom(
        user,
        base_url="https://api.example.com",
        openapi_url=f"http://127.0.0.1:{unused_port}/openapi.json",
    )
    response = client.post(_url(custom), {"sample": False}, format="json")
    assert response.status_code == 502
    body = response.json()
    assert body["error"] == "The OpenAPI document could not be fetched."
    assert body["detail"]["type"] == "unreachable"
    assert "connection refused" in body["detail"]["message"]


@pytest.mark.django_db
def test_silent_document_url_is_502_within_the_documented_time(client, user, monkeypatch) -> None:
    """A document URL that accepts the connection and never answers takes the fetch's one
    deadline (DOCUMENT_FETCH_SECONDS, "within 20 seconds" in the docs), not one per retry."""
    import socket
    import time

    from connectors.custom import discover

    monkeypatch.setattr(discover, "DOCUMENT_FETCH_SECONDS", 1.0)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        custom = _custom(
            user,
            base_url="https://api.example.com",
            openapi_url=f"http://127.0.0.1:{port}/openapi.json",
        )
        started = time.monotonic()
        response = client.post(_url(custom), {"sample": False}, format="json")
        elapsed = time.monotonic() - started
    assert response.status_code == 502
    assert response.json()["detail"]["type"] == "transient"
    assert elapsed < 1.8, elapsed


@pytest.mark.django_db
def test_another_accounts_custom_connector_is_404_and_bounds_are_422(client, user) -> None:
    other = _custom(UserFactory(), base_url="https://api.example.com")
    response = client.post(_url(other), {}, format="json")
    assert response.status_code == 404
    assert response.json()["error"] == "Custom connector not found"
    mine = _custom(user, base_url="https://api.example.com")
    response = client.post(_url(mine), {"max_requests": 26}, format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "max_requests"]


@pytest.mark.django_db
def test_documentation_page_is_not_fetched_without_an_llm(client, user, store) -> None:
    custom = _custom(
        user,
        base_url=f"{store.url}/v1",
        openapi_url=f"{store.url}/docs/openapi.yaml",
        documentation_url=f"{store.url}/docs/guide.html",
    )
    store.hits.clear()
    response = client.post(_url(custom), {"sample": False}, format="json")
    assert response.status_code == 200, response.content
    assert "llm" not in response.json()["sources"]
    assert store.hits == ["/docs/openapi.yaml"]


@pytest.mark.django_db
def test_text_jsonb_refuses_is_made_storable(client, user, store) -> None:
    document = {
        "openapi": "3.0.0",
        "info": {"title": "Pets\u0000 \ud800", "version": "1"},
        "paths": {
            "/pets": {
                "get": {
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "array",
                                        "items": {"properties": {"n\u0000ame": {}}},
                                    }
                                }
                            },
                        }
                    }
                }
            }
        },
    }
    # The upload refuses such text; a fetched document may hold it.
    store.documents["/docs/odd.json"] = json.dumps(document).encode()
    custom = _custom(user, base_url=store.url, openapi_url=f"{store.url}/docs/odd.json")
    response = client.post(_url(custom), {"sample": False}, format="json")
    assert response.status_code == 200, response.content
    custom.refresh_from_db()
    assert custom.discovery["title"] == "Pets ?"
    assert custom.discovery["streams"][0]["columns"] == {"name": "string"}


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPENAI_KEY) as server:
        yield server


GUIDE = b"<html><body><h1>Vets</h1><p>GET /vets lists the vets.</p></body></html>"
VETS_ANSWER = {
    "title": None,
    "base_url": None,
    "auth": {
        "type": "none",
        "api_key_name": None,
        "api_key_in": None,
        "token_url": None,
        "scopes": None,
        "evidence": None,
    },
    "config_fields": [],
    "streams": [
        {
            "name": "vets",
            "path": "vets",
            "record_selector": "vets",
            "params": [],
            "paginator": None,
            "primary_key": ["id"],
            "cursor_field": None,
            "incremental_param": None,
            "evidence": "GET /vets lists the vets",
        }
    ],
}


@pytest.mark.django_db
def test_the_llm_reads_the_documentation_page(client, user, store, fake_openai, settings) -> None:
    serve_as_provider(fake_openai, settings)
    store.documents["/docs/guide.html"] = GUIDE
    custom = _custom(
        user,
        base_url=f"{store.url}/v1",
        openapi_url=f"{store.url}/docs/openapi.yaml",
        documentation_url=f"{store.url}/docs/guide.html",
    )
    fake_openai.answer_json(VETS_ANSWER)
    response = client.post(_url(custom), {"sample": False}, format="json")
    assert response.status_code == 200, response.content
    discovery = response.json()
    assert discovery["sources"] == ["openapi", "llm"]
    names = [s["name"] for s in discovery["streams"]]
    assert names == ["owners", "pets", "owners_pets", "vets"]  # the document's streams kept
    [request] = fake_openai.requests
    assert "GET /vets lists the vets" in request.messages[-1]["content"]


@pytest.mark.django_db
def test_a_failing_llm_keeps_the_deterministic_discovery(
    client, user, store, fake_openai, settings
) -> None:
    serve_as_provider(fake_openai, settings)
    settings.LLM_MAX_RETRIES = 0
    store.documents["/docs/guide.html"] = GUIDE
    custom = _custom(
        user,
        base_url=f"{store.url}/v1",
        openapi_url=f"{store.url}/docs/openapi.yaml",
        documentation_url=f"{store.url}/docs/guide.html",
    )
    fake_openai.fail_next(1, status=500)
    response = client.post(_url(custom), {"sample": False}, format="json")
    assert response.status_code == 200, response.content
    discovery = response.json()
    assert discovery["sources"] == ["openapi"]
    assert {s["name"] for s in discovery["streams"]} == {"owners", "pets", "owners_pets"}
    assert any("LLM failed" in w for w in discovery["warnings"])
