"""The Stripe client, and Stripe's failures as our error envelope.

One `stripe.StripeClient` per use, built from settings: the API base (the tests point it at a
local server), a short timeout (a customer is waiting) and bounded network retries.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import stripe
from django.conf import settings

from landed.api.errors import NotConfiguredError, UpstreamError

logger = logging.getLogger("billing")


def stripe_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def stripe_client() -> stripe.StripeClient:
    """A client for the configured account; 503 when STRIPE_SECRET_KEY is not set."""
    if not stripe_configured():
        raise NotConfiguredError(
            "Billing is not configured",
            "This server has no Stripe secret key (STRIPE_SECRET_KEY); ask its operator.",
        )
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS),
    )


@contextmanager
def stripe_errors(action: str) -> Iterator[None]:
    """Stripe's failures as 502s. Unreachable or a 5xx: Stripe is unavailable. A 4xx too: our
    request was built from the server's configuration (a price id, the key), which is wrong;
    the client's request was fine, so it is not a 4xx of ours. Stripe's message is kept."""
    try:
        yield
    except stripe.APIConnectionError as exc:
        logger.warning("billing.stripe_unreachable action=%s error=%s", action, exc.user_message)
        raise UpstreamError(
            "Stripe is unreachable", f"Could not {action}: no answer from Stripe; try again."
        ) from exc
    except stripe.StripeError as exc:
        status = exc.http_status or 0
        message = exc.user_message or type(exc).__name__
        logger.warning(
            "billing.stripe_error action=%s status=%s request_id=%s message=%s",
            action,
            status,
            exc.request_id,
            message,
        )
        if status >= 500 or status == 0:
            raise UpstreamError(
                "Stripe is unavailable", f"Could not {action}: Stripe answered {status}: {message}"
            ) from exc
        if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
            # Stripe's message quotes the key (masked, but with its mode and last characters):
            # the log keeps it for the operator, the client is not told.
            raise UpstreamError(
                "Stripe rejected the request",
                f"Could not {action}: Stripe refused the server's API key ({status}); the "
                "server's billing configuration needs fixing (see its logs, billing.stripe_error).",
            ) from exc
        raise UpstreamError(
            "Stripe rejected the request",
            f"Could not {action}: Stripe answered {status}: {message} (the server's billing "
            "configuration needs fixing; see docs/billing.md).",
        ) from exc
