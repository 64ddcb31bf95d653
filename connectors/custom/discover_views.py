"""The discovery endpoint of custom connectors: `POST /custom-connectors/{id}/discover`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.request import Request
from rest_framework.response import Response

from connectors.custom.discover import custom_connector_discover
from connectors.custom.discovery.sampling import (
    CREDENTIAL_FIELDS,
    DEFAULT_MAX_REQUESTS,
    MAX_REQUESTS_CAP,
)
from connectors.custom.services import custom_connector_get
from landed.api import ratelimit
from landed.api.errors import UpstreamError
from landed.api.schema import raises
from landed.api.validation import parse_body
from landed.api.views import LandedAPIView

TAG_CUSTOM_CONNECTORS = ["custom-connectors"]  # the tag of connectors/custom/views.py

# Config keys whose values are always text: credentials and where they go.
_TEXT_KEYS = frozenset(
    (*CREDENTIAL_FIELDS, "client_auth_method", "api_key_name", "api_key_in", "token_url", "scopes")
)


class DiscoverInputSerializer(serializers.Serializer):
    config = serializers.DictField(
        required=False,
        default=dict,
        help_text="Credentials (api_key, bearer_token, username, password, client_id, "
        "client_secret) and config field values to sample the API with; never stored.",
    )
    sample = serializers.BooleanField(
        required=False, default=True, help_text="Sample the live API (bounded requests)."
    )
    max_requests = serializers.IntegerField(
        required=False,
        default=DEFAULT_MAX_REQUESTS,
        min_value=1,
        max_value=MAX_REQUESTS_CAP,
        help_text="The most requests the sample sends (a token request included).",
    )

    def validate_config(self, config: dict[str, Any]) -> dict[str, Any]:
        # Values go into URLs and headers as text: an object or a list would be sent as its
        # Python repr, a credential that is not text would never be right.
        errors: dict[str, Any] = {}
        for key, value in config.items():
            if key in _TEXT_KEYS and not isinstance(value, str):
                errors[key] = ErrorDetail("Give a string.", code="string_type")
            elif isinstance(value, dict | list):
                errors[key] = ErrorDetail(
                    "Give a string, a number or a boolean.", code="scalar_type"
                )
        if errors:
            raise serializers.ValidationError(errors)
        return config


class DiscoveryAuthSerializer(serializers.Serializer):
    type = serializers.CharField()
    api_key_name = serializers.CharField(allow_null=True)
    api_key_in = serializers.CharField(allow_null=True)
    token_url = serializers.CharField(allow_null=True)
    scopes = serializers.CharField(allow_null=True, help_text="Space-separated OAuth2 scopes.")
    evidence = serializers.CharField(allow_null=True)


class DiscoveryConfigFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    description = serializers.CharField()
    required = serializers.BooleanField()
    default = serializers.JSONField(allow_null=True)


class DiscoverySampleSerializer(serializers.Serializer):
    status = serializers.IntegerField(allow_null=True)
    records = serializers.IntegerField()
    requests = serializers.IntegerField()
    error = serializers.CharField(allow_null=True)


class DiscoveryStreamSerializer(serializers.Serializer):
    name = serializers.CharField()
    path = serializers.CharField()
    method = serializers.CharField()
    record_selector = serializers.CharField(allow_blank=True)
    params = serializers.DictField()
    paginator = serializers.DictField(allow_null=True, help_text="An http_api paginator.")
    primary_key = serializers.ListField(child=serializers.CharField(), allow_null=True)
    cursor_candidates = serializers.ListField(child=serializers.CharField())
    incremental_param = serializers.CharField(
        allow_null=True, help_text="A query parameter asking for records changed since a time."
    )
    columns = serializers.DictField(child=serializers.CharField())
    parent = serializers.DictField(allow_null=True)
    evidence = serializers.ListField(child=serializers.CharField())
    sample = DiscoverySampleSerializer(allow_null=True)


class DiscoveryRequestSerializer(serializers.Serializer):
    method = serializers.CharField()
    url = serializers.CharField(help_text="Secrets masked as ***.")
    status = serializers.IntegerField(allow_null=True)
    duration_ms = serializers.IntegerField()


class DiscoverySerializer(serializers.Serializer):
    sources = serializers.ListField(
        child=serializers.ChoiceField(choices=["openapi", "sampling", "llm"])
    )
    title = serializers.CharField(allow_null=True)
    base_url = serializers.CharField(allow_null=True)
    auth = DiscoveryAuthSerializer()
    config_fields = DiscoveryConfigFieldSerializer(many=True)
    streams = DiscoveryStreamSerializer(many=True)
    requests = DiscoveryRequestSerializer(many=True)
    warnings = serializers.ListField(child=serializers.CharField())


class CustomConnectorDiscoverView(LandedAPIView):
    rate_limit_tiers = {"POST": ratelimit.SENSITIVE}

    @raises(
        (
            UpstreamError,
            "Upstream provider unavailable: the OpenAPI document at `openapi_url` could not "
            "be fetched.",
        ),
    )
    @extend_schema(
        operation_id="custom_connectors_discover",
        tags=TAG_CUSTOM_CONNECTORS,
        summary="Discover the API's auth, config fields and streams",
        description="From the uploaded OpenAPI 3 / Swagger 2 document (else the one at "
        "`openapi_url`), a bounded live sample of the API (at most `max_requests` requests, "
        "secrets masked in the recorded requests) and, with an LLM provider configured, the "
        "documentation page. Stored on the custom connector. A document that is not a "
        "readable OpenAPI 3 / Swagger 2 one is a 422 saying why.",
        request=DiscoverInputSerializer,
        responses={200: DiscoverySerializer},
    )
    def post(self, request: Request, custom_connector_id: Any) -> Response:
        custom_connector = custom_connector_get(
            account=request.user.account, custom_connector_id=custom_connector_id
        )
        data = parse_body(DiscoverInputSerializer, request).validated_data
        discovery = custom_connector_discover(
            custom_connector=custom_connector,
            config=dict(data["config"]),
            sample=data["sample"],
            max_requests=data["max_requests"],
        )
        return Response(discovery)
