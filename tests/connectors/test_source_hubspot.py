"""The `hubspot` source's definition: declared streams served as the type's fixed schema, a
manifest the http_api engine accepts, and the config it takes."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from connectors.sources.http_api.definition import definition_issues
from connectors.sources.hubspot import HubSpotSource
from connectors.sources.hubspot.source import SEARCH_RESULT_WINDOW, manifest


@pytest.mark.django_db
def test_the_catalog_serves_the_declared_streams():
    response = APIClient().get("/connectors/catalog/hubspot/schema")
    assert response.status_code == 200, response.content
    streams = {s["name"]: s for s in response.json()["streams"]}
    assert list(streams) == ["contacts", "companies", "deals", "owners"]
    assert all(s["primary_key"] == ["id"] for s in streams.values())
    assert streams["contacts"]["default_cursor"] == "lastmodifieddate"
    assert streams["deals"]["default_cursor"] == "hs_lastmodifieddate"
    assert streams["owners"]["default_cursor"] == "updatedAt"
    types = {c["name"]: c["type"] for c in streams["companies"]["columns"]}
    assert types["numberofemployees"] == "bigint"
    assert types["hs_lastmodifieddate"] == "timestamptz"
    assert types["annualrevenue"] == "string"  # decimal text, never a float


def test_the_manifest_is_a_valid_definition_and_takes_the_bound_window():
    bound = {"api_url": "https://api.hubapi.com", "start_date": "2024-01-01"}
    definition = manifest(bound)
    assert definition_issues(definition) == []
    contacts = definition["streams"][0]
    assert contacts["result_window"] == SEARCH_RESULT_WINDOW
    assert contacts["incremental"]["start_value"] == "2024-01-01T00:00:00Z"
    assert contacts["add_fields"]["email"] == "properties.email"
    narrow = manifest({**bound, "search_result_window": "400"})
    assert {s.get("result_window") for s in narrow["streams"]} == {400, None}


def test_a_start_date_that_is_not_a_date_is_refused():
    issues = HubSpotSource.config_issues({"credential_id": "x", "start_date": "soon"})
    assert [(i.field, i.type) for i in issues] == [("start_date", "datetime_parsing")]
    assert HubSpotSource.config_issues({"credential_id": "x", "start_date": "2024-01-01"}) == []
