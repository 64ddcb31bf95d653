"""What PUT /connectors/{id}/streams requires, said the same way by the API, its OpenAPI
description and docs/syncs.md."""

import re
from pathlib import Path

import pytest

from connectors.serializers import StreamSelectionInputSerializer
from tests.connectors.factories import make_connector

pytestmark = pytest.mark.django_db

DOCS = Path(__file__).resolve().parents[2] / "docs" / "syncs.md"
REQUIRED = {
    name for name, field in StreamSelectionInputSerializer().fields.items() if field.required
}


def test_the_required_fields_are_the_four_modes_fields():
    assert sorted(REQUIRED) == ["enabled", "load_mode", "name", "sync_mode"]


def test_an_entry_without_its_modes_is_a_422_naming_each_missing_field(client, user):
    connector = make_connector(user.account)
    response = client.put(
        f"/connectors/{connector.id}/streams",
        {"streams": [{"name": "events", "enabled": False}]},
        format="json",
    )
    assert response.status_code == 422, response.content
    locs = {tuple(item["loc"]) for item in response.json()["detail"]}
    assert locs == {("body", "streams", 0, "sync_mode"), ("body", "streams", 0, "load_mode")}


def test_the_openapi_description_says_what_each_entry_needs(api, settings):
    settings.EXPOSE_API_DOCS = True
    schema = api.get("/openapi.json").json()
    components = schema["components"]["schemas"]

    assert components["StreamsInputRequest"]["required"] == ["streams"]
    entry = components["StreamSelectionInputRequest"]
    assert set(entry["required"]) == REQUIRED
    # The conditional requirements, which a required list cannot say.
    assert "incremental" in entry["properties"]["cursor_field"]["description"]
    assert "merge" in entry["properties"]["primary_key"]["description"]
    put = schema["paths"]["/connectors/{connector_id}/streams"]["put"]
    assert all(f"`{name}`" in put["description"] for name in REQUIRED)
    assert "409" in put["responses"]


def test_the_docs_table_marks_the_same_required_fields():
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", DOCS.read_text(), flags=re.MULTILINE)
    marked = {field for field, required in rows if required.strip() == "yes"}
    assert marked == REQUIRED


def test_the_docs_say_what_happens_to_rows_deleted_in_the_source():
    text = DOCS.read_text()
    assert "### Rows deleted in the source stay in the destination" in text
    section = text.split("### Rows deleted in the source", 1)[1].split("\n## ", 1)[0]
    assert '{"full_resync": true}' in section
