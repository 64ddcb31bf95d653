"""The Auth endpoints of the API reference."""

from django.contrib.auth import login, logout
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from landed.accounts import selectors, serializers, services
from landed.accounts.authentication import CookieSessionAuthentication, bearer_token
from landed.accounts.models import User
from landed.accounts.tokens import access_token_for, verify_refreshable
from landed.api import ratelimit
from landed.api.errors import ConflictError, NotAuthenticatedError, RateLimitedError
from landed.api.pagination import PageQuerySerializer, page_serializer, paginate
from landed.api.schema import raises
from landed.api.validation import parse_body
from landed.api.views import LandedAPIView


def session_response(user: User, status_code: int = status.HTTP_200_OK) -> Response:
    """The answer of every sign-in (password, OAuth, code exchange): the customer and a JWT."""
    payload = {"user": user, **access_token_for(user)}
    return Response(serializers.SessionSerializer(payload).data, status=status_code)


def start_session(request: Request, user: User) -> None:
    """The one way a sign-in starts a session (password or OAuth)."""
    # Sets the landed_session cookie (and rotates the CSRF token, sent as the csrftoken cookie).
    login(request._request, user, backend="django.contrib.auth.backends.ModelBackend")


class SignupView(LandedAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    rate_limit_tiers = {"POST": ratelimit.SIGNUP}

    @raises((ConflictError, "Conflict: an account with this email already exists."))
    @extend_schema(
        operation_id="auth_signup",
        tags=["auth"],
        summary="Create an account with email and password",
        request=serializers.SignupInputSerializer,
        responses={201: serializers.SessionSerializer},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = parse_body(serializers.SignupInputSerializer, request).validated_data
        user = services.account_signup(
            email=data["email"], password=data["password"], name=data.get("name")
        )
        start_session(request, user)
        return session_response(user, status.HTTP_201_CREATED)


class LoginView(LandedAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    rate_limit_tiers = {"POST": ratelimit.LOGIN}

    @raises(
        (NotAuthenticatedError, "Not authenticated: invalid email or password."),
        (
            RateLimitedError,
            "Account locked: too many failed sign-ins for this email; see the Retry-After header.",
        ),
    )
    @extend_schema(
        operation_id="auth_login",
        tags=["auth"],
        summary="Sign in with email and password",
        description=(
            "After 5 failed attempts for an email, sign-in for it is locked for 15 minutes "
            "(429 with Retry-After)."
        ),
        request=serializers.CredentialsInputSerializer,
        responses={200: serializers.SessionSerializer},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = parse_body(serializers.CredentialsInputSerializer, request).validated_data
        user = services.user_login(
            request=request._request, email=data["email"], password=data["password"]
        )
        start_session(request, user)
        return session_response(user)


class LogoutView(LandedAPIView):
    permission_classes = [IsAuthenticated]  # no billing check: see billing/permissions.py
    authentication_classes = [CookieSessionAuthentication]

    @extend_schema(
        operation_id="auth_logout",
        tags=["auth"],
        summary="End the session and clear its cookie",
        request=None,
        responses={204: OpenApiResponse(description="Signed out.")},
    )
    def post(self, request: Request) -> Response:
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RefreshView(LandedAPIView):
    permission_classes = [IsAuthenticated]  # no billing check: see billing/permissions.py
    authentication_classes = [CookieSessionAuthentication]

    @extend_schema(
        operation_id="auth_refresh",
        tags=["auth"],
        summary="Refresh a JWT (which may be expired, but less than 7 days old)",
        description=(
            "Needs a valid session cookie. The JWT comes as `Authorization: Bearer <jwt>` or as "
            "`access_token` in the body."
        ),
        request=serializers.RefreshInputSerializer,
        responses={200: serializers.TokenSerializer},
    )
    def post(self, request: Request) -> Response:
        data = parse_body(serializers.RefreshInputSerializer, request).validated_data
        raw_token = data.get("access_token") or bearer_token(request)
        if not raw_token:
            raise NotAuthenticatedError(
                "Missing token", "Send the JWT as a Bearer token or as access_token."
            )
        verify_refreshable(raw_token, user=request.user)
        return Response(serializers.TokenSerializer(access_token_for(request.user)).data)


class MeView(LandedAPIView):
    rate_limit_tiers = {"GET": ratelimit.READ_HIGH}

    @extend_schema(
        operation_id="auth_me",
        tags=["auth"],
        summary="The signed-in customer, with a fresh JWT",
        responses={200: serializers.SessionSerializer},
    )
    def get(self, request: Request) -> Response:
        return session_response(request.user)


class ApiKeysView(LandedAPIView):
    permission_classes = [IsAuthenticated]  # no billing check: see billing/permissions.py
    rate_limit_tiers = {"POST": ratelimit.SENSITIVE, "DELETE": ratelimit.SENSITIVE}

    @extend_schema(
        operation_id="auth_api_keys_list",
        tags=["auth"],
        summary="List the account's active API keys (never the keys themselves)",
        parameters=[PageQuerySerializer],
        responses={
            200: page_serializer(serializers.ApiKeySerializer),
        },
    )
    def get(self, request: Request) -> Response:
        keys = selectors.api_key_list(account=request.user.account)
        return Response(paginate(request, keys, serializers.ApiKeySerializer))

    @extend_schema(
        operation_id="auth_api_keys_create",
        tags=["auth"],
        summary="Create an API key (the raw key is returned only this once)",
        request=serializers.ApiKeyCreateInputSerializer,
        responses={
            201: serializers.ApiKeyCreatedSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        data = parse_body(serializers.ApiKeyCreateInputSerializer, request).validated_data
        key, raw_key = services.api_key_create(user=request.user, name=data["name"])
        created = {**serializers.ApiKeySerializer(key).data, "key": raw_key}
        return Response(created, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="auth_api_keys_revoke_all",
        tags=["auth"],
        summary="Revoke all of the account's API keys",
        responses={200: serializers.RevokedSerializer},
    )
    def delete(self, request: Request) -> Response:
        revoked = services.api_keys_revoke_all(account=request.user.account)
        return Response(serializers.RevokedSerializer({"revoked": revoked}).data)


class ExchangeCodeView(LandedAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    rate_limit_tiers = {"POST": ratelimit.SENSITIVE}

    @raises(
        (
            NotAuthenticatedError,
            "Not authenticated: the code is unknown, expired or already used, or the "
            "account is disabled.",
        ),
    )
    @extend_schema(
        operation_id="auth_exchange_code",
        tags=["auth"],
        summary="Exchange a one-time auth code (from the OAuth redirect) for a JWT",
        request=serializers.ExchangeCodeInputSerializer,
        responses={200: serializers.SessionSerializer},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = parse_body(serializers.ExchangeCodeInputSerializer, request).validated_data
        user = services.auth_code_exchange(code=data["code"])
        return session_response(user)
