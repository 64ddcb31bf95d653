"""Django's own error handlers (URLs no view matched, crashes), in the API's JSON envelope."""

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, JsonResponse

from landed.api.errors import InternalServerError, error_response


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(404, "Not found", f"No endpoint at {request.path}")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    # Django's messages here name settings (ALLOWED_HOSTS ...): not for clients.
    detail = "Invalid Host header." if isinstance(exception, DisallowedHost) else None
    return error_response(400, "Bad request", detail)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(403, "Forbidden", str(exception) if exception else None)


def server_error(request: HttpRequest) -> JsonResponse:
    # The traceback is already logged by django.request; never leak it to the client.
    return error_response(
        InternalServerError.status_code,
        InternalServerError.default_message,
        f"Quote request id {getattr(request, 'request_id', '-')} when reporting this.",
    )
