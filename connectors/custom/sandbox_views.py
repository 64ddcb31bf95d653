"""The sandbox and generation endpoints of custom connectors: `POST /custom-connectors/{id}/test`,
`POST /custom-connectors/{id}/generate` and `GET /custom-connectors/{id}/generations`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from connectors.custom.generation import GENERATION_STATUSES, generation_list, generation_start
from connectors.custom.services import custom_connector_get
from connectors.custom.testing import custom_connector_test
from landed.api import ratelimit
from landed.api.errors import ConflictError
from landed.api.pagination import PageQuerySerializer, page_serializer, paginate
from landed.api.schema import raises
from landed.api.serializers import StrictIntegerField, Timestamp
from landed.api.validation import parse_body
from landed.api.views import LandedAPIView

TAG_CUSTOM_CONNECTORS = ["custom-connectors"]
_CONFIG_HELP = (
    "Credentials (api_key, bearer_token, username, password, client_id, client_secret) and "
    "config field values to read the API with; never stored"
)


class TestInputSerializer(serializers.Serializer):
    config = serializers.DictField(required=False, default=dict, help_text=f"{_CONFIG_HELP}.")
    version = StrictIntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        help_text="The version to test (absent: the current one).",
    )
    definition = serializers.DictField(
        required=False,
        allow_null=True,
        default=None,
        help_text="A definition to try instead of a stored version (not saved).",
    )
    max_records = StrictIntegerField(
        required=False,
        default=20,
        min_value=1,
        help_text="Records read per stream, at most SANDBOX_MAX_RECORDS (100 by default).",
    )


class SandboxCheckSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["succeeded", "failed"])
    message = serializers.CharField()
    error_type = serializers.CharField(allow_null=True)


class SandboxErrorSerializer(serializers.Serializer):
    type = serializers.CharField()
    message = serializers.CharField()


class SandboxColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()


class SandboxStreamSerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=["succeeded", "failed"])
    records = serializers.ListField(child=serializers.DictField())
    record_count = serializers.IntegerField()
    columns = SandboxColumnSerializer(many=True)
    truncated = serializers.BooleanField(help_text="The stream has more records than were read.")
    error = SandboxErrorSerializer(allow_null=True)


class SandboxRequestSerializer(serializers.Serializer):
    method = serializers.CharField()
    url = serializers.CharField(help_text="Secrets masked as ***.")
    status = serializers.IntegerField(allow_null=True, help_text="Null: no answer.")
    duration_ms = serializers.FloatField()
    bytes = serializers.IntegerField()


class SandboxLimitsSerializer(serializers.Serializer):
    seconds = serializers.FloatField()
    memory_mib = serializers.IntegerField()
    records = serializers.IntegerField()
    bytes = serializers.IntegerField()


class SandboxTestSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["succeeded", "failed"])
    version = serializers.IntegerField(allow_null=True, help_text="Null: a definition sent.")
    check = SandboxCheckSerializer()
    streams = SandboxStreamSerializer(many=True)
    requests = SandboxRequestSerializer(many=True)
    limits = SandboxLimitsSerializer()
    duration_ms = serializers.FloatField()
    error = SandboxErrorSerializer(
        allow_null=True,
        help_text="A sandbox limit hit (time_limit, memory_limit, output_limit) or a crash.",
    )


class GenerateInputSerializer(serializers.Serializer):
    config = serializers.DictField(
        required=False,
        default=dict,
        help_text=f"{_CONFIG_HELP} beyond the attempt (kept encrypted until it ends).",
    )


class GenerationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=GENERATION_STATUSES)
    base_version = serializers.IntegerField(
        allow_null=True, help_text="The version it was made from; its diff is against it."
    )
    version = serializers.SerializerMethodField(help_text="The version it produced.")
    diff = serializers.CharField(help_text="A unified diff of the definitions' JSON.")
    errors = serializers.ListField(child=serializers.DictField())
    test = SandboxTestSerializer(allow_null=True)
    used_llm = serializers.BooleanField()
    llm_model = serializers.CharField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    created_at = Timestamp()
    started_at = Timestamp(allow_null=True)
    finished_at = Timestamp(allow_null=True)

    def get_version(self, generation: Any) -> int | None:
        return generation.version.number if generation.version is not None else None


class CustomConnectorTestView(LandedAPIView):
    rate_limit_tiers = {"POST": ratelimit.SENSITIVE}

    @extend_schema(
        operation_id="custom_connectors_test",
        tags=TAG_CUSTOM_CONNECTORS,
        summary="Test a definition in the sandbox",
        description="Check and a bounded read of each stream in a sandbox: a child process "
        "with time, memory, record and byte limits (SANDBOX_*), the outbound network policy, "
        "and nothing of the server's secrets or other accounts' data. 200 with sample "
        "records, inferred columns, the requests made (secrets masked) and per-stream errors, "
        "also when the API under test fails (`status: failed`). A bad definition or config "
        "is a 422.",
        request=TestInputSerializer,
        responses={200: SandboxTestSerializer},
    )
    def post(self, request: Request, custom_connector_id: Any) -> Response:
        custom = custom_connector_get(
            account=request.user.account, custom_connector_id=custom_connector_id
        )
        data = parse_body(TestInputSerializer, request).validated_data
        result = custom_connector_test(
            custom_connector=custom,
            config=dict(data["config"]),
            version=data["version"],
            definition=data["definition"],
            max_records=data["max_records"],
        )
        return Response(result)


class CustomConnectorGenerateView(LandedAPIView):
    rate_limit_tiers = {"POST": ratelimit.SENSITIVE}

    @raises((ConflictError, "Conflict: a generation is already queued or running."))
    @extend_schema(
        operation_id="custom_connectors_generate",
        tags=TAG_CUSTOM_CONNECTORS,
        summary="Generate a new definition version",
        description="Queues an attempt (202): a worker makes a definition from the discovery "
        "(run now if none is stored; refined by the LLM when one is configured), validates "
        "it, test-reads it in the sandbox with `config`, and makes it the current version "
        "(origin generated) when the test succeeds. Follow it with "
        "`GET /custom-connectors/{id}/generations`.",
        request=GenerateInputSerializer,
        responses={202: GenerationSerializer},
    )
    def post(self, request: Request, custom_connector_id: Any) -> Response:
        custom = custom_connector_get(
            account=request.user.account, custom_connector_id=custom_connector_id
        )
        data = parse_body(GenerateInputSerializer, request).validated_data
        generation = generation_start(custom_connector=custom, config=dict(data["config"]))
        return Response(GenerationSerializer(generation).data, status=status.HTTP_202_ACCEPTED)


class CustomConnectorGenerationsView(LandedAPIView):
    @extend_schema(
        operation_id="custom_connectors_generations",
        tags=TAG_CUSTOM_CONNECTORS,
        summary="List generation attempts, newest first",
        parameters=[PageQuerySerializer],
        responses={200: page_serializer(GenerationSerializer)},
    )
    def get(self, request: Request, custom_connector_id: Any) -> Response:
        custom = custom_connector_get(
            account=request.user.account, custom_connector_id=custom_connector_id
        )
        generations = generation_list(custom_connector=custom)
        return Response(paginate(request, generations, GenerationSerializer))
