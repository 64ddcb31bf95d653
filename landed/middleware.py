"""Middleware shared by every response: request ids, security headers, JSON errors."""

import re
import uuid
from collections.abc import Callable
from http import HTTPStatus

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from landed.api.errors import error_response
from landed.logging import current_request_id

REQUEST_ID_HEADER = "X-Request-ID"
# A client-supplied id is echoed only if it is a plain token: no spaces, no control characters.
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")

Handler = Callable[[HttpRequest], HttpResponse]


def request_id_for(supplied: str) -> str:
    """The id of a request: the client's X-Request-ID if it is a plain token, else a new UUID."""
    return supplied if _CLIENT_REQUEST_ID.fullmatch(supplied) else str(uuid.uuid4())


class RequestIdMiddleware:
    """Echo the client's X-Request-ID (or mint a UUID) and expose it to logging."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER, ""))
        request.request_id = request_id
        token = current_request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class PermissionsPolicyMiddleware:
    """Django sets nosniff, Referrer-Policy and X-Frame-Options; this adds Permissions-Policy."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response


class JsonErrorFallbackMiddleware:
    """Turn any error page that is not JSON into the API's error envelope.

    The API's own views and handlers already answer in JSON; this catches what Django and
    third-party views render themselves (DEBUG pages, the docs views' 405s). The operators'
    admin keeps its HTML pages.
    """

    HTML_AREA = "/admin/"

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or request.path.startswith(self.HTML_AREA):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        replacement = error_response(
            response.status_code, _generic_message(response.status_code), None
        )
        # Keep what inner middleware set (security headers, Allow, Retry-After, cookies).
        for header, value in response.items():
            if header.lower() not in ("content-type", "content-length"):
                replacement[header] = value
        replacement.cookies = response.cookies
        return replacement


def _generic_message(status: int) -> str:
    try:
        # "Not Found" -> "Not found", as the API's own messages are written.
        return HTTPStatus(status).phrase.capitalize()
    except ValueError:
        return "Error"
