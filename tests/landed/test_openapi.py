"""The OpenAPI description: served only when EXPOSE_API_DOCS is on, and valid."""

import io

import pytest
from django.core.management import call_command
from openapi_spec_validator import OpenAPIV30SpecValidator

pytestmark = pytest.mark.django_db

DOCS = ["/openapi.json", "/docs", "/redoc"]


@pytest.mark.parametrize("path", DOCS)
def test_docs_are_404_by_default(api, path, settings):
    assert settings.EXPOSE_API_DOCS is False
    response = api.get(path)
    assert response.status_code == 404
    assert response.json()["error"] == "Not found"


@pytest.fixture
def docs_on(settings):
    settings.EXPOSE_API_DOCS = True


def test_schema_lists_every_endpoint(api, docs_on):
    response = api.get("/openapi.json")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    operations = {
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    assert operations == {
        ("GET", "/health"),
        ("POST", "/auth/signup"),
        ("POST", "/auth/login"),
        ("POST", "/auth/logout"),
        ("POST", "/auth/refresh"),
        ("GET", "/auth/me"),
        ("GET", "/auth/api-keys"),
        ("POST", "/auth/api-keys"),
        ("DELETE", "/auth/api-keys"),
        ("POST", "/auth/exchange-code"),
        ("GET", "/auth/oauth/google"),
        ("GET", "/auth/oauth/google/callback"),
        ("GET", "/auth/oauth/github"),
        ("GET", "/auth/oauth/github/callback"),
        ("POST", "/auth/oauth/exchange"),
        ("GET", "/custom-connectors"),
        ("POST", "/custom-connectors"),
        ("GET", "/custom-connectors/{custom_connector_id}"),
        ("PATCH", "/custom-connectors/{custom_connector_id}"),
        ("DELETE", "/custom-connectors/{custom_connector_id}"),
        ("GET", "/connectors/catalog"),
        ("GET", "/connectors/catalog/{type_name}/schema"),
        ("GET", "/connectors"),
        ("GET", "/connectors/summary"),
        ("POST", "/connectors"),
        ("GET", "/connectors/{connector_id}"),
        ("PATCH", "/connectors/{connector_id}"),
        ("DELETE", "/connectors/{connector_id}"),
        ("POST", "/connectors/{connector_id}/sync"),
        ("POST", "/connectors/{connector_id}/test"),
        ("GET", "/connectors/{connector_id}/streams"),
        ("PUT", "/connectors/{connector_id}/streams"),
        ("POST", "/custom-connectors/{custom_connector_id}/discover"),
        ("GET", "/destinations/catalog"),
        ("GET", "/destinations"),
        ("POST", "/destinations"),
        ("GET", "/destinations/{destination_id}"),
        ("PATCH", "/destinations/{destination_id}"),
        ("DELETE", "/destinations/{destination_id}"),
        ("POST", "/destinations/test"),
        ("POST", "/destinations/{destination_id}/test"),
        ("GET", "/jobs"),
        ("GET", "/jobs/{job_id}"),
        ("POST", "/jobs/{job_id}/cancel"),
        ("POST", "/jobs/{job_id}/retry"),
        ("GET", "/syncs"),
        ("GET", "/syncs/stats"),
        ("GET", "/syncs/{connector_id}"),
        ("GET", "/syncs/{connector_id}/schema"),
        ("GET", "/alerts/groups"),
        ("POST", "/alerts/groups"),
        ("GET", "/alerts/groups/{group_id}"),
        ("PATCH", "/alerts/groups/{group_id}"),
        ("DELETE", "/alerts/groups/{group_id}"),
        ("POST", "/alerts/groups/{group_id}/connectors"),
        ("DELETE", "/alerts/groups/{group_id}/connectors/{connector_id}"),
        ("GET", "/alerts/policies"),
        ("POST", "/alerts/policies"),
        ("PATCH", "/alerts/policies/{policy_id}"),
        ("DELETE", "/alerts/policies/{policy_id}"),
        ("GET", "/alerts/policies/resolve/{connector_id}"),
        ("POST", "/alerts/policies/{policy_id}/test"),
        ("GET", "/alerts/notifications"),
        ("POST", "/alerts/notifications/{notification_id}/read"),
        ("POST", "/alerts/notifications/read-all"),
        ("GET", "/alerts/notifications/unread-count"),
        ("GET", "/webhooks"),
        ("POST", "/webhooks"),
        ("GET", "/webhooks/{webhook_id}"),
        ("PATCH", "/webhooks/{webhook_id}"),
        ("DELETE", "/webhooks/{webhook_id}"),
        ("POST", "/webhooks/{webhook_id}/rotate-secret"),
        ("POST", "/webhooks/{webhook_id}/test"),
        ("GET", "/webhooks/{webhook_id}/deliveries"),
        ("GET", "/webhooks/{webhook_id}/secret"),
        ("GET", "/billing/usage"),
        ("POST", "/billing/checkout"),
        ("POST", "/billing/portal"),
        ("POST", "/billing/webhook"),
        ("GET", "/integrations/github/install"),
        ("GET", "/integrations/github/callback"),
        ("GET", "/integrations"),
        ("DELETE", "/integrations/{provider}"),
        ("GET", "/connectors/oauth/{provider}/authorize"),
        ("GET", "/connectors/oauth/{provider}/callback"),
        ("GET", "/connectors/oauth/result"),
        ("POST", "/custom-connectors/{custom_connector_id}/icon"),
        ("GET", "/custom-connector-icons/{sha256}"),
        ("POST", "/custom-connectors/{custom_connector_id}/test"),
        ("POST", "/custom-connectors/{custom_connector_id}/generate"),
        ("GET", "/custom-connectors/{custom_connector_id}/generations"),
        ("POST", "/support/chat"),
    }


def test_schema_describes_errors_and_auth(api, docs_on):
    schema = api.get("/openapi.json").json()

    signup = schema["paths"]["/auth/signup"]["post"]
    assert {"201", "409", "422", "429"} <= set(signup["responses"])
    # No security requirement on signup, and no global one that would apply to it.
    assert "security" not in signup
    assert "security" not in schema
    me = schema["paths"]["/auth/me"]["get"]
    schemes = {name for requirement in me["security"] for name in requirement}
    assert schemes == {"sessionCookie", "apiKey", "jwtAuth"}
    listing = schema["paths"]["/auth/api-keys"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"limit", "offset"}
    page = schema["components"]["schemas"]["ApiKeyPage"]
    assert set(page["properties"]) == {"items", "total", "limit", "offset", "has_next"}
    error = schema["components"]["schemas"]["ValidationError"]
    assert set(error["properties"]) == {"error", "detail"}


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_viewers_are_served_without_a_cdn(api, docs_on, path):
    response = api.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "/openapi.json" in html
    assert "cdn.jsdelivr" not in html


def test_schema_generates_without_warnings(settings):
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    assert "openapi" in out.getvalue()


def test_optional_blank_strings_have_one_schema(api, docs_on):
    schema = api.get("/openapi.json").json()
    name = schema["components"]["schemas"]["ApiKeyCreateInputRequest"]["properties"]["name"]
    assert name == {"type": "string", "default": "", "maxLength": 100, "pattern": "^[^\\u0000]*$"}


def test_the_billing_rules_are_documented_on_the_operations_they_guard(api, docs_on):
    paths = api.get("/openapi.json").json()["paths"]
    create = paths["/connectors"]["post"]["responses"]
    assert "402" in create and "inactive" in create["403"]["description"]
    assert (
        "inactive"
        in paths["/connectors/{connector_id}/sync"]["post"]["responses"]["403"]["description"]
    )
    # Reads, and the ways back to an active subscription, are not guarded (a cookie-signed
    # write without its CSRF token is still a 403 there).
    assert "403" not in paths["/connectors"]["get"]["responses"]
    for path in ("/billing/checkout", "/alerts/notifications/read-all"):
        forbidden = paths[path]["post"]["responses"]["403"]["description"]
        assert "CSRF" in forbidden and "inactive" not in forbidden


def test_schema_is_valid_openapi_3(api, docs_on):
    """drf-spectacular's --validate checks the document against its own JSON schema of OpenAPI;
    openapi-spec-validator also checks what that schema cannot say (a default that breaks its
    own schema's minLength, say), as client generators do."""
    schema = api.get("/openapi.json").json()
    assert schema["openapi"].startswith("3.0.")

    errors = [
        f"{error.message} (rule: {'/'.join(map(str, error.schema_path))})"
        for error in OpenAPIV30SpecValidator(schema).iter_errors()
    ]
    assert errors == []


def test_an_optional_cancel_reason_defaults_to_a_string_it_allows(api, docs_on):
    schema = api.get("/openapi.json").json()
    reason = schema["components"]["schemas"]["JobCancelInputRequest"]["properties"]["reason"]
    assert reason["default"] == ""
    assert reason.get("minLength", 0) == 0


def test_the_custom_connector_definition_is_one_component_its_operations_reference(api, docs_on):
    schema = api.get("/openapi.json").json()
    component = schema["components"]["schemas"]["CustomConnectorDefinition"]
    assert component["required"] == ["base_url", "streams"]
    assert "config_fields" in component["properties"]
    assert component["additionalProperties"] is False
    reference = {"$ref": "#/components/schemas/CustomConnectorDefinition"}
    schemas = schema["components"]["schemas"]
    for name in ("CustomConnectorCreateInputRequest", "CustomConnector"):
        definition = schemas[name]["properties"]["definition"]
        assert definition == reference or reference in definition.get("allOf", []), definition
