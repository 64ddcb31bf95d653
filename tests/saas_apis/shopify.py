"""A local Shopify REST Admin API for one or more shops, plugged into tests/saas_oauth_server.py
(which issues the tokens it accepts):

  GET /shopify/<shop>/admin/api/<version>/{orders,customers,products}.json
      `X-Shopify-Access-Token` (401 `{"errors": "[API] Invalid API key or access token ..."}`
      when it is not a live token of the server); `limit` (at most 250, default 50),
      `updated_at_min` (inclusive), `status` for orders (`any`, else open ones only);
      cursor paging: a `Link: <...page_info=...>; rel="next"` header, and a request with
      `page_info` may carry no other parameter than `limit` (400 otherwise, as Shopify
      answers); records in id order. `X-Shopify-Shop-Api-Call-Limit` on every answer.

Controls: `add(stream, record)`, `touch(stream, id, when)`, `throttle(times)` (the next
requests answered 429 with `Retry-After`), `requests` (what was asked).
"""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from tests.saas_oauth_server import SaaSOAuth

STREAMS = ("orders", "customers", "products")
BASE = datetime(2026, 3, 1, tzinfo=UTC)


def at(minutes: int) -> str:
    """An instant as Shopify writes it: in the shop's time zone, with its offset."""
    shop_zone = timezone(timedelta(hours=-5))
    return (BASE + timedelta(minutes=minutes)).astimezone(shop_zone).isoformat(timespec="seconds")


class ShopifyApi:
    def __init__(self, oauth: SaaSOAuth, *, version: str = "2025-10") -> None:
        self.oauth = oauth
        self.version = version
        self.records: dict[str, dict[str, dict[int, dict[str, Any]]]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._throttle = 0
        self._lock = threading.Lock()
        oauth.apis.append(self)

    # --- Controls -----------------------------------------------------------------------------
    def add(self, shop: str, stream: str, record: dict[str, Any]) -> None:
        with self._lock:
            self.records.setdefault(shop, {s: {} for s in STREAMS})[stream][record["id"]] = record

    def touch(self, shop: str, stream: str, record_id: int, when: str, **changes: Any) -> None:
        with self._lock:
            self.records[shop][stream][record_id].update(updated_at=when, **changes)

    def throttle(self, times: int) -> None:
        with self._lock:
            self._throttle += times

    def fill(self, shop: str, *, orders: int, customers: int, products: int) -> None:
        for n in range(1, customers + 1):
            self.add(shop, "customers", customer(n))
        for n in range(1, products + 1):
            self.add(shop, "products", product(n))
        for n in range(1, orders + 1):
            self.add(shop, "orders", order(n, customer_id=1 + n % max(customers, 1)))

    # --- Serving ------------------------------------------------------------------------------
    def answer(
        self, method: str, path: str, query: dict[str, str], raw: str, headers: dict[str, str]
    ) -> tuple[int, Any, dict[str, str]] | None:
        parts = path.strip("/").split("/")
        # shopify / <shop> / admin / api / <version> / <stream>.json
        if len(parts) != 6 or parts[0] != "shopify" or parts[2:4] != ["admin", "api"]:
            return None
        shop, version, resource = parts[1], parts[4], parts[5]
        stream = resource.removesuffix(".json")
        if method != "GET" or stream not in STREAMS or version != self.version:
            return 404, {"errors": "Not Found"}, {}
        with self._lock:
            self.requests.append((stream, dict(query)))
            throttled = self._throttle > 0
            self._throttle -= 1 if throttled else 0
        limits = {"X-Shopify-Shop-Api-Call-Limit": "39/40" if throttled else "1/40"}
        if throttled:
            return (
                429,
                {"errors": "Exceeded 2 calls per second for api client."},
                {
                    **limits,
                    "Retry-After": "0.2",
                },
            )
        if not self.oauth.token_is_valid(headers.get("x-shopify-access-token", "")):
            return (
                401,
                {
                    "errors": "[API] Invalid API key or access token (unrecognized login or wrong "
                    "password)"
                },
                {},
            )
        try:
            limit = int(query.get("limit", "50"))
        except ValueError:
            return 400, {"errors": {"limit": "Expected Integer"}}, {}
        if not 1 <= limit <= 250:
            return 400, {"errors": {"limit": "must be at most 250"}}, {}
        if "page_info" in query:
            others = set(query) - {"page_info", "limit"}
            if others:
                return (
                    400,
                    {
                        "errors": {
                            "page_info": "page_info cannot be combined with other filters: "
                            + ", ".join(sorted(others))
                        }
                    },
                    {},
                )
            try:
                cursor = json.loads(base64.urlsafe_b64decode(query["page_info"]).decode())
            except (ValueError, UnicodeDecodeError):
                return 400, {"errors": {"page_info": "Invalid value."}}, {}
            after, filters = int(cursor["after"]), cursor["filters"]
        else:
            after, filters = 0, {k: v for k, v in query.items() if k != "limit"}
        with self._lock:
            rows = sorted(
                self.records.get(shop, {}).get(stream, {}).values(), key=lambda r: r["id"]
            )
        since = filters.get("updated_at_min")
        if since:
            bound = datetime.fromisoformat(since.replace("Z", "+00:00"))
            rows = [r for r in rows if datetime.fromisoformat(r["updated_at"]) >= bound]
        if stream == "orders" and filters.get("status") != "any":
            rows = [r for r in rows if r.get("closed_at") is None]
        rows = [r for r in rows if r["id"] > after]
        page, more = rows[:limit], len(rows) > limit
        extra = dict(limits)
        if more:
            token = base64.urlsafe_b64encode(
                json.dumps({"after": page[-1]["id"], "filters": filters}).encode()
            ).decode()
            url = (
                f"{self.oauth.url}/shopify/{shop}/admin/api/{version}/{resource}?"
                f"{urlencode({'limit': limit, 'page_info': token})}"
            )
            extra["Link"] = f'<{url}>; rel="next"'
        return 200, {stream: page}, extra


def customer(n: int) -> dict[str, Any]:
    return {
        "id": 7000 + n,
        "admin_graphql_api_id": f"gid://shopify/Customer/{7000 + n}",
        "email": f"buyer{n}@example.com",
        "first_name": f"Buyer{n}",
        "last_name": "Example",
        "phone": None,
        "state": "enabled",
        "verified_email": n % 2 == 0,
        "tax_exempt": False,
        "tags": "vip" if n % 5 == 0 else "",
        "note": None,
        "currency": "EUR",
        "addresses": [{"city": "Lyon", "country_code": "FR"}],
        "default_address": {"city": "Lyon", "country_code": "FR"},
        "email_marketing_consent": {"state": "subscribed"},
        "created_at": at(n),
        "updated_at": at(n),
    }


def product(n: int) -> dict[str, Any]:
    return {
        "id": 9000 + n,
        "admin_graphql_api_id": f"gid://shopify/Product/{9000 + n}",
        "title": f"Widget {n}",
        "body_html": "<p>A widget</p>",
        "vendor": "Acme",
        "product_type": "widget",
        "handle": f"widget-{n}",
        "status": "active",
        "tags": "",
        "variants": [{"id": 90000 + n, "price": f"{n}.99", "sku": f"W-{n}"}],
        "options": [{"name": "Size", "values": ["S", "M"]}],
        "images": [],
        "created_at": at(n),
        "updated_at": at(n),
        "published_at": at(n),
    }


def order(n: int, *, customer_id: int) -> dict[str, Any]:
    return {
        "id": 5000 + n,
        "admin_graphql_api_id": f"gid://shopify/Order/{5000 + n}",
        "name": f"#{1000 + n}",
        "order_number": 1000 + n,
        "email": f"buyer{customer_id}@example.com",
        "phone": None,
        "financial_status": "paid",
        "fulfillment_status": None,
        "currency": "EUR",
        "total_price": f"{n * 3}.10",
        "subtotal_price": f"{n * 3}.00",
        "total_tax": "0.10",
        "total_discounts": "0.00",
        "tags": "",
        "note": None,
        "test": False,
        "confirmed": True,
        "customer": {"id": 7000 + customer_id},
        "line_items": [{"id": 50000 + n, "quantity": 1, "price": f"{n * 3}.00"}],
        "shipping_lines": [],
        "discount_codes": [],
        "shipping_address": None,
        "billing_address": None,
        "created_at": at(n),
        "updated_at": at(n),
        "processed_at": at(n),
        # Every tenth order is closed: only `status=any` lists it.
        "closed_at": at(n + 1) if n % 10 == 0 else None,
        "cancelled_at": None,
        "cancel_reason": None,
    }
