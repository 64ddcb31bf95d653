"""Input and output shapes of the custom connectors' endpoints."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from connectors.custom import openapi  # noqa: F401  (registers DefinitionField's schema)
from connectors.models import CustomConnector
from landed.api.serializers import StrictCharField, Timestamp

_DEFINITION_HELP = (
    "The definition (component CustomConnectorDefinition, docs/custom_connectors.md): "
    "giving one makes a new version, the current one."
)


class DefinitionField(serializers.JSONField):
    """A definition: any JSON here, checked against its JSON Schema by the service (so that
    each problem is a 422 located inside it)."""


class OpenApiDocumentField(serializers.JSONField):
    """An OpenAPI 3 or Swagger 2 document: an object, or text holding JSON or YAML."""


def _url_field(**kwargs: Any) -> StrictCharField:
    return StrictCharField(
        max_length=2000,
        required=False,
        allow_null=True,
        allow_blank=True,
        **kwargs,
    )


class _CustomConnectorFields(serializers.Serializer):
    description = StrictCharField(
        required=False, allow_blank=True, allow_null=True, max_length=10_000
    )
    documentation_url = _url_field(help_text="A documentation page of the API.")
    openapi_url = _url_field(help_text="Where the API's OpenAPI or Swagger document is.")
    openapi_document = OpenApiDocumentField(
        required=False,
        allow_null=True,
        help_text="The API's OpenAPI 3 or Swagger 2 document: an object, or text holding JSON "
        "or YAML.",
    )
    auth_kind = serializers.ChoiceField(
        choices=CustomConnector.AUTH_KINDS,
        required=False,
        help_text="How the API authenticates; follows the definition's auth_type once there "
        "is one.",
    )
    definition = DefinitionField(required=False, allow_null=True, help_text=_DEFINITION_HELP)

    def validate_documentation_url(self, value: str | None) -> str | None:
        return _http_url(value)

    def validate_openapi_url(self, value: str | None) -> str | None:
        return _http_url(value)


def _http_url(value: str | None) -> str | None:
    if value and not value.startswith(("http://", "https://")):
        raise serializers.ValidationError(
            "Give an absolute http:// or https:// URL.", code="url_scheme"
        )
    return value


class CustomConnectorCreateInputSerializer(_CustomConnectorFields):
    name = StrictCharField(min_length=1, max_length=200)
    base_url = StrictCharField(
        min_length=1,
        max_length=2000,
        help_text="The API's base URL; the definition's base_url when it gives none.",
    )

    def validate_base_url(self, value: str) -> str:
        return _http_url(value) or value


class CustomConnectorUpdateInputSerializer(_CustomConnectorFields):
    name = StrictCharField(min_length=1, max_length=200, required=False)
    base_url = StrictCharField(min_length=1, max_length=2000, required=False)
    # Versions are never removed, so null cannot do what it would ask: refused, not ignored.
    definition = DefinitionField(required=False, help_text=_DEFINITION_HELP)

    def validate_base_url(self, value: str) -> str:
        return _http_url(value) or value


class CustomConnectorVersionSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    origin = serializers.ChoiceField(choices=["manual", "generated"])
    created_at = Timestamp()


class CustomConnectorUserSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    custom_version = serializers.IntegerField(
        allow_null=True, help_text="The version it reads with."
    )


class CustomConnectorSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    type = serializers.CharField(source="type_name", help_text="Its connectors' type.")
    name = serializers.CharField()
    description = serializers.CharField()
    base_url = serializers.CharField()
    documentation_url = serializers.SerializerMethodField()
    openapi_url = serializers.SerializerMethodField()
    has_openapi_document = serializers.SerializerMethodField()
    auth_kind = serializers.CharField()
    current_version = serializers.IntegerField(
        allow_null=True, help_text="The version new connectors pin; null without a definition."
    )
    definition = serializers.SerializerMethodField()
    versions = serializers.SerializerMethodField()
    icon_url = serializers.SerializerMethodField()
    discovery = serializers.JSONField(allow_null=True, help_text="The last discovery's result.")
    discovered_at = Timestamp(allow_null=True)
    connectors = serializers.SerializerMethodField()
    created_at = Timestamp()
    updated_at = Timestamp()

    def get_documentation_url(self, obj: CustomConnector) -> str | None:
        return obj.documentation_url or None

    def get_openapi_url(self, obj: CustomConnector) -> str | None:
        return obj.openapi_url or None

    def get_has_openapi_document(self, obj: CustomConnector) -> bool:
        return obj.openapi_document is not None

    @staticmethod
    def _versions(obj: CustomConnector) -> list[Any]:
        # Prefetched newest first by the selector.
        return sorted(obj.versions.all(), key=lambda v: -v.number)

    @extend_schema_field(DefinitionField(allow_null=True, help_text="The current version's."))
    def get_definition(self, obj: CustomConnector) -> dict[str, Any] | None:
        current = next((v for v in self._versions(obj) if v.number == obj.current_version), None)
        return current.definition if current is not None else None

    @extend_schema_field(CustomConnectorVersionSerializer(many=True))
    def get_versions(self, obj: CustomConnector) -> list[dict[str, Any]]:
        return list(CustomConnectorVersionSerializer(self._versions(obj), many=True).data)

    def get_icon_url(self, obj: CustomConnector) -> str | None:
        return f"/custom-connector-icons/{obj.icon_id}" if obj.icon_id else None

    @extend_schema_field(CustomConnectorUserSerializer(many=True))
    def get_connectors(self, obj: CustomConnector) -> list[dict[str, Any]]:
        users = [
            {"id": c.id, "name": c.name, "custom_version": version.number}
            for version in self._versions(obj)
            for c in version.connectors.all()
        ]
        users.sort(key=lambda c: c["name"])
        return list(CustomConnectorUserSerializer(users, many=True).data)
