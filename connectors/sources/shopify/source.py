"""The `shopify` source: a shop's orders, customers and products through the REST Admin API, as
a declarative http_api definition (the manifest below) read by the `http_api` engine.

It reads with the shop's OAuth grant (GET /connectors/oauth/shopify/authorize): the platform
binds the connector's `credential_id` (`spec.credentials`) and hands the source a
TokenProvider and the shop's Admin API URL, pinned to SHOPIFY_API_VERSION (`api_url`). The
token goes in Shopify's own header, `X-Shopify-Access-Token`. Shopify's offline tokens do not
expire; a token the shop's owner revoked (the app uninstalled) is answered 401, after which
the connector needs authorizing again (`reauthorize_required`).

Streams (docs/shopify.md): orders (of any status), customers and products, each incremental
by `updated_at`, asked with `updated_at_min` (inclusive: "updated at or after"), 250 a page
(Shopify's largest), paged by the `Link` header's `page_info` (a next page's URL carries its
own parameters; Shopify refuses any other filter beside `page_info`). Over its rate limit
(a leaky bucket of 40 requests per app and shop), Shopify answers 429 with `Retry-After`.
Money amounts are kept as Shopify sends them, decimal text ("199.00"), not rounded to floats.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectors.framework.spec import ConfigIssue, ConnectorSpec, SpecField
from connectors.sources.http_api.declared import DeclaredApiSource, start_date_issues

CREDENTIALS = "oauth_shopify"
# The platform binds the shop's own Admin API URL (`api_url`); without one (the catalog's
# schema, read without a connector) no request is made, and this only has to be a URL.
DEFAULT_API_URL = "https://admin.shopify.com"
# Shopify's largest page.
PAGE_SIZE = 250

_TIME = "timestamptz"
_COLUMNS: dict[str, dict[str, str]] = {
    "orders": {
        "id": "bigint",
        "admin_graphql_api_id": "string",
        "name": "string",
        "order_number": "bigint",
        "email": "string",
        "phone": "string",
        "financial_status": "string",
        "fulfillment_status": "string",
        "currency": "string",
        "total_price": "string",
        "subtotal_price": "string",
        "total_tax": "string",
        "total_discounts": "string",
        "tags": "string",
        "note": "string",
        "test": "boolean",
        "confirmed": "boolean",
        "customer": "json",
        "line_items": "json",
        "shipping_lines": "json",
        "discount_codes": "json",
        "shipping_address": "json",
        "billing_address": "json",
        "created_at": _TIME,
        "updated_at": _TIME,
        "processed_at": _TIME,
        "closed_at": _TIME,
        "cancelled_at": _TIME,
        "cancel_reason": "string",
    },
    "customers": {
        "id": "bigint",
        "admin_graphql_api_id": "string",
        "email": "string",
        "first_name": "string",
        "last_name": "string",
        "phone": "string",
        "state": "string",
        "verified_email": "boolean",
        "tax_exempt": "boolean",
        "tags": "string",
        "note": "string",
        "currency": "string",
        "addresses": "json",
        "default_address": "json",
        "email_marketing_consent": "json",
        "created_at": _TIME,
        "updated_at": _TIME,
    },
    "products": {
        "id": "bigint",
        "admin_graphql_api_id": "string",
        "title": "string",
        "body_html": "string",
        "vendor": "string",
        "product_type": "string",
        "handle": "string",
        "status": "string",
        "tags": "string",
        "variants": "json",
        "options": "json",
        "images": "json",
        "created_at": _TIME,
        "updated_at": _TIME,
        "published_at": _TIME,
    },
}


def start_value(raw: Any) -> str | None:
    """`start_date` as Shopify's `updated_at_min` takes it (ISO 8601 with an offset)."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def manifest(config: dict[str, Any]) -> dict[str, Any]:
    """The http_api definition of the streams, for a connector's (bound) config."""
    start = start_value(config.get("start_date"))
    paged = {"type": "link_header", "size_param": "limit", "page_size": PAGE_SIZE}
    incremental = {
        "cursor_field": "updated_at",
        "request_param": "updated_at_min",
        **({"start_value": start} if start else {}),
    }
    streams: list[dict[str, Any]] = [
        {
            "name": "orders",
            "path": "orders.json",
            "params": {"status": "any"},
            "record_selector": "orders",
            "primary_key": "id",
            "paginator": paged,
            "incremental": incremental,
        },
        {
            "name": "customers",
            "path": "customers.json",
            "record_selector": "customers",
            "primary_key": "id",
            "paginator": paged,
            "incremental": incremental,
        },
        {
            "name": "products",
            "path": "products.json",
            "record_selector": "products",
            "primary_key": "id",
            "paginator": paged,
            "incremental": incremental,
        },
    ]
    for stream in streams:
        stream["columns"] = _COLUMNS[str(stream["name"])]
    return {
        "base_url": str(config.get("api_url") or DEFAULT_API_URL),
        "auth_type": "provided_token",
        "token_header": "X-Shopify-Access-Token",
        "token_prefix": "",
        "page_size": PAGE_SIZE,
        "rate_limit": {"statuses": [429], "max_wait_seconds": 120},
        "streams": streams,
    }


class ShopifySource(DeclaredApiSource):
    build_manifest = staticmethod(manifest)
    spec = ConnectorSpec(
        type="shopify",
        display_name="Shopify",
        description="A shop's orders, customers and products (REST Admin API). Authorize the "
        "shop first: GET /connectors/oauth/shopify/authorize?shop=<name>.myshopify.com, then "
        "GET /connectors/oauth/result gives the credential_id.",
        category="api",
        auth_method="oauth2",
        supports_incremental=True,
        static_schema=True,
        credentials=CREDENTIALS,
        fields=(
            SpecField(
                "credential_id",
                "string",
                "The shop's authorization (GET /connectors/oauth/result's credential_id).",
                required=True,
            ),
            SpecField(
                "start_date",
                "string",
                "Read records updated since (ISO 8601, e.g. 2024-01-01); empty: all of them.",
            ),
        ),
    )

    @classmethod
    def config_issues(cls, config: dict[str, Any]) -> list[ConfigIssue]:
        return start_date_issues(config, start_value)
