"""The answers the server gives itself, before Django or instead of it: the API's error
envelope, with the headers every answer of the API carries."""

import json
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from django.conf import settings

from landed.api.errors import error_payload
from landed.server.types import Send

Headers = list[tuple[bytes, bytes]]


def security_headers() -> Headers:
    """The headers Django's security middleware and ours add to every answer (settings.py)."""
    headers: Headers = []
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append((b"x-content-type-options", b"nosniff"))
    if settings.X_FRAME_OPTIONS:
        headers.append((b"x-frame-options", str(settings.X_FRAME_OPTIONS).encode()))
    policy = settings.SECURE_REFERRER_POLICY
    if policy:
        value = policy if isinstance(policy, str) else ",".join(policy)
        headers.append((b"referrer-policy", value.encode()))
    if settings.PERMISSIONS_POLICY:
        headers.append((b"permissions-policy", str(settings.PERMISSIONS_POLICY).encode()))
    return headers


def error_answer(
    message: str, detail: Any, request_id: str, extra: Iterable[tuple[bytes, bytes]] = ()
) -> tuple[Headers, bytes]:
    """Headers and body of an error answer after which the connection is closed."""
    body = json.dumps(error_payload(message, detail)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        (b"x-request-id", request_id.encode()),
        *security_headers(),
        *extra,
    ]
    return headers, body


def raw_error_response(
    status: int,
    message: str,
    detail: Any,
    request_id: str,
    extra: Iterable[tuple[bytes, bytes]] = (),
) -> bytes:
    """The bytes of an error answer, for a connection that has no request to answer through
    the application (its headers never arrived, or were refused)."""
    headers, body = error_answer(message, detail, request_id, extra)
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def send_error(send: Send, status: int, message: str, detail: Any, request_id: str) -> None:
    """Answer through ASGI with an error, and close the connection after it."""
    headers, body = error_answer(message, detail, request_id)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
