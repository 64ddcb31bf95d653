"""The single DRF exception handler: every API failure leaves as the reference's envelope."""

from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework_simplejwt.exceptions import InvalidToken

from landed.api.errors import (
    ApplicationError,
    MalformedBodyError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    error_payload,
)
from landed.api.validation import error_detail_text, validation_errors


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render `exc` as `{"error", "detail"}`; None lets Django's JSON 500 handler take over."""
    if isinstance(exc, ApplicationError):
        return _response(exc.status_code, exc.message, exc.detail, exc.headers)

    if isinstance(exc, exceptions.ValidationError):
        errors = validation_errors(as_serializer_error(exc), "body")
        return _response(422, "Validation error", errors)

    if isinstance(exc, Http404):
        return _response(404, "Not found", None)

    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        detail = f"The limit is {limit} bytes."
        return _response(
            PayloadTooLargeError.status_code, PayloadTooLargeError.default_message, detail
        )

    if isinstance(exc, DjangoPermissionDenied):
        return _response(403, "Forbidden", str(exc) or None)

    if isinstance(exc, exceptions.APIException):
        return _render_drf_exception(exc)

    return None


def _render_drf_exception(exc: exceptions.APIException) -> Response:
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None) is not None:
        headers["Retry-After"] = str(int(exc.wait))

    # simplejwt's details are dicts ({"detail", "code", "messages"}); keep their sentence.
    detail = _simplejwt_reason(exc.detail) if isinstance(exc.detail, dict) else exc.detail
    detail = error_detail_text(detail)
    if isinstance(exc, InvalidToken):
        message = "Invalid or expired token"
    elif isinstance(exc, exceptions.ParseError):
        message = MalformedBodyError.default_message
        detail = str(detail).removeprefix("JSON parse error - ")
    elif isinstance(exc, exceptions.NotAuthenticated):
        message = "Not authenticated"
    elif isinstance(exc, exceptions.AuthenticationFailed):
        message = "Invalid credentials"
    elif isinstance(exc, exceptions.MethodNotAllowed):
        message = "Method not allowed"
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        message = UnsupportedMediaTypeError.default_message
        detail = f"{detail} Send JSON with 'Content-Type: application/json'."
    elif isinstance(exc, exceptions.PermissionDenied):
        message = "Forbidden"
    else:
        message = str(detail) if isinstance(detail, str) else exc.default_detail
    return _response(exc.status_code, str(message), detail, headers)


def _simplejwt_reason(detail: dict[str, Any]) -> str:
    for item in detail.get("messages") or []:
        if isinstance(item, dict) and item.get("message"):
            return str(item["message"])
    return str(detail.get("detail", "Invalid credentials"))


def _response(
    status: int, message: str, detail: Any, headers: dict[str, str] | None = None
) -> Response:
    return Response(error_payload(message, detail), status=status, headers=headers)
