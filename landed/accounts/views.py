"""The Auth endpoints of the API reference."""

from django.contrib.auth import login, logout
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.tokens import Token

from landed.accounts import selectors, serializers, services, sign_ins
from landed.accounts.authentication import CookieSessionAuthentication, bearer_token
from landed.accounts.models import ApiKey, SignIn, User
from landed.accounts.tokens import SIGN_IN_ENDED, access_token_for, verify_refreshable
from landed.api import ratelimit
from landed.api.errors import ConflictError, NotAuthenticatedError, RateLimitedError
from landed.api.pagination import PageQuerySerializer, page_serializer, paginate
from landed.api.schema import raises
from landed.api.validation import parse_body
from landed.api.views import LandedAPIView


def session_response(
    user: User, sign_in: SignIn, status_code: int = status.HTTP_200_OK
) -> Response:
    """The answer of every sign-in (password, OAuth, code exchange): the customer and a JWT."""
    payload = {"user": user, **access_token_for(user, sign_in=sign_in)}
    return Response(serializers.SessionSerializer(payload).data, status=status_code)


def start_session(request: Request, user: User) -> SignIn:
    """The one way a sign-in starts a session (password or OAuth); returns its sign-in."""
    # Sets the landed_session cookie (and rotates the CSRF token, sent as the csrftoken cookie);
    # the login signal starts the sign-in (sign_ins.on_user_logged_in).
    login(request._request, user, backend="django.contrib.auth.backends.ModelBackend")
    return _sign_in_of_session(request)


def request_sign_in(request: Request) -> SignIn:
    """The sign-in of the credentials this request came with: the JWT's, the API key's, or the
    session's. A JWT issued to the request belongs to it."""
    if isinstance(request.auth, ApiKey):
        return sign_ins.sign_in_for_api_key(key=request.auth)
    if isinstance(request.auth, Token):
        sign_in = sign_ins.sign_in_get(request.auth.get(sign_ins.SIGN_IN_CLAIM))
        if sign_in is None:  # ended since the authentication, a moment ago
            raise NotAuthenticatedError("Invalid or expired token", SIGN_IN_ENDED)
        return sign_in
    return _sign_in_of_session(request)


def _sign_in_of_session(request: Request) -> SignIn:
    sign_in = sign_ins.sign_in_of_session(request._request)
    if sign_in is None:
        raise NotAuthenticatedError("Not authenticated", "The session has ended; sign in again.")
    return sign_in


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
        sign_in = start_session(request, user)
        return session_response(user, sign_in, status.HTTP_201_CREATED)


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
            "After 5 failed attempts for an email from one client address, sign-in for it is "
            "locked from that address for 15 minutes (429 `Account locked` with Retry-After). "
            "From 20 failures for an email across all addresses, each further attempt waits "
            "1 to 60 seconds (429 with Retry-After), except from an address that signed in to "
            "it in the last 30 days."
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
        sign_in = start_session(request, user)
        return session_response(user, sign_in)


class LogoutView(LandedAPIView):
    permission_classes = [IsAuthenticated]  # no billing check: see billing/permissions.py
    authentication_classes = [CookieSessionAuthentication]

    @extend_schema(
        operation_id="auth_logout",
        tags=["auth"],
        summary="End the session and clear its cookie",
        description=(
            'The session\'s JWTs stop working at once. With `{"everywhere": true}`, every '
            "session of the user ends, with all its JWTs (API keys stay)."
        ),
        request=serializers.LogoutInputSerializer,
        responses={204: OpenApiResponse(description="Signed out.")},
    )
    def post(self, request: Request) -> Response:
        data = parse_body(serializers.LogoutInputSerializer, request).validated_data
        if data["everywhere"]:
            sign_ins.user_sign_out_everywhere(user=request.user)
        # Ends this session's sign-in too (sign_ins.on_user_logged_out).
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
        fresh = access_token_for(request.user, sign_in=_sign_in_of_session(request))
        return Response(serializers.TokenSerializer(fresh).data)


class MeView(LandedAPIView):
    rate_limit_tiers = {"GET": ratelimit.READ_HIGH}

    @extend_schema(
        operation_id="auth_me",
        tags=["auth"],
        summary="The signed-in customer, with a fresh JWT",
        responses={200: serializers.SessionSerializer},
    )
    def get(self, request: Request) -> Response:
        return session_response(request.user, request_sign_in(request))


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
        user, sign_in = services.auth_code_exchange(code=data["code"])
        return session_response(user, sign_in)
