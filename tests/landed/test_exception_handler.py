"""Each application error renders with its status code from the reference's table."""

import pytest
from rest_framework.response import Response

from landed.api import errors
from landed.api.exception_handler import api_exception_handler


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.BadRequestError("Unsupported type", "type 'x' is not supported"), 400),
        (errors.NotAuthenticatedError(), 401),
        (errors.PaymentRequiredError("Connector quota exceeded", "limit 5"), 402),
        (errors.ForbiddenError("Subscription inactive"), 403),
        (errors.NotFoundError(), 404),
        (errors.ConflictError("Name already exists"), 409),
        (errors.RateLimitedError(7), 429),
        (errors.UpstreamError("Stripe unavailable"), 502),
        (errors.NotConfiguredError("Billing is not configured"), 503),
        (errors.RequestValidationError([{"loc": ["body"], "msg": "m", "type": "t"}]), 422),
    ],
)
def test_application_errors_render_as_the_envelope(error, status):
    response = api_exception_handler(error, {})

    assert isinstance(response, Response)
    assert response.status_code == status
    assert response.data == {"error": error.message, "detail": error.detail}


def test_retry_after_and_challenge_headers():
    assert api_exception_handler(errors.RateLimitedError(7), {})["Retry-After"] == "7"
    assert api_exception_handler(errors.RateLimitedError(0), {})["Retry-After"] == "1"
    challenge = api_exception_handler(errors.NotAuthenticatedError(), {})["WWW-Authenticate"]
    assert challenge == 'Bearer realm="api"'


def test_unknown_exceptions_are_left_to_the_500_handler():
    assert api_exception_handler(RuntimeError("boom"), {}) is None
