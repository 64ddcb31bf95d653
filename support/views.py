"""`POST /support/chat`: a question in, the answer out as Server-Sent Events.

An async view, so that the answer's stream is read by the ASGI handler in the event loop and
holds no thread. What must be known before the stream starts (the caller, the rate limit, a
valid body, a conversation the caller may continue) is checked first, with the API's own DRF
pieces, and refused in the error envelope; once the stream has started (200), a failure can
only be an `event: error`.

The project's middleware is all synchronous, so Django runs the chain, and this view's
preamble inside it, in the request's thread; the view returns as soon as the question is
stored, and the stream is sent after the middleware has returned, with no thread.
"""

import time
import uuid
from typing import cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework.settings import api_settings

from landed.accounts.authentication import BEARER_CHALLENGE
from landed.api import ratelimit
from landed.api.exception_handler import api_exception_handler
from landed.api.parsers import JSONParser
from landed.api.validation import parse_body
from support.answer import answer_events
from support.db import visit
from support.serializers import SupportChatInputSerializer
from support.services import ChatTurn, support_question_add

RATE_LIMIT_GROUP = "support.views.support_chat"


def _authentication_classes() -> list[type[BaseAuthentication]]:
    # The API's, in the reference's order (session cookie, API key, JWT).
    return cast(list[type[BaseAuthentication]], api_settings.DEFAULT_AUTHENTICATION_CLASSES)


def _turn_start(request: HttpRequest) -> ChatTurn | HttpResponse:
    drf_request = Request(
        request,
        parsers=[JSONParser()],
        authenticators=[auth() for auth in _authentication_classes()],
    )
    try:
        # As every API view: the rate limit before authentication (landed/api/views.py).
        ratelimit.enforce_rate_limit(request, group=RATE_LIMIT_GROUP, tier=ratelimit.WRITE)
        user = drf_request.user  # credentials given and wrong: 401; a cookie without CSRF: 403
        body = parse_body(SupportChatInputSerializer, drf_request).validated_data
        account_id: uuid.UUID | None = user.account_id if user.is_authenticated else None
        return support_question_add(
            account_id=account_id,
            conversation_id=body["conversation_id"],
            message=body["message"],
            history_limit=settings.SUPPORT_CHAT_HISTORY_MESSAGES,
        )
    except Exception as exc:
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            # As DRF's views answer a 401: with the scheme to authenticate with (RFC 9110).
            setattr(exc, "auth_header", BEARER_CHALLENGE)  # noqa: B010
        failure = api_exception_handler(exc, {"request": drf_request})
        if failure is None:
            raise
        response = JsonResponse(failure.data, status=failure.status_code)
        for header, value in failure.items():  # Retry-After, WWW-Authenticate
            if header.lower() != "content-type":
                response[header] = value
        return response


@csrf_exempt  # CSRF is checked as DRF does: for a session cookie only (above)
@require_POST
async def support_chat(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    deadline = time.monotonic() + settings.SUPPORT_CHAT_TIMEOUT_SECONDS
    started = await visit(_turn_start)(request)
    if isinstance(started, HttpResponse):
        return started
    response = StreamingHttpResponse(
        answer_events(started, deadline=deadline, request_id=getattr(request, "request_id", "")),
        content_type="text/event-stream; charset=utf-8",
    )
    response["Cache-Control"] = "no-cache"
    # nginx and other proxies: send each event as it comes, do not buffer the answer.
    response["X-Accel-Buffering"] = "no"
    return response
