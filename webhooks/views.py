"""The Webhooks endpoints of the API reference."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from landed.api import ratelimit
from landed.api.errors import ConflictError
from landed.api.pagination import PageQuerySerializer, page_serializer, paginate
from landed.api.schema import raises
from landed.api.validation import parse_body, parse_query
from landed.api.views import LandedAPIView
from webhooks import selectors, serializers, services

TAGS = ["webhooks"]
WEBHOOK_PAGE = page_serializer(serializers.WebhookSerializer)
ATTEMPT_PAGE = page_serializer(serializers.DeliveryAttemptSerializer)


def _with_secret(endpoint, secret: str) -> dict:
    return {**serializers.WebhookSerializer(endpoint).data, "secret": secret}


def _endpoint(request: Request, webhook_id: Any):
    return selectors.webhook_get(account=request.user.account, webhook_id=webhook_id)


class WebhookListView(LandedAPIView):
    @extend_schema(
        operation_id="webhooks_list",
        tags=TAGS,
        summary="List webhook endpoints",
        parameters=[PageQuerySerializer],
        responses={200: WEBHOOK_PAGE},
    )
    def get(self, request: Request) -> Response:
        endpoints = selectors.webhook_list(account=request.user.account)
        return Response(paginate(request, endpoints, serializers.WebhookSerializer))

    @raises((ConflictError, "Conflict: the account has as many webhook endpoints as allowed."))
    @extend_schema(
        operation_id="webhooks_create",
        tags=TAGS,
        summary="Create a webhook endpoint",
        description="201 with the endpoint and its signing secret (`secret`, returned again "
        "only by GET /webhooks/{id}/secret). The URL's host must resolve to a public address "
        "unless the server allows private networks. 409 when the account already has "
        f"{services.MAX_ENDPOINTS_PER_ACCOUNT} endpoints.",
        request=serializers.WebhookCreateInputSerializer,
        responses={
            201: serializers.WebhookWithSecretSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        data = parse_body(serializers.WebhookCreateInputSerializer, request).validated_data
        endpoint, secret = services.webhook_create(account=request.user.account, **data)
        return Response(_with_secret(endpoint, secret), status=status.HTTP_201_CREATED)


class WebhookDetailView(LandedAPIView):
    @extend_schema(
        operation_id="webhooks_get",
        tags=TAGS,
        summary="Get a webhook endpoint",
        responses={200: serializers.WebhookSerializer},
    )
    def get(self, request: Request, webhook_id: Any) -> Response:
        return Response(serializers.WebhookSerializer(_endpoint(request, webhook_id)).data)

    @extend_schema(
        operation_id="webhooks_update",
        tags=TAGS,
        summary="Update a webhook endpoint (partial)",
        description="`enabled: true` on an endpoint Landed disabled enables it again and "
        "clears `disabled_at`, `disabled_reason` and `failing_since`.",
        request=serializers.WebhookUpdateInputSerializer,
        responses={
            200: serializers.WebhookSerializer,
        },
    )
    def patch(self, request: Request, webhook_id: Any) -> Response:
        endpoint = _endpoint(request, webhook_id)
        data = parse_body(serializers.WebhookUpdateInputSerializer, request).validated_data
        endpoint = services.webhook_update(endpoint=endpoint, data=dict(data))
        return Response(serializers.WebhookSerializer(endpoint).data)

    @extend_schema(
        operation_id="webhooks_delete",
        tags=TAGS,
        summary="Delete a webhook endpoint",
        description="Its pending deliveries and its delivery log go with it.",
        responses={204: OpenApiResponse(description="Deleted.")},
    )
    def delete(self, request: Request, webhook_id: Any) -> Response:
        services.webhook_delete(endpoint=_endpoint(request, webhook_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookRotateSecretView(LandedAPIView):
    rate_limit_tiers = {"POST": ratelimit.SENSITIVE}

    @extend_schema(
        operation_id="webhooks_rotate_secret",
        tags=TAGS,
        summary="Rotate the signing secret",
        description="The endpoint with its new secret. The secret it replaces keeps signing "
        "beside it (a second `v1=` in Landed-Signature) until `previous_secret_expires_at` "
        "(GET /webhooks/{id}/secret), 24 hours by default.",
        request=None,
        responses={
            200: serializers.WebhookWithSecretSerializer,
        },
    )
    def post(self, request: Request, webhook_id: Any) -> Response:
        endpoint, secret = services.webhook_rotate_secret(endpoint=_endpoint(request, webhook_id))
        return Response(_with_secret(endpoint, secret))


class WebhookTestView(LandedAPIView):
    rate_limit_tiers = {"POST": ratelimit.SENSITIVE}

    @extend_schema(
        operation_id="webhooks_test",
        tags=TAGS,
        summary="Send a webhook.test event to the endpoint now",
        description="One signed attempt, made during the request (enabled or not, never "
        "retried), answered with its outcome; it is in the delivery log too. A failed "
        "attempt is `succeeded: false` with the status code or the error.",
        request=None,
        responses={200: serializers.WebhookTestResultSerializer},
    )
    def post(self, request: Request, webhook_id: Any) -> Response:
        outcome = services.webhook_test(endpoint=_endpoint(request, webhook_id))
        return Response(serializers.WebhookTestResultSerializer(outcome).data)


class WebhookDeliveriesView(LandedAPIView):
    @extend_schema(
        operation_id="webhooks_deliveries",
        tags=TAGS,
        summary="The endpoint's delivery attempts, newest first",
        parameters=[PageQuerySerializer, serializers.DeliveryListQuerySerializer],
        responses={200: ATTEMPT_PAGE},
    )
    def get(self, request: Request, webhook_id: Any) -> Response:
        endpoint = _endpoint(request, webhook_id)
        query = parse_query(serializers.DeliveryListQuerySerializer, request).validated_data
        succeeded = query.get("succeeded")
        attempts = selectors.webhook_attempt_list(
            endpoint=endpoint,
            event_id=query.get("event_id"),
            succeeded=None if succeeded is None else succeeded == "true",
        )
        return Response(paginate(request, attempts, serializers.DeliveryAttemptSerializer))


class WebhookSecretView(LandedAPIView):
    rate_limit_tiers = {"GET": ratelimit.SENSITIVE}

    @extend_schema(
        operation_id="webhooks_secret",
        tags=TAGS,
        summary="The endpoint's signing secret",
        description="Rate-limited as a sensitive operation.",
        responses={200: serializers.WebhookSecretSerializer},
    )
    def get(self, request: Request, webhook_id: Any) -> Response:
        secret = selectors.webhook_secret(endpoint=_endpoint(request, webhook_id))
        return Response(serializers.WebhookSecretSerializer(secret).data)
