"""The Billing endpoints of the API reference."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from billing import selectors, serializers, services
from landed.api import ratelimit
from landed.api.errors import BadRequestError, ConflictError, NotConfiguredError, UpstreamError
from landed.api.schema import raises
from landed.api.validation import parse_body
from landed.api.views import LandedAPIView

TAGS = ["billing"]
_STRIPE_FAILURES = (
    "503 when the server has no Stripe key. 502 when Stripe cannot be reached or fails, and "
    "also when Stripe rejects the request (a wrong price id or key): the request was built "
    "from the server's billing configuration, so the fix is the operator's, not the client's."
)


class UsageView(LandedAPIView):
    @extend_schema(
        operation_id="billing_usage",
        tags=TAGS,
        summary="Connectors, rows synced this period, plan and the estimated bill",
        description="The period is the subscription's current one, or the calendar month in "
        "UTC without a subscription. The estimate is the plan's monthly price plus the rows "
        "beyond those included, priced per million and rounded up to the cent.",
        responses={200: serializers.UsageSerializer},
    )
    def get(self, request: Request) -> Response:
        usage = selectors.billing_usage(account=request.user.account)
        return Response(serializers.UsageSerializer(usage).data)


class CheckoutView(LandedAPIView):
    permission_classes = [IsAuthenticated]  # no billing check: see billing/permissions.py
    rate_limit_tiers = {"POST": ratelimit.SENSITIVE}

    @raises(
        (ConflictError, "Conflict: the account is already subscribed."),
        UpstreamError,
        NotConfiguredError,
    )
    @extend_schema(
        operation_id="billing_checkout",
        tags=TAGS,
        summary="Create a Stripe Checkout session URL for a plan",
        description="Send the browser to `url` to subscribe. 422 for an unknown plan or the "
        "free plan; 409 when the account already has a subscription (change it in the "
        f"portal: POST /billing/portal). {_STRIPE_FAILURES}",
        request=serializers.CheckoutInputSerializer,
        responses={
            200: serializers.CheckoutSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        data = parse_body(serializers.CheckoutInputSerializer, request).validated_data
        session = services.billing_checkout_create(
            account=request.user.account,
            plan_name=data["plan"],
            email=getattr(request.user, "email", None),
        )
        return Response(serializers.CheckoutSerializer(session).data)


class PortalView(LandedAPIView):
    permission_classes = [IsAuthenticated]  # no billing check: see billing/permissions.py
    rate_limit_tiers = {"POST": ratelimit.SENSITIVE}

    @raises(
        (
            ConflictError,
            "Conflict: the account has no billing account yet (no checkout was started).",
        ),
        UpstreamError,
        NotConfiguredError,
    )
    @extend_schema(
        operation_id="billing_portal",
        tags=TAGS,
        summary="Create a Stripe Customer Portal session URL",
        description="Send the browser to `url` to change plan or payment method, see invoices "
        f"or cancel. 409 before the account has started a checkout. {_STRIPE_FAILURES}",
        request=None,
        responses={
            200: serializers.PortalSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        session = services.billing_portal_create(account=request.user.account)
        return Response(serializers.PortalSerializer(session).data)


class StripeWebhookView(LandedAPIView):
    """Stripe's deliveries: authenticated by their signature, not by a user."""

    authentication_classes = []
    permission_classes = [AllowAny]
    # Stripe sends from many addresses, bursts included; a bad signature costs one HMAC.
    rate_limit_tiers = {"POST": None}

    @raises(
        (
            BadRequestError,
            "Bad request: a missing or bad Stripe-Signature, or a body that is not a Stripe event.",
        ),
        (
            NotConfiguredError,
            "Service unavailable: no webhook secret is configured (STRIPE_WEBHOOK_SECRET).",
        ),
    )
    @extend_schema(
        operation_id="billing_webhook",
        tags=TAGS,
        summary="Stripe webhook receiver (internal)",
        description="For Stripe only: the body is a Stripe event, verified with the "
        "Stripe-Signature header and STRIPE_WEBHOOK_SECRET. Each event is applied once; a "
        "redelivered one is answered 200 and changes nothing. 400 for a missing or bad "
        "signature or a body that is not an event; 503 when no webhook secret is configured.",
        request={"application/json": OpenApiTypes.OBJECT},
        responses={
            200: OpenApiResponse(serializers.WebhookReceivedSerializer),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        # The raw bytes: the signature is over the body exactly as sent.
        result = services.stripe_webhook_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature")
        )
        return Response(serializers.WebhookReceivedSerializer(result).data)
