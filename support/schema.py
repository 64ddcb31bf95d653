"""POST /support/chat in the OpenAPI description: a drf-spectacular postprocessing hook
(SPECTACULAR_SETTINGS), since the view is an async Django view that drf-spectacular, which
reads DRF views, does not see. Its errors are the ones the view's checks answer before the
stream (support/views.py), described by the same error classes as every other operation."""

from typing import Any

from landed.api.errors import (
    SERVER_ERRORS,
    ApplicationError,
    CsrfFailedError,
    InternalServerError,
    LengthRequiredError,
    MalformedBodyError,
    NotAuthenticatedError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    RequestValidationError,
    UnsupportedMediaTypeError,
)
from landed.api.schema import merge_descriptions
from support.serializers import MAX_MESSAGE_CHARS

PATH = "/support/chat"
INPUT_COMPONENT = "SupportChatInputRequest"

_ERRORS: list[tuple[type[ApplicationError], str]] = [
    (error, error.description)
    for error in [
        InternalServerError,
        *SERVER_ERRORS,
        RateLimitedError,
        NotAuthenticatedError,
        CsrfFailedError,
        MalformedBodyError,
        UnsupportedMediaTypeError,
        RequestValidationError,
        PayloadTooLargeError,
        LengthRequiredError,
    ]
] + [(NotFoundError, "Not found: `conversation_id` is not a conversation you may continue.")]

_DESCRIPTION = (
    "Asks Landed's support a question; the answer comes from Landed's documentation and API "
    "reference (written by the LLM provider with citations when one is configured, the "
    "retrieved passages with their links when not), and, signed in, from the account's "
    "recent failed jobs when the question is about a failure. Authentication is optional.\n\n"
    "The request is checked before the answer starts (the errors below, in the error "
    'envelope). The answer is a stream of Server-Sent Events: `data: {"text"}` pieces, '
    'then `event: done` with `data: {"conversation_id", "message_id", "sources": '
    '[{"title", "url", "source"}]}`; or `event: error` with `data: {"code", "message"}` '
    "(code `timeout`, `llm_error` or `internal`). See docs/support.md."
)


_EVENT_SCHEMA = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["message", "done", "error"]},
        "data": {
            "type": "string",
            "description": (
                'JSON: {"text"} for "message"; {"conversation_id", "message_id", "sources"} '
                'for "done"; {"code", "message"} for "error".'
            ),
        },
    },
    "required": ["data"],
}


def _ref(component: str) -> str:
    return f"#/components/schemas/{component}"


def document_support_chat(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas[INPUT_COMPONENT] = {
        "type": "object",
        "properties": {
            "message": {"type": "string", "minLength": 1, "maxLength": MAX_MESSAGE_CHARS},
            "conversation_id": {
                "type": "string",
                "format": "uuid",
                "nullable": True,
                "description": "Continue a conversation: the `conversation_id` of an answer.",
            },
        },
        "required": ["message"],
    }
    reasons: dict[int, list[str]] = {}
    for error, description in _ERRORS:
        reasons.setdefault(error.status_code, []).append(description)
    responses: dict[str, Any] = {
        "200": {
            "description": "The answer, as Server-Sent Events.",
            # One event: its name ("message" when the stream names none) and its data, a
            # line of JSON.
            "content": {"text/event-stream": {"schema": _EVENT_SCHEMA}},
        }
    }
    for status, descriptions in sorted(reasons.items()):
        component = "ValidationError" if status == 422 else "Error"
        response: dict[str, Any] = {
            "content": {"application/json": {"schema": {"$ref": _ref(component)}}},
            "description": merge_descriptions(descriptions),
        }
        if status == RateLimitedError.status_code:
            response["headers"] = {
                "Retry-After": {
                    "schema": {"type": "integer", "minimum": 1},
                    "description": "Seconds until the limit lets a request through.",
                    "required": True,
                }
            }
        responses[str(status)] = response
    result.setdefault("paths", {})[PATH] = {
        "post": {
            "operationId": "support_chat",
            "summary": "Ask support; the answer streams back as Server-Sent Events",
            "description": _DESCRIPTION,
            "tags": ["support"],
            "requestBody": {
                "content": {"application/json": {"schema": {"$ref": _ref(INPUT_COMPONENT)}}},
                "required": True,
            },
            "responses": responses,
        }
    }
    return result
