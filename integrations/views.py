"""The Integrations (GitHub App) endpoints of the API reference."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.http import HttpResponseRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from integrations import selectors, serializers, services
from landed.api import ratelimit
from landed.api.errors import (
    ApplicationError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotConfiguredError,
    UpstreamError,
)
from landed.api.pagination import PageQuerySerializer, page_serializer, paginate
from landed.api.schema import raises
from landed.api.validation import parse_query
from landed.api.views import LandedAPIView

TAGS = ["integrations"]


class GitHubInstallView(LandedAPIView):
    rate_limit_tiers = {"GET": ratelimit.SENSITIVE}

    @raises((NotConfiguredError, "Service unavailable: the GitHub App is not configured."))
    @extend_schema(
        operation_id="integrations_github_install",
        tags=TAGS,
        summary="Get GitHub App install URL",
        description="Send the browser to `url`: GitHub asks which account and repositories "
        "to install the App on, then sends it back to the callback with a `state` signed for "
        "this account (valid GITHUB_APP_STATE_MAX_AGE_SECONDS). 503 until the server's "
        "GitHub App is configured.",
        responses={200: serializers.InstallUrlSerializer},
    )
    def get(self, request: Request) -> Response:
        url = services.github_install_url(account=request.user.account)
        return Response(serializers.InstallUrlSerializer({"url": url}).data)


def _wants_json(request: Request) -> bool:
    """A client that asks for JSON (and not for a page) gets JSON; a browser, a redirect."""
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def _frontend(**params: str) -> HttpResponseRedirect:
    parts = urlsplit(settings.GITHUB_APP_FRONTEND_URL)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
    return HttpResponseRedirect(urlunsplit(parts._replace(query=query)))


class GitHubCallbackView(LandedAPIView):
    """GitHub's redirect after the App is installed: authenticated by its signed state."""

    authentication_classes = []
    permission_classes = [AllowAny]
    rate_limit_tiers = {"GET": ratelimit.SENSITIVE}

    @raises(BadRequestError, ForbiddenError, ConflictError, UpstreamError, NotConfiguredError)
    @extend_schema(
        operation_id="integrations_github_callback",
        tags=TAGS,
        summary="GitHub App install callback (internal)",
        description="The App's setup URL: GitHub sends the browser here after an install or "
        "an update, with `installation_id`, `setup_action` and the `state` of GET "
        "/integrations/github/install. The state is checked, then the installation with "
        "GitHub (as the App), then it is stored for the state's account (an update or a "
        "second install of the same GitHub account updates it). With the App's client id and "
        "secret set (GITHUB_APP_CLIENT_ID, GITHUB_APP_CLIENT_SECRET), the `code` of the "
        "installing user's authorization is required too, and the installation must be one "
        "that user can reach (403 otherwise: an installation_id can be forged). A browser is "
        "redirected to "
        "GITHUB_APP_FRONTEND_URL with `github=connected|updated|requested` and "
        "`installation_id`, or `github=error&error=<code>` (`invalid_state`, "
        "`expired_state`, `invalid_request`, `unknown_installation`, `installation_claimed`, "
        "`authorization_required`, `authorization_refused`, `installation_not_reachable`, "
        "`github_unavailable`, `not_configured`); a client sending `Accept: "
        "application/json` gets the outcome as JSON, or the error envelope (400, 403, 409, "
        "422, 502, 503).",
        parameters=[serializers.CallbackQuerySerializer],
        responses={
            200: serializers.CallbackSerializer,
            302: OpenApiResponse(description="To the frontend, with the outcome."),
        },
        auth=[],
    )
    def get(self, request: Request) -> Response | HttpResponseRedirect:
        wants_json = _wants_json(request)
        try:
            query = parse_query(serializers.CallbackQuerySerializer, request).validated_data
            outcome = services.github_installation_connect(
                state=query.get("state"),
                installation_id=query.get("installation_id"),
                setup_action=query.get("setup_action"),
                code=query.get("code"),
            )
        except ApplicationError as error:
            if wants_json:
                raise
            return _frontend(github="error", error=services.callback_error_code(error))
        if wants_json:
            body = {"provider": "github", "status": outcome.status, "installation": None}
            if outcome.installation is not None:
                body["installation"] = outcome.installation
            return Response(serializers.CallbackSerializer(body).data)
        params = {"github": outcome.status}
        if outcome.installation is not None:
            params["installation_id"] = str(outcome.installation.installation_id)
        return _frontend(**params)


class IntegrationListView(LandedAPIView):
    @extend_schema(
        operation_id="integrations_list",
        tags=TAGS,
        summary="List connected provider integrations",
        description="The account's GitHub installations: the GitHub account, the "
        "repositories granted, when it was connected, its status, and the connectors that "
        "use it.",
        parameters=[PageQuerySerializer],
        responses={
            200: page_serializer(serializers.IntegrationSerializer),
        },
    )
    def get(self, request: Request) -> Response:
        installations = selectors.github_installation_list(account=request.user.account)
        return Response(paginate(request, installations, serializers.IntegrationSerializer))


class IntegrationDetailView(LandedAPIView):
    @raises(ConflictError)
    @extend_schema(
        operation_id="integrations_disconnect",
        tags=TAGS,
        summary="Disconnect a provider integration",
        description="Forgets the account's installations of the provider (or the one "
        "`installation_id` names). 409 while connectors use them, naming them, unless "
        "`force=true`: their syncs then fail with `reauthorize_required` and their schedules "
        "stop until they name a connected installation. The App stays installed on GitHub "
        "(uninstall it in the GitHub account's settings). 404 for an unknown provider or "
        "nothing connected.",
        parameters=[
            OpenApiParameter("provider", OpenApiTypes.STR, OpenApiParameter.PATH, enum=["github"]),
            serializers.DisconnectQuerySerializer,
        ],
        responses={200: serializers.DisconnectSerializer},
    )
    def delete(self, request: Request, provider: str) -> Response:
        query = parse_query(serializers.DisconnectQuerySerializer, request).validated_data
        outcome = services.integration_disconnect(
            account=request.user.account,
            provider=provider,
            installation_id=query.get("installation_id"),
            force=query["force"] == "true",
        )
        body = {
            "provider": outcome.provider,
            "disconnected": outcome.installations,
            "connectors": outcome.connectors,
        }
        return Response(serializers.DisconnectSerializer(body).data)
