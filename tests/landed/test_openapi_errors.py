"""The error responses of the OpenAPI description: derived from each view (landed/api/schema.py)
and from the errors its methods declare, each with the error envelope."""

from typing import Any

import pytest
from django.urls import path
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from landed.api.errors import ConflictError, UpstreamError
from landed.api.schema import raises
from landed.api.views import LandedAPIView

pytestmark = pytest.mark.django_db

ENVELOPES = {"#/components/schemas/Error", "#/components/schemas/ValidationError"}


@pytest.fixture
def paths(api, settings) -> dict[str, Any]:
    settings.EXPOSE_API_DOCS = True
    return api.get("/openapi.json").json()["paths"]


def operations(paths: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), p, op) for p, item in paths.items() for method, op in item.items()]


def test_cancelling_a_job_documents_the_400_of_a_malformed_body(paths):
    responses = paths["/jobs/{job_id}/cancel"]["post"]["responses"]
    assert "400" in responses
    assert "JSON" in responses["400"]["description"]


def test_updating_streams_documents_the_409_while_a_sync_runs(paths):
    responses = paths["/connectors/{connector_id}/streams"]["put"]["responses"]
    assert "409" in responses
    assert "sync" in responses["409"]["description"]


def test_every_write_documents_the_refusals_of_a_chunked_body(paths):
    writes = [
        (m, p, op) for m, p, op in operations(paths) if m in {"POST", "PUT", "PATCH", "DELETE"}
    ]
    assert writes
    for method, path_, op in writes:
        assert {"411", "413"} <= set(op["responses"]), (method, path_)


def test_every_error_response_is_the_envelope(paths):
    for method, path_, op in operations(paths):
        for code, response in op["responses"].items():
            # The health probe's 503 is its report (which check failed), by design.
            if int(code) >= 400 and (path_, code) != ("/health", "503"):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref in ENVELOPES, (method, path_, code)
                assert response["description"], (method, path_, code)


def test_each_operation_documents_what_its_view_can_answer(paths):
    for method, path_, op in operations(paths):
        codes = set(op["responses"])
        assert "500" in codes, (method, path_)
        if op.get("security"):
            assert "401" in codes, (method, path_)
        if any(p["in"] == "path" for p in op.get("parameters", [])):
            assert "404" in codes, (method, path_)
        # (The sign-in callbacks do not validate their query: every failure is a redirect.)
        sign_in_callback = path_.startswith("/auth/oauth/") and path_.endswith("/callback")
        if any(p["in"] == "query" for p in op.get("parameters", [])) and not sign_in_callback:
            assert "422" in codes, (method, path_)
        if "requestBody" in op and path_ != "/billing/webhook":
            assert {"400", "413", "415", "422"} <= codes, (method, path_)


def test_rate_limited_operations_document_429_with_retry_after(paths):
    limited = paths["/connectors/{connector_id}/sync"]["post"]["responses"]["429"]
    assert limited["headers"]["Retry-After"]["required"] is True
    # Not rate-limited: the health probe and Stripe's deliveries.
    assert "429" not in paths["/health"]["get"]["responses"]
    assert "429" not in paths["/billing/webhook"]["post"]["responses"]


def test_an_error_a_method_declares_is_documented_on_its_operation():
    class BodySerializer(serializers.Serializer):
        name = serializers.CharField()

    class ThingView(LandedAPIView):
        permission_classes = [AllowAny]

        @raises(ConflictError, (UpstreamError, "Upstream provider unavailable: the thing."))
        @extend_schema(operation_id="things_create", request=BodySerializer, responses={201: None})
        def post(self, request: Request, thing_id: str) -> Response:
            return Response(status=201)

        @extend_schema(operation_id="things_get", responses={200: None})
        def get(self, request: Request, thing_id: str) -> Response:
            return Response()

    generator = SchemaGenerator(patterns=[path("things/<str:thing_id>", ThingView.as_view())])
    item = generator.get_schema(request=None, public=True)["paths"]["/things/{thing_id}"]

    created = item["post"]["responses"]
    assert created["409"]["description"] == ConflictError.description
    assert created["502"]["description"] == "Upstream provider unavailable: the thing."
    assert {"400", "401", "403", "404", "411", "413", "415", "422", "429", "500"} <= set(created)
    # Only what `post` declares: the read raises none of it, and takes no body.
    assert not {"409", "502", "400", "415", "411"} & set(item["get"]["responses"])
    assert {"401", "404", "429", "500"} <= set(item["get"]["responses"])
