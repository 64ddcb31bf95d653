"""The OAuth (Login/Signup) endpoints of the API reference.

- `GET /auth/oauth/{provider}`: a 302 to the provider's consent screen.
- `GET /auth/oauth/{provider}/callback`: where the provider sends the browser back. On success,
  the session cookie is set and the browser goes to the frontend with a one-time `code` for
  `POST /auth/exchange-code`; on failure, to the frontend with `error=<code>`.
- `POST /auth/oauth/exchange`: a provider access token (NextAuth) for a Landed JWT.
"""

import logging

from django.conf import settings
from django.http import HttpResponseRedirect
from django.utils.cache import add_never_cache_headers
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers as drf_serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from landed.accounts import serializers as account_serializers
from landed.accounts import services
from landed.accounts.oauth import linking, state
from landed.accounts.oauth.errors import (
    ACCESS_DENIED,
    CODE_MISSING,
    PROVIDER_ERROR,
    OAuthFlowError,
)
from landed.accounts.oauth.providers import PROVIDER_NAMES, provider_get
from landed.accounts.oauth.redirects import redirect_target, with_params
from landed.accounts.views import session_response, start_session
from landed.api import ratelimit
from landed.api.errors import (
    BadRequestError,
    ForbiddenError,
    NotAuthenticatedError,
    NotConfiguredError,
    UpstreamError,
)
from landed.api.schema import Raised, raises
from landed.api.serializers import StrictCharField
from landed.api.validation import parse_body, parse_query
from landed.api.views import LandedAPIView

logger = logging.getLogger("landed.accounts.oauth")


class StartQuerySerializer(drf_serializers.Serializer):
    next = StrictCharField(
        required=False,
        max_length=2000,
        help_text=(
            "Where the browser goes after signing in (with `code` or `error`): a URL that "
            "OAUTH_ALLOWED_REDIRECT_URLS allows, or a path on the frontend. Default: the "
            "frontend URL."
        ),
    )

    def validate_next(self, value: str) -> str:
        target = redirect_target(value)
        # A path is resolved against the frontend's origin, which can make it longer.
        if target is None or len(target) > 2000:
            raise drf_serializers.ValidationError(
                "Not an allowed redirect target.", code="redirect_not_allowed"
            )
        return target


class ExchangeInputSerializer(drf_serializers.Serializer):
    provider = drf_serializers.ChoiceField(choices=PROVIDER_NAMES)
    access_token = StrictCharField(
        max_length=4096, help_text="An access token the provider issued to this server's client."
    )


def _redirect(url: str) -> HttpResponseRedirect:
    response = HttpResponseRedirect(url)
    # The Location carries a one-time state or code: no cache may keep it.
    add_never_cache_headers(response)
    return response


class OAuthStartView(LandedAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    rate_limit_tiers = {"GET": ratelimit.SENSITIVE}
    provider_name = ""

    def get(self, request: Request) -> HttpResponseRedirect:
        provider = provider_get(self.provider_name)
        provider.require_configured()
        query = parse_query(StartQuerySerializer, request).validated_data
        redirect_to = query.get("next") or settings.OAUTH_FRONTEND_URL
        redirect_uri = provider.redirect_uri(request._request)
        browser_secret = state.browser_secret_for(request.COOKIES.get(state.COOKIE_NAME))
        signed_state, row = state.state_issue(
            provider=provider.name,
            browser_secret=browser_secret,
            redirect_uri=redirect_uri,
            redirect_to=redirect_to,
        )
        url = provider.authorization_url(
            state=signed_state,
            code_verifier=row.code_verifier,
            nonce=row.nonce,
            redirect_uri=redirect_uri,
        )
        response = _redirect(url)
        response.set_cookie(
            state.COOKIE_NAME,
            browser_secret,
            max_age=settings.OAUTH_STATE_TTL_SECONDS,
            path=state.COOKIE_PATH,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
        return response


class OAuthCallbackView(LandedAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    rate_limit_tiers = {"GET": ratelimit.SENSITIVE}
    provider_name = ""

    def get(self, request: Request) -> HttpResponseRedirect:
        provider = provider_get(self.provider_name)
        provider.require_configured()
        params = request.query_params
        # Until the state is known good, failures go to the frontend, never to a URL the
        # request names.
        target = settings.OAUTH_FRONTEND_URL
        try:
            row = state.state_consume(
                provider=provider.name,
                state=params.get("state", ""),
                browser_secret=request.COOKIES.get(state.COOKIE_NAME),
            )
            target = row.redirect_to
            error = params.get("error")
            if error:
                denied = error == ACCESS_DENIED
                raise OAuthFlowError(
                    ACCESS_DENIED if denied else PROVIDER_ERROR,
                    "Sign-in cancelled" if denied else f"{provider.label} refused the sign-in",
                    params.get("error_description") or error,
                    status=403 if denied else 400,
                )
            code = params.get("code")
            if not code:
                raise OAuthFlowError(CODE_MISSING, "No code", f"{provider.label} sent no code.")
            identity = provider.identity_from_code(
                code=code,
                code_verifier=row.code_verifier,
                nonce=row.nonce,
                redirect_uri=row.redirect_uri,
            )
            user = linking.social_sign_in(identity=identity)
        except OAuthFlowError as exc:
            logger.info(
                "accounts.oauth_callback_failed provider=%s error=%s", provider.name, exc.code
            )
            return _redirect(with_params(target, error=exc.code, provider=provider.name))

        sign_in = start_session(request, user)
        code = services.auth_code_issue(user=user, sign_in=sign_in)
        return _redirect(with_params(target, code=code))


class OAuthExchangeView(LandedAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    rate_limit_tiers = {"POST": ratelimit.SENSITIVE}

    @raises(
        (BadRequestError, "Bad request: the provider refused the sign-in."),
        (
            NotAuthenticatedError,
            "Not authenticated: the provider refused the access token, or it was "
            "issued to another client.",
        ),
        (ForbiddenError, "Forbidden: the email is unverified or the account is disabled."),
        (UpstreamError, "Upstream provider unavailable: the provider could not be reached."),
        (NotConfiguredError, "Service unavailable: the provider is not configured."),
    )
    @extend_schema(
        operation_id="auth_oauth_exchange",
        tags=["auth"],
        summary="Exchange a provider access token for a Landed JWT (used by NextAuth)",
        description=(
            "The token must have been issued to this server's OAuth client. The same linking "
            "rules as the browser sign-in apply. Also sets the session cookie."
        ),
        request=ExchangeInputSerializer,
        responses={
            200: account_serializers.SessionSerializer,
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = parse_body(ExchangeInputSerializer, request).validated_data
        provider = provider_get(data["provider"])
        provider.require_configured()
        identity = provider.identity_from_access_token(data["access_token"])
        user = linking.social_sign_in(identity=identity)
        sign_in = start_session(request, user)
        return session_response(user, sign_in)


# The errors of the start and callback views of every provider (each documents its own `get`).
_START_ERRORS: list[Raised] = [
    (UpstreamError, "Upstream provider unavailable: its discovery document could not be read."),
    (NotConfiguredError, "Service unavailable: the provider is not configured."),
]
_CALLBACK_ERRORS: list[Raised] = [
    (NotConfiguredError, "Service unavailable: the provider is not configured."),
]


def _start_schema(label: str, name: str) -> dict:
    return {
        "operation_id": f"auth_oauth_{name}",
        "tags": ["auth"],
        "summary": f"Redirect to {label}'s consent screen",
        "parameters": [StartQuerySerializer],
        "responses": {
            302: OpenApiResponse(description=f"To {label}, with a signed state."),
        },
        "auth": [],
    }


def _callback_schema(label: str, name: str) -> dict:
    return {
        "operation_id": f"auth_oauth_{name}_callback",
        "tags": ["auth"],
        "summary": f"{label}'s OAuth callback (internal)",
        "description": (
            "Sets the session cookie and redirects to the frontend with `code` (for "
            "`POST /auth/exchange-code`), or with `error` (see docs/auth.md)."
        ),
        "parameters": [
            OpenApiParameter("state", str, required=True),
            OpenApiParameter("code", str),
            OpenApiParameter("error", str),
        ],
        "responses": {
            302: OpenApiResponse(description="To the frontend, with `code` or `error`."),
        },
        "auth": [],
    }


class GoogleStartView(OAuthStartView):
    provider_name = "google"

    @raises(*_START_ERRORS)
    @extend_schema(**_start_schema("Google", "google"))
    def get(self, request: Request) -> HttpResponseRedirect:
        return super().get(request)


class GoogleCallbackView(OAuthCallbackView):
    provider_name = "google"

    @raises(*_CALLBACK_ERRORS)
    @extend_schema(**_callback_schema("Google", "google"))
    def get(self, request: Request) -> HttpResponseRedirect:
        return super().get(request)


class GitHubStartView(OAuthStartView):
    provider_name = "github"

    @raises(*_START_ERRORS)
    @extend_schema(**_start_schema("GitHub", "github"))
    def get(self, request: Request) -> HttpResponseRedirect:
        return super().get(request)


class GitHubCallbackView(OAuthCallbackView):
    provider_name = "github"

    @raises(*_CALLBACK_ERRORS)
    @extend_schema(**_callback_schema("GitHub", "github"))
    def get(self, request: Request) -> HttpResponseRedirect:
        return super().get(request)
