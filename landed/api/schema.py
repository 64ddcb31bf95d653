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

    return visit(result)


def error_schema(description: str) -> dict[str, Any]:
    """A response with the error envelope, for a postprocessing hook to add to an operation."""
    return {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        "description": description,
    }
