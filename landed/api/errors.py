"""The one error envelope: `{"error": "...", "detail": ...}`, and the one list of the errors.

Services raise `ApplicationError` subclasses; the DRF exception handler and Django's error
handlers render them (and every other failure) with `error_response`. Each class fixes its
status code, its message and how the OpenAPI description explains it (`description`): the
responses documented on each operation are made from these classes (landed/api/schema.py), so
that a status and its documentation cannot drift apart.
"""

from typing import Any, ClassVar

from django.http import JsonResponse


def error_payload(message: str, detail: Any = None) -> dict[str, Any]:
    return {"error": message, "detail": detail}


def error_response(status: int, message: str, detail: Any = None) -> JsonResponse:
    return JsonResponse(error_payload(message, detail), status=status)


class ApplicationError(Exception):
    """A failure the client can act on. Subclasses fix the status code."""

    status_code = 400
    default_message = "Bad request"
    description: ClassVar[str] = "Bad request: an invalid parameter or value."

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
    description = "Not authenticated: missing or invalid credentials."

    def __init__(self, message: str | None = None, detail: Any = None) -> None:
        # A 401 names the scheme to authenticate with (RFC 9110).
        super().__init__(message, detail, headers={"WWW-Authenticate": 'Bearer realm="api"'})


class PaymentRequiredError(ApplicationError):
    status_code = 402
    default_message = "Payment required"
    description = "Payment required: quota exceeded."


class ForbiddenError(ApplicationError):
    status_code = 403
    default_message = "Forbidden"
    description = "Forbidden."


class NotFoundError(ApplicationError):
    status_code = 404
    default_message = "Not found"
    description = "Resource not found (or not yours)."


class ConflictError(ApplicationError):
    status_code = 409
    default_message = "Conflict"
    description = "Conflict: already exists."


class RateLimitedError(ApplicationError):
    status_code = 429
    default_message = "Rate limit exceeded"
    description = "Rate limit exceeded; see the Retry-After header."

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
    description = "Upstream provider unavailable."


class NotConfiguredError(ApplicationError):
    status_code = 503
    default_message = "Feature not configured"
    description = "Service unavailable: the feature is not configured."


class RequestValidationError(ApplicationError):
    """422: the request does not fit the schema. `detail` is a list of `{loc, msg, type}`."""

    status_code = 422
    default_message = "Validation error"
    description = "Validation error: `detail` lists each problem as `{loc, msg, type}`."

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(detail=errors)


# Failures the HTTP and DRF layers detect before or around a view (the exception handler, the
# chunked-body refusal and Django's 500 handler answer with these messages).
class MalformedBodyError(BadRequestError):
    default_message = "Malformed JSON"
    description = "Bad request: the body is not well-formed JSON."


class CsrfFailedError(ForbiddenError):
    description = (
        "Forbidden: a write authenticated by the session cookie without its CSRF token "
        "(the csrftoken cookie echoed in an X-CSRFToken header)."
    )


class LengthRequiredError(ApplicationError):
    status_code = 411
    default_message = "Length required"
    description = (
        "Length required: a chunked body the server cannot read to its end; send the body "
        "with a Content-Length header."
    )


class PayloadTooLargeError(ApplicationError):
    status_code = 413
    default_message = "Request body too large"
    description = "Request body too large (DATA_UPLOAD_MAX_MEMORY_SIZE)."


class UnsupportedMediaTypeError(ApplicationError):
    status_code = 415
    default_message = "Unsupported media type"
    description = "Unsupported media type: send application/json."


class InternalServerError(ApplicationError):
    status_code = 500
    default_message = "Internal server error"
    description = "Internal server error; quote the X-Request-ID."
