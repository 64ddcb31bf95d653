"""The Connector OAuth endpoints of the API reference (the popup pattern: flows.py)."""

from __future__ import annotations

import secrets

from django.http import HttpResponse
from django.utils.html import escape, json_script
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from integrations.oauth import flows
from integrations.oauth import serializers as shapes
from integrations.oauth.providers import PROVIDERS
from landed.api import ratelimit
from landed.api.errors import (
    ApplicationError,
    BadRequestError,
    ConflictError,
    NotConfiguredError,
    NotFoundError,
    UpstreamError,
)
from landed.api.schema import raises
from landed.api.validation import parse_query
from landed.api.views import LandedAPIView

TAGS = ["connector-oauth"]
PROVIDER_PARAMETER = OpenApiParameter(
    "provider", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(PROVIDERS)
)


class ConnectorOAuthAuthorizeView(LandedAPIView):
    rate_limit_tiers = {"GET": ratelimit.SENSITIVE}

    @extend_schema(
        operation_id="connector_oauth_authorize",
        tags=TAGS,
        summary="Get OAuth authorize URL",
        description="The provider's authorize URL for a popup window, with the scopes of the "
        "source's streams, a signed single-use `state` (valid OAUTH_STATE_TTL_SECONDS) bound "
        "to this account, and PKCE where the provider takes it (Microsoft, Salesforce). "
        "Shopify needs `shop`; Salesforce takes `environment`. With `connector_id`, the "
        "authorization re-links that connector. 404 for an unknown provider, 422 for bad "
        "parameters, 503 while the provider is not configured on this server.",
        parameters=[PROVIDER_PARAMETER, shapes.OAuthAuthorizeQuerySerializer],
        responses={200: shapes.OAuthAuthorizeSerializer},
    )
    @raises(
        (NotFoundError, "No such provider."),
        (NotConfiguredError, "Service unavailable: the provider's client id and secret are unset."),
    )
    def get(self, request: Request, provider: str) -> Response:
        parse_query(shapes.OAuthAuthorizeQuerySerializer, request)
        query = {k: str(v) for k, v in request.query_params.items()}
        authorization = flows.oauth_authorize(
            account=request.user.account,
            provider_name=provider,
            query=query,
            server_origin=request.build_absolute_uri("/"),
        )
        return Response(shapes.OAuthAuthorizeSerializer(authorization).data)


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


# The page the popup ends on: it posts the outcome to the opener, at the flow's frontend origin
# only (never "*": another page that opened the popup must not read the code), then closes. The
# outcome travels as a JSON script element (escaped by Django), read by a script allowed by
# its nonce alone.
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Landed: {title}</title></head>
<body><p>{title}. You can close this window.</p>
{data}
<script nonce="{nonce}">
(function () {{
  var outcome = JSON.parse(document.getElementById("landed-oauth").textContent);
  if (window.opener) {{ window.opener.postMessage(outcome.message, outcome.origin); }}
  window.close();
}})();
</script></body></html>
"""


class ConnectorOAuthCallbackView(LandedAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    rate_limit_tiers = {"GET": ratelimit.SENSITIVE}

    @extend_schema(
        operation_id="connector_oauth_callback",
        tags=TAGS,
        summary="OAuth callback from provider (internal)",
        description="Where the provider sends the popup back. The state is checked and spent, "
        "the code exchanged, and the tokens stored encrypted under a short-lived single-use "
        "result code. The answer is a page that posts `{type: 'landed:oauth', provider, "
        "code}` (or `error` and `message`) to the opener window at the frontend's origin, "
        "then closes. Error codes: `invalid_state`, `state_expired`, `state_used`, "
        "`access_denied`, `provider_error`, `code_missing`, `code_rejected`, "
        "`account_mismatch`, `provider_unavailable`, `unknown_provider`. With `Accept: "
        "application/json`, the same message as JSON.",
        parameters=[PROVIDER_PARAMETER, shapes.OAuthCallbackQuerySerializer],
        responses={
            (200, "text/html"): OpenApiResponse(
                OpenApiTypes.STR, description="The page that hands over the code."
            ),
            200: shapes.OAuthCallbackSerializer,
        },
        auth=[],
    )
    @raises(
        (BadRequestError, "The authorization failed; `detail.code` says why (see above)."),
        (NotFoundError, "No such provider."),
        (
            ConflictError,
            "`account_mismatch`: another account at the provider than the re-linked connector's.",
        ),
        (UpstreamError, "`provider_unavailable`: the provider could not be reached."),
    )
    def get(self, request: Request, provider: str) -> Response | HttpResponse:
        query = {k: str(v)[:4000] for k, v in request.query_params.items()}
        outcome = flows.oauth_callback(provider_name=provider, query=query)
        message: dict[str, str] = {"type": "landed:oauth", "provider": outcome.provider}
        if outcome.code is not None:
            message["code"] = outcome.code
        else:
            message["error"] = outcome.error or "provider_error"
            message["message"] = outcome.message
        if _wants_json(request):
            if outcome.code is None:
                # A script gets the API's error envelope; the code says why, as on the page.
                failure = ApplicationError(
                    outcome.message,
                    {"code": message["error"], "reason": outcome.reason},
                )
                failure.status_code = outcome.status
                raise failure
            return Response(shapes.OAuthCallbackSerializer(message).data)
        nonce = secrets.token_urlsafe(16)
        title = "Authorized" if outcome.code else "Authorization failed"
        page = _PAGE.format(
            title=escape(title),
            data=json_script({"message": message, "origin": outcome.origin}, "landed-oauth"),
            nonce=nonce,
        )
        # The page is served whatever the outcome (200): it is how the opener hears of it, and
        # the message it posts says whether it worked.
        response = HttpResponse(page, content_type="text/html; charset=utf-8")
        response["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'"
        )
        response["Cache-Control"] = "no-store"
        # The provider's page opened this window: keep `window.opener` (the frontend's).
        response["Cross-Origin-Opener-Policy"] = "unsafe-none"
        response["Referrer-Policy"] = "no-referrer"
        return response


class ConnectorOAuthResultView(LandedAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    rate_limit_tiers = {"GET": ratelimit.SENSITIVE}

    @extend_schema(
        operation_id="connector_oauth_result",
        tags=TAGS,
        summary="Consume short-lived OAuth code to retrieve credentials",
        description="Trades the callback's result code, once and within "
        "CONNECTOR_OAUTH_RESULT_TTL_SECONDS, for the credential reference: create the "
        "connector with `config.credential_id` set to it (POST /connectors). The tokens "
        "never leave the server. 404 for a code unknown, used or expired.",
        parameters=[shapes.OAuthResultQuerySerializer],
        responses={200: shapes.OAuthResultSerializer},
        auth=[],
    )
    @raises((NotFoundError, "The code is unknown, was already used, or expired."))
    def get(self, request: Request) -> Response:
        query = parse_query(shapes.OAuthResultQuerySerializer, request).validated_data
        grant = flows.oauth_result_consume(code=query["code"])
        response = Response(shapes.OAuthResultSerializer(grant).data)
        response["Cache-Control"] = "no-store"
        return response
