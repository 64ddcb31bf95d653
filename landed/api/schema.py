"""The OpenAPI description's error responses, derived in one place from what each view does.

Every operation documents the errors its view can produce, each with the error envelope and
the description its error class gives (landed/api/errors.py):

- what every view of its kind can answer, read from the view itself: 500 always; 429 where a
  rate-limit tier applies; 401 where it authenticates; 403 for a cookie-authenticated write
  without its CSRF token; 404 where the path names a resource; 400, 413, 415 and 422 where it
  parses a JSON body; 422 where it validates query parameters; 411 and 413 for a chunked body
  (landed/chunked.py) on any write;
- and the application errors its services raise, declared on the view method with `@raises`,
  so that a view that starts raising a new error documents it where it says so.
"""

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import is_serializer
from drf_spectacular.utils import OpenApiResponse
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import JSONParser

from landed.api.errors import (
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
from landed.api.serializers import ErrorSerializer, ValidationErrorSerializer

# An error class, or one with the description of why this operation raises it.
Raised = type[ApplicationError] | tuple[type[ApplicationError], str]
F = TypeVar("F", bound=Callable[..., Any])

_RAISES_ATTRIBUTE = "documented_errors"
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def raises(*errors: Raised) -> Callable[[F], F]:
    """Declare the application errors a view method raises beyond those its kind of view can
    (see the module's docstring): `@raises(ConflictError, (UpstreamError, "Why, here."))`."""

    def declare(method: F) -> F:
        declared = [e if isinstance(e, tuple) else (e, e.description) for e in errors]
        setattr(method, _RAISES_ATTRIBUTE, [*getattr(method, _RAISES_ATTRIBUTE, []), *declared])
        return method

    return declare


def declared_errors(view: Any, method: str) -> list[tuple[type[ApplicationError], str]]:
    """The errors declared with `@raises` on `view`'s handler of `method`."""
    handler = getattr(view, method.lower(), None)
    return list(getattr(handler, _RAISES_ATTRIBUTE, []))


def derived_errors(
    view: Any,
    method: str,
    *,
    names_a_resource: bool,
    validates_query: bool,
    takes_body: bool,
    validates_body: bool,
) -> list[tuple[type[ApplicationError], str]]:
    """The errors that `view` can answer to `method` for what it is, whatever its service does:
    whether its path names a resource, it validates query parameters or a body with a
    serializer (`parse_query`, `parse_body`), or takes a body at all."""
    method = method.upper()
    errors: list[type[ApplicationError]] = [InternalServerError]
    tier = getattr(view, "rate_limit_tier", None)
    if tier is not None and tier(method) is not None:
        errors.append(RateLimitedError)
    authenticators = list(getattr(view, "authentication_classes", []))
    if authenticators:
        # An invalid credential is refused even where none is required (AllowAny).
        errors.append(NotAuthenticatedError)
    if method in _WRITES and any(issubclass(a, SessionAuthentication) for a in authenticators):
        errors.append(CsrfFailedError)
    if names_a_resource:
        errors.append(NotFoundError)
    if validates_query:
        errors.append(RequestValidationError)
    if validates_body:
        parsers = list(getattr(view, "parser_classes", []))
        if any(issubclass(p, JSONParser) for p in parsers):
            errors += [MalformedBodyError, UnsupportedMediaTypeError]
        errors.append(RequestValidationError)
    if takes_body:
        errors.append(PayloadTooLargeError)
    if method in _WRITES:
        # landed/chunked.py: a chunked body the server cannot end, or past the body limit.
        errors += [LengthRequiredError, PayloadTooLargeError]
    return [(error, error.description) for error in errors]


def merge_descriptions(descriptions: Iterable[str]) -> str:
    """One status's reasons as one description: "Conflict: x. Or: y." (each once)."""
    unique = list(dict.fromkeys(descriptions))
    rest = [d.split(": ", 1)[1] if ": " in d else d for d in unique[1:]]
    return " Or: ".join([unique[0], *rest])


class LandedAutoSchema(AutoSchema):
    """drf-spectacular's schema of an operation, plus the error responses of its view."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        parameters = operation.get("parameters", [])
        errors = derived_errors(
            self.view,
            self.method,
            names_a_resource=any(p.get("in") == "path" for p in parameters),
            validates_query=any(is_serializer(p) for p in self.get_override_parameters()),
            takes_body="requestBody" in operation,
            validates_body="requestBody" in operation
            and is_serializer(self.get_request_serializer()),
        )
        reasons: dict[int, list[str]] = {}
        for error, description in [*errors, *declared_errors(self.view, self.method)]:
            reasons.setdefault(error.status_code, []).append(description)
        responses = operation["responses"]
        for status, descriptions in sorted(reasons.items()):
            if str(status) in responses:
                # Said explicitly in @extend_schema: that description stands.
                continue
            responses[str(status)] = self._error_response(status, merge_descriptions(descriptions))
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _error_response(self, status: int, description: str) -> dict[str, Any]:
        serializer: Any = ValidationErrorSerializer if status == 422 else ErrorSerializer
        # drf-spectacular's own builder, so that the envelope's component is registered.
        response: dict[str, Any] = self._get_response_for_code(  # type: ignore[no-untyped-call]
            OpenApiResponse(serializer, description=description), str(status)
        )
        if status == RateLimitedError.status_code:
            response["headers"] = {
                "Retry-After": {
                    "schema": {"type": "integer", "minimum": 1},
                    "description": "Seconds until the limit lets a request through.",
                    "required": True,
                }
            }
        return response


def collapse_redundant_blank_choices(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular writes a blank-allowed string with a pattern as `oneOf: [<pattern>,
    <empty string>]`. When the first branch admits "" too (no minLength, no format; our only
    pattern, "no NUL", matches ""), "" would match both branches and be invalid under `oneOf`.
    Keep the single, truthful branch."""

    def visit(node: Any) -> Any:
        if isinstance(node, dict):
            choices = node.get("oneOf")
            if (
                isinstance(choices, list)
                and len(choices) == 2
                and choices[1] == {"type": "string", "maxLength": 0}
                and not {"minLength", "format"} & set(choices[0])
            ):
                merged = {k: v for k, v in node.items() if k != "oneOf"}
                node = {**choices[0], **merged}
            return {key: visit(value) for key, value in node.items()}
        if isinstance(node, list):
            return [visit(item) for item in node]
        return node

    collapsed: dict[str, Any] = visit(result)
    return collapsed


def error_schema(description: str) -> dict[str, Any]:
    """A response with the error envelope, for a postprocessing hook to add to an operation."""
    return {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        "description": description,
    }
