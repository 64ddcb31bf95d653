"""Request bodies sent with `Transfer-Encoding: chunked` and no Content-Length.

Django reads a request body by CONTENT_LENGTH; without one it reads nothing, so a chunked PATCH
used to answer 200 having changed nothing and a chunked POST a misleading 422. The WSGI layer
below reads such a body whole (up to DATA_UPLOAD_MAX_MEMORY_SIZE) and hands Django a
Content-Length; what it cannot read it leaves to `ChunkedBodyRefusalMiddleware`, which answers
in the API's JSON error envelope (with the request id and security headers every answer has).
"""

import io
from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from landed.api.errors import LengthRequiredError, PayloadTooLargeError, error_response
from landed.middleware import Handler

# The environ key through which the WSGI layer tells the Django middleware to refuse a body.
REFUSAL_KEY = "landed.chunked_body_refusal"
LENGTH_REQUIRED = LengthRequiredError.status_code
TOO_LARGE = PayloadTooLargeError.status_code
_READ_SIZE = 64 * 1024


def is_chunked_without_length(environ: WSGIEnvironment) -> bool:
    encodings = environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    return "chunked" in encodings and not environ.get("CONTENT_LENGTH")


class ChunkedBodyMiddleware:
    """WSGI middleware: buffer a chunked body so that Django sees it with its length."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if is_chunked_without_length(environ):
            self._buffer(environ)
        return self.app(environ, start_response)

    def _buffer(self, environ: WSGIEnvironment) -> None:
        refusal: int | None = None
        body = b""
        if not environ.get("wsgi.input_terminated"):
            # The server gives no end-of-input for this body: reading it could block forever.
            refusal = LENGTH_REQUIRED
        else:
            limit: int | None = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            stream = environ["wsgi.input"]
            parts: list[bytes] = []
            size = 0
            while part := stream.read(_READ_SIZE):
                parts.append(part)
                size += len(part)
                if limit is not None and size > limit:
                    # Stop reading here; the server discards the rest of the body.
                    refusal = TOO_LARGE
                    break
            if refusal is None:
                body = b"".join(parts)
        if refusal is not None:
            environ[REFUSAL_KEY] = refusal
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))


class ChunkedBodyRefusalMiddleware:
    """Answer the chunked bodies the WSGI layer could not read, before any view runs."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = request.META.get(REFUSAL_KEY)
        if refusal == LENGTH_REQUIRED:
            return error_response(
                LENGTH_REQUIRED,
                LengthRequiredError.default_message,
                "Send the body with a Content-Length header.",
            )
        if refusal == TOO_LARGE:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return error_response(
                TOO_LARGE, PayloadTooLargeError.default_message, f"The limit is {limit} bytes."
            )
        return self.get_response(request)
