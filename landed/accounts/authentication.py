"""The three ways to authenticate, tried in the reference's order: session cookie, API key,
JWT. (The JWT is djangorestframework-simplejwt's JWTAuthentication, configured in settings.)"""

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from landed.accounts import selectors, services
from landed.accounts.models import ApiKey, User

BEARER_CHALLENGE = 'Bearer realm="api"'


class CookieSessionAuthentication(authentication.SessionAuthentication):
    """The `landed_session` cookie set by sign-up and login. Writes also need the CSRF token
    (the `csrftoken` cookie echoed in an `X-CSRFToken` header)."""

    def authenticate_header(self, request: Request) -> str:
        # Without a challenge DRF would answer 403 instead of 401 to anonymous requests.
        return BEARER_CHALLENGE


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer lnd_...`. Any other bearer token is left to the JWT check."""

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        parts = authentication.get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != b"bearer":
            return None
        raw_key = parts[1].decode("latin-1")
        if not raw_key.startswith(services.API_KEY_PREFIX):
            return None
        key = selectors.api_key_get_active(raw_key=raw_key)
        if key is None or not key.created_by.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        services.api_key_touch(key=key)
        return key.created_by, key

    def authenticate_header(self, request: Request) -> str:
        return BEARER_CHALLENGE
