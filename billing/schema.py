"""The billing rules in the OpenAPI document: a drf-spectacular postprocessing hook
(SPECTACULAR_SETTINGS), here with the rules it documents rather than in the API plumbing."""

from typing import Any

from billing.permissions import ActiveSubscriptionForWrites
from landed.api.schema import error_schema


def document_billing_rules(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    """Every write that the subscription rule guards (billing/permissions.py) can answer 403
    "Subscription inactive", and creating a connector 402 at the plan's limit: said on each
    operation, from the views' own permission classes, so that it cannot drift from them."""
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
                responses["403"] = error_schema(inactive)
            if operation.get("operationId") == "connectors_create" and "402" not in responses:
                responses["402"] = error_schema(
                    "Payment required: the account has as many connectors as its plan allows. "
                    "Only where billing is configured (STRIPE_SECRET_KEY): a server without it "
                    "has no quota. `detail` names the way to raise the limit that the server "
                    "offers: a checkout, the billing portal for a subscriber, or its operator."
                )
    return result
