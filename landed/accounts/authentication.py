"""The three ways to authenticate, tried in the reference's order: session cookie, API key,
JWT (djangorestframework-simplejwt)."""

from rest_framework import authentication, exceptions
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.tokens import Token

from landed.accounts import selectors, services
from landed.accounts.models import ApiKey, User
from landed.accounts.sign_ins import SIGN_IN_CLAIM, sign_in_get, sign_in_is_live
from landed.accounts.tokens import SIGN_IN_ENDED

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
    """simplejwt's JWT check, reading the header like the API-key check does, and accepting a
    token only while its sign-in lasts: not logged out, not signed out everywhere, the user
    active and their password unchanged, the API key that obtained it not revoked. The sign-in
    is read with its user in one query, in place of the one simplejwt makes for the user."""

    def authenticate(self, request: Request) -> tuple[User, Token] | None:
        raw_token = bearer_token(request)
        if raw_token is None:
            return None
        validated = self.get_validated_token(raw_token.encode("latin-1"))
        return self.get_user(validated), validated

    def get_user(self, validated_token: Token) -> User:
        sign_in = sign_in_get(validated_token.get(SIGN_IN_CLAIM))
        claimed_user = str(validated_token.get(jwt_settings.USER_ID_CLAIM))
        if sign_in is None or str(sign_in.user_id) != claimed_user:
            raise InvalidToken(SIGN_IN_ENDED)
        if not sign_in.user.is_active:
            raise exceptions.AuthenticationFailed("User is inactive", code="user_inactive")
        if not sign_in_is_live(sign_in):
            raise InvalidToken(SIGN_IN_ENDED)
        return sign_in.user

    def authenticate_header(self, request: Request) -> str:
        return BEARER_CHALLENGE
