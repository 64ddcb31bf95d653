"""The one error envelope: `{"error": "...", "detail": ...}`.

Services raise `ApplicationError` subclasses; the DRF exception handler and Django's error
handlers render them (and every other failure) with `error_response`.
"""

from typing import Any

from django.http import JsonResponse


def error_payload(message: str, detail: Any = None) -> dict[str, Any]:
    return {"error": message, "detail": detail}


def error_response(status: int, message: str, detail: Any = None) -> JsonResponse:
    return JsonResponse(error_payload(message, detail), status=status)


class ApplicationError(Exception):
    """A failure the client can act on. Subclasses fix the status code."""

    status_code = 400
    default_message = "Bad request"

    def __init__(
        self,
        message: str | None = None,
        detail: Any = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.detail = detail
        self.headers = headers or {}
        super().__init__(self.message)


class BadRequestError(ApplicationError):
    status_code = 400
    default_message = "Bad request"


class NotAuthenticatedError(ApplicationError):
    status_code = 401
    default_message = "Not authenticated"

    def __init__(self, message: str | None = None, detail: Any = None) -> None:
        # A 401 names the scheme to authenticate with (RFC 9110).
        super().__init__(message, detail, headers={"WWW-Authenticate": 'Bearer realm="api"'})


class PaymentRequiredError(ApplicationError):
    status_code = 402
    default_message = "Payment required"


class ForbiddenError(ApplicationError):
    status_code = 403
    default_message = "Forbidden"


class NotFoundError(ApplicationError):
    status_code = 404
    default_message = "Not found"


class ConflictError(ApplicationError):
    status_code = 409
    default_message = "Conflict"


class RateLimitedError(ApplicationError):
    status_code = 429
    default_message = "Rate limit exceeded"

    def __init__(self, retry_after: int, detail: Any = None, message: str | None = None) -> None:
        retry_after = max(int(retry_after), 1)
        super().__init__(
            message,
            detail=detail or f"Too many requests; retry after {retry_after} seconds.",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


class UpstreamError(ApplicationError):
    status_code = 502
    default_message = "Upstream provider unavailable"


class NotConfiguredError(ApplicationError):
    status_code = 503
    default_message = "Feature not configured"


class RequestValidationError(ApplicationError):
    """422: the request does not fit the schema. `detail` is a list of `{loc, msg, type}`."""

    status_code = 422
    default_message = "Validation error"

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(detail=errors)
