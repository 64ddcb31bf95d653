"""Shapes of the Connector OAuth endpoints."""

from __future__ import annotations

from rest_framework import serializers

from integrations.models import OAuthGrantStatus
from landed.api.serializers import Timestamp


class OAuthAuthorizeQuerySerializer(serializers.Serializer):
    shop = serializers.CharField(
        required=False,
        max_length=80,
        help_text="Shopify: the shop's myshopify.com domain (e.g. example.myshopify.com).",
    )
    environment = serializers.ChoiceField(
        choices=["production", "sandbox"],
        required=False,
        help_text="Salesforce: the login host, production (login.salesforce.com) or sandbox "
        "(test.salesforce.com).",
    )
    streams = serializers.CharField(
        required=False,
        max_length=500,
        help_text="Comma-separated streams the connector will read; the scopes asked are "
        "theirs. Default: every stream of the source.",
    )
    connector_id = serializers.UUIDField(
        required=False,
        help_text="Re-link this connector (its authorization was revoked or expired): its "
        "grant gets the new tokens, and it keeps its streams and state.",
    )
    redirect_to = serializers.CharField(
        required=False,
        max_length=2000,
        help_text="The frontend page that opened the popup: the result is posted to its "
        "origin. Must be allowed (OAUTH_FRONTEND_URL's origin or OAUTH_ALLOWED_REDIRECT_URLS).",
    )


class OAuthAuthorizeSerializer(serializers.Serializer):
    authorize_url = serializers.URLField(help_text="Open it in a popup window.")
    state = serializers.CharField(help_text="Signed, single use; the callback checks it.")
    expires_at = Timestamp(help_text="Finish the authorization before this.")
    redirect_uri = serializers.URLField(
        help_text="The callback URL the provider returns to (register it with the provider)."
    )
    scopes = serializers.ListField(child=serializers.CharField())


class OAuthCallbackQuerySerializer(serializers.Serializer):
    state = serializers.CharField(required=False, max_length=1000)
    code = serializers.CharField(required=False, max_length=4000)
    error = serializers.CharField(required=False, max_length=200)
    error_description = serializers.CharField(required=False, max_length=2000)


class OAuthCallbackSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="Always `landed:oauth`.")
    provider = serializers.CharField()
    code = serializers.CharField(
        required=False, help_text="Trade it at GET /connectors/oauth/result, once."
    )
    error = serializers.CharField(required=False)
    message = serializers.CharField(required=False)


class OAuthResultQuerySerializer(serializers.Serializer):
    code = serializers.CharField(max_length=200)


class OAuthResultSerializer(serializers.Serializer):
    credential_id = serializers.UUIDField(
        source="id", help_text="Put it in the connector's config as `credential_id`."
    )
    provider = serializers.CharField()
    status = serializers.ChoiceField(choices=OAuthGrantStatus.choices)
    scopes = serializers.CharField(help_text="What the provider granted.")
    external_account = serializers.DictField(
        help_text="Who and where at the provider (workspace, org and instance URL, shop, "
        "portal); no secrets."
    )
    access_expires_at = Timestamp(allow_null=True)
    created_at = Timestamp()
