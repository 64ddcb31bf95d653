"""The three ways to authenticate, tried in the reference's order: session cookie, API key,
JWT (djangorestframework-simplejwt)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import authentication, exceptions
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.tokens import Token

from landed.accounts import selectors, services
from landed.accounts.models import ApiKey, User

BEARER_CHALLENGE = 'Bearer realm="api"'


def bearer_token(request: Request) -> str | None:
    """The credentials of `Authorization: Bearer <token>`; the scheme name is
    case-insensitive (RFC 9110)."""
    parts = authentication.get_authorization_header(request).split()
    if len(parts) == 2 and parts[0].lower() == b"bearer":
        return parts[1].decode("latin-1")
    return None


class CookieSessionAuthentication(authentication.SessionAuthentication):
    """The `landed_session` cookie set by sign-up and login. Writes also need the CSRF token
    (the `csrftoken` cookie echoed in an `X-CSRFToken` header)."""

    def authenticate_header(self, request: Request) -> str:
        # Without a challenge DRF would answer 403 instead of 401 to anonymous requests.
        return BEARER_CHALLENGE


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer lnd_...`. Any other bearer token is left to the JWT check."""

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        raw_key = bearer_token(request)
        if raw_key is None or not raw_key.startswith(services.API_KEY_PREFIX):
            return None
        key = selectors.api_key_get_active(raw_key=raw_key)
        if key is None or not key.created_by.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        services.api_key_touch(key=key)
        return key.created_by, key

    def authenticate_header(self, request: Request) -> str:
        return BEARER_CHALLENGE


class BearerJWTAuthentication(JWTAuthentication):
    """simplejwt's JWT check, reading the header like the API-key check does, and treating a
    token whose user id is malformed as an invalid token rather than a crash."""

    def authenticate(self, request: Request) -> tuple[User, Token] | None:
        raw_token = bearer_token(request)
        if raw_token is None:
            return None
        validated = self.get_validated_token(raw_token.encode("latin-1"))
        return self.get_user(validated), validated

    def get_user(self, validated_token: Token) -> User:
        try:
            return super().get_user(validated_token)
        except (DjangoValidationError, ValueError) as exc:
            raise InvalidToken("Token contained no recognizable user identification") from exc

    def authenticate_header(self, request: Request) -> str:
        return BEARER_CHALLENGE
