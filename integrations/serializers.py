"""Shapes of the Integrations endpoints."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from integrations.models import GitHubInstallation, InstallationStatus
from integrations.selectors import connectors_using_installations
from landed.api.serializers import QueryChoice, QueryInteger, Timestamp


class ConnectorRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class IntegrationSerializer(serializers.Serializer):
    """One connected GitHub installation."""

    provider = serializers.SerializerMethodField()
    id = serializers.UUIDField()
    installation_id = serializers.IntegerField(
        help_text="GitHub's id of the installation: a `github` connector's `installation_id`."
    )
    account_login = serializers.CharField(help_text="The GitHub user or organization.")
    account_type = serializers.CharField(help_text="`User` or `Organization`.")
    repository_selection = serializers.CharField(
        help_text="`all` repositories of the GitHub account, or the `selected` ones."
    )
    status = serializers.ChoiceField(
        choices=InstallationStatus.choices,
        help_text="`suspended`, or `revoked` (uninstalled): the connectors that use it fail "
        "with `reauthorize_required` until it is connected again.",
    )
    connected_at = Timestamp()
    updated_at = Timestamp()
    suspended_at = Timestamp(allow_null=True)
    connectors = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ChoiceField(choices=["github"]))
    def get_provider(self, obj: GitHubInstallation) -> str:
        return "github"

    @extend_schema_field(ConnectorRefSerializer(many=True))
    def get_connectors(self, obj: GitHubInstallation) -> list[dict[str, Any]]:
        used_by = connectors_using_installations(
            account_id=obj.account_id, installation_ids=[obj.installation_id]
        )
        return ConnectorRefSerializer(used_by, many=True).data


class InstallUrlSerializer(serializers.Serializer):
    url = serializers.URLField(
        help_text="Send the browser there to install the App; GitHub sends it back to the callback."
    )


# GitHub's ids are far below it; a larger number would not fit the database's bigint.
MAX_GITHUB_ID = 2**53


class CallbackQuerySerializer(serializers.Serializer):
    installation_id = QueryInteger(min_value=1, max_value=MAX_GITHUB_ID, required=False)
    setup_action = QueryChoice(choices=["install", "update", "request"], required=False)
    state = serializers.CharField(required=False, max_length=4096, trim_whitespace=False)
    code = serializers.CharField(
        required=False,
        max_length=512,
        help_text="The installing user's authorization, when the App requests it.",
    )


class CallbackSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(choices=["github"])
    status = serializers.ChoiceField(
        choices=["connected", "updated", "requested"],
        help_text="`requested`: an organization member asked its owners to install the App; "
        "nothing is connected until they do.",
    )
    installation = IntegrationSerializer(allow_null=True)


class DisconnectQuerySerializer(serializers.Serializer):
    installation_id = QueryInteger(
        min_value=1,
        max_value=MAX_GITHUB_ID,
        required=False,
        help_text="Only this installation (default: all).",
    )
    force = QueryChoice(
        choices=["true", "false"],
        default="false",
        help_text="Disconnect even while connectors use it (they then fail with "
        "`reauthorize_required`).",
    )


class DisconnectSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(choices=["github"])
    disconnected = IntegrationSerializer(many=True)
    connectors = ConnectorRefSerializer(
        many=True, help_text="The connectors that used it: they need another installation."
    )
