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


def document_billing_rules(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    """Every write that the subscription rule guards (billing/permissions.py) can answer 403
    "Subscription inactive", and creating a connector 402 at the plan's limit: said on each
    operation, from the views' own permission classes, so that it cannot drift from them."""
    from billing.permissions import ActiveSubscriptionForWrites

    guarded = {
        (path, method.lower())
        for path, _regex, method, view in getattr(generator, "endpoints", None) or []
        if ActiveSubscriptionForWrites in getattr(view.cls, "permission_classes", [])
        and method.upper() not in ("GET", "HEAD", "OPTIONS")
    }
    inactive = "Forbidden: the subscription is inactive (writes are refused until it is fixed)."
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if (path, method) not in guarded or not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            if "403" in responses:
                responses["403"]["description"] += " Or: " + inactive[len("Forbidden: ") :]
            else:
                responses["403"] = _error_schema(inactive)
            if operation.get("operationId") == "connectors_create" and "402" not in responses:
                responses["402"] = _error_schema(
                    "Payment required: the account has as many connectors as its plan allows. "
                    "Only where billing is configured (STRIPE_SECRET_KEY): a server without it "
                    "has no quota. `detail` names the way to raise the limit that the server "
                    "offers: a checkout, the billing portal for a subscriber, or its operator."
                )
    return result


def _error_schema(description: str) -> dict[str, Any]:
    return {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        "description": description,
    }
