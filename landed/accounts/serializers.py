"""Input and output shapes of the auth endpoints."""

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.settings import api_settings

from landed.accounts.models import User
from landed.api.serializers import (
    StrictBooleanField,
    StrictCharField,
    StrictEmailField,
    Timestamp,
)


class CredentialsInputSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=254)
    password = StrictCharField(max_length=128, write_only=True)


class SignupInputSerializer(CredentialsInputSerializer):
    password = StrictCharField(
        min_length=8,
        max_length=128,
        write_only=True,
        help_text=(
            "At least 8 characters, not a common password, not all digits, not too similar "
            "to the email."
        ),
    )
    name = StrictCharField(
        max_length=200, required=False, help_text="Account name; defaults to the email."
    )

    def validate(self, attrs: dict) -> dict:
        # Django's password validators, with the email known so that similarity is caught.
        candidate = User(email=attrs["email"])
        try:
            password_validation.validate_password(attrs["password"], user=candidate)
        except DjangoValidationError as exc:
            problems = serializers.as_serializer_error(exc)[api_settings.NON_FIELD_ERRORS_KEY]
            raise serializers.ValidationError({"password": problems}) from exc
        return attrs


class CustomerSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    created_at = Timestamp()


class UserSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    is_staff = serializers.BooleanField()
    created_at = Timestamp(source="date_joined")
    last_login = Timestamp(allow_null=True)


class SessionSerializer(serializers.Serializer):
    """Sign-up, login, /auth/me and code exchange all answer with this."""

    customer = CustomerSerializer(source="user.account")
    user = UserSerializer()
    access_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")


class TokenSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()


class RefreshInputSerializer(serializers.Serializer):
    access_token = StrictCharField(
        required=False,
        help_text="The JWT to refresh; or send it as `Authorization: Bearer <jwt>`.",
    )


class LogoutInputSerializer(serializers.Serializer):
    everywhere = StrictBooleanField(
        required=False,
        default=False,
        help_text="End every session of the user, with all their JWTs, not only this one.",
    )


class ExchangeCodeInputSerializer(serializers.Serializer):
    code = StrictCharField(max_length=200)


class ApiKeyCreateInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100, required=False, allow_blank=True, default="")


class ApiKeySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField(help_text="The key's first characters, to tell keys apart.")
    created_at = Timestamp()
    last_used_at = Timestamp(allow_null=True)


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The raw key. Shown once: store it now.")


class RevokedSerializer(serializers.Serializer):
    revoked = serializers.IntegerField(help_text="How many keys were revoked.")
