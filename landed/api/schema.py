"""OpenAPI helpers: the error responses every operation documents."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse

from landed.api.serializers import ErrorSerializer, ValidationErrorSerializer

_DESCRIPTIONS = {
    400: "Bad request: malformed JSON or an invalid parameter.",
    401: "Not authenticated: missing or invalid credentials.",
    402: "Payment required: quota exceeded.",
    403: "Forbidden.",
    404: "Resource not found (or not yours).",
    409: "Conflict: already exists.",
    413: "Request body too large.",
    415: "Unsupported media type: send application/json.",
    422: "Validation error.",
    429: "Rate limit exceeded; see the Retry-After header.",
    500: "Internal server error; quote the X-Request-ID.",
    502: "Upstream provider unavailable.",
    503: "Service unavailable.",
}


def error_responses(*status_codes: int) -> dict[int, OpenApiResponse]:
    """Documented error responses; 429 and 500 are added to all: every endpoint is limited,
    and any can fail."""
    responses: dict[int, OpenApiResponse] = {}
    for code in sorted({*status_codes, 429, 500}):
        serializer: Any = ValidationErrorSerializer if code == 422 else ErrorSerializer
        responses[code] = OpenApiResponse(serializer, description=_DESCRIPTIONS[code])
    return responses
