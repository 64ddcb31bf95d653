"""The `hubspot` source: a portal's contacts, companies and deals through the CRM search API, and
its owners, as a declarative http_api definition (the manifest below) read by the `http_api`
engine.

It reads with the portal's OAuth grant (GET /connectors/oauth/hubspot/authorize): the platform
binds the connector's `credential_id` (`spec.credentials`) and hands the source a
TokenProvider and HUBSPOT_API_URL (`api_url`), with HUBSPOT_SEARCH_RESULT_WINDOW
(`search_result_window`). HubSpot's access tokens live 30 minutes: one that expires during a
sync is answered 401 (`EXPIRED_AUTHENTICATION`) and renewed once with the refresh token.

What the engine needed for HubSpot is generic there (docs/http_api.md): a search is a POST
whose JSON body holds the filter, the sort, the properties, the page size and the page's
cursor (`request_body` placeholders); the boundary is sent in epoch milliseconds
(`request_format`); a search serves at most 10,000 results (400 past them), so the read starts
a new search from the last record's modification time when the next page would pass them
(`result_window`), dropping that time's records already delivered.

Streams (docs/hubspot.md):
* contacts, companies, deals: incremental by the last-modified property (`lastmodifieddate`
  for contacts, `hs_lastmodifieddate` for the others, as HubSpot names them), searched with
  `GTE` the boundary and sorted by it, oldest first; 200 a page (the search's largest). The
  properties listed below are asked for and lifted from `properties` into columns.
* owners: `GET /crm/v3/owners`, paged by `paging.next.after`, 500 a page; incremental by
  `updatedAt` read whole (the endpoint has no filter), the unchanged ones dropped.
Over its rate limit HubSpot answers 429 (`{"status": "error", "category": "RATE_LIMITS"}`)
without Retry-After: its `X-HubSpot-RateLimit-*` headers are read when present (a window of
`X-HubSpot-RateLimit-Interval-Milliseconds` is waited), the backoff otherwise; requests are
spaced at the search API's 4 a second.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectors.framework.spec import ConfigIssue, ConnectorSpec, SpecField
from connectors.sources.http_api.declared import DeclaredApiSource, start_date_issues

CREDENTIALS = "oauth_hubspot"
# Where HubSpot's API lives; the platform binds HUBSPOT_API_URL (`api_url`) before a read. The
# fixed schema (GET /connectors/catalog/hubspot/schema) is built without a binding.
DEFAULT_API_URL = "https://api.hubapi.com"
# The search API's largest page, the most results one search serves, and its rate.
SEARCH_PAGE_SIZE = 200
SEARCH_RESULT_WINDOW = 10_000
SEARCH_REQUESTS_PER_SECOND = 4
# The owners API's largest page.
OWNERS_PAGE_SIZE = 500
# The first read's boundary without a start_date: every record.
EPOCH = "1970-01-01T00:00:00Z"

_TIME = "timestamptz"
_RECORD = {"id": "string", "createdAt": _TIME, "updatedAt": _TIME, "archived": "boolean"}
# Each object's searched streams: the object, its last-modified property (the cursor), and the
# properties asked for, with their column types. HubSpot sends every property value as text
# (numbers and dates included) and unset ones as null.
_OBJECTS: dict[str, tuple[str, str, dict[str, str]]] = {
    "contacts": (
        "contacts",
        "lastmodifieddate",
        {
            "email": "string",
            "firstname": "string",
            "lastname": "string",
            "phone": "string",
            "mobilephone": "string",
            "company": "string",
            "jobtitle": "string",
            "website": "string",
            "city": "string",
            "state": "string",
            "country": "string",
            "lifecyclestage": "string",
            "hs_lead_status": "string",
            "hubspot_owner_id": "string",
            "createdate": _TIME,
            "lastmodifieddate": _TIME,
        },
    ),
    "companies": (
        "companies",
        "hs_lastmodifieddate",
        {
            "name": "string",
            "domain": "string",
            "industry": "string",
            "phone": "string",
            "city": "string",
            "state": "string",
            "country": "string",
            "numberofemployees": "bigint",
            # Currency amounts as HubSpot writes them (decimal text), not rounded to floats.
            "annualrevenue": "string",
            "lifecyclestage": "string",
            "hubspot_owner_id": "string",
            "createdate": _TIME,
            "hs_lastmodifieddate": _TIME,
        },
    ),
    "deals": (
        "deals",
        "hs_lastmodifieddate",
        {
            "dealname": "string",
            "amount": "string",
            "dealstage": "string",
            "pipeline": "string",
            "dealtype": "string",
            "closedate": _TIME,
            "hubspot_owner_id": "string",
            "createdate": _TIME,
            "hs_lastmodifieddate": _TIME,
        },
    ),
}
_OWNER_COLUMNS = {
    "id": "string",
    "email": "string",
    "type": "string",
    "firstName": "string",
    "lastName": "string",
    "userId": "bigint",
    "userIdIncludingInactive": "bigint",
    "teams": "json",
    "archived": "boolean",
    "createdAt": _TIME,
    "updatedAt": _TIME,
}


def start_value(raw: Any) -> str | None:
    """`start_date` as an ISO 8601 instant in UTC (sent to HubSpot in epoch milliseconds)."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _search_stream(name: str, start: str, window: int) -> dict[str, Any]:
    object_type, cursor, properties = _OBJECTS[name]
    return {
        "name": name,
        "path": f"crm/v3/objects/{object_type}/search",
        "method": "POST",
        "request_body": {
            "filterGroups": [
                {"filters": [{"propertyName": cursor, "operator": "GTE", "value": "{since}"}]}
            ],
            "sorts": [{"propertyName": cursor, "direction": "ASCENDING"}],
            "properties": list(properties),
            "limit": "{limit}",
            "after": "{after}",
        },
        "record_selector": "results",
        "primary_key": "id",
        "paginator": {
            "type": "cursor",
            "cursor_path": "paging.next.after",
            "cursor_param": "after",
            "size_param": "limit",
            "page_size": SEARCH_PAGE_SIZE,
        },
        "incremental": {
            "cursor_field": cursor,
            "request_param": "since",
            "request_format": "epoch_milliseconds",
            "records_order": "ascending",
            "start_value": start,
        },
        "result_window": window,
        "add_fields": {prop: f"properties.{prop}" for prop in properties},
        "columns": {**_RECORD, **properties},
    }


def manifest(config: dict[str, Any]) -> dict[str, Any]:
    """The http_api definition of the streams, for a connector's (bound) config."""
    start = start_value(config.get("start_date")) or EPOCH
    raw_window = str(config.get("search_result_window") or "")
    window = int(raw_window) if raw_window.isdigit() and int(raw_window) > 0 else 0
    streams = [_search_stream(name, start, window or SEARCH_RESULT_WINDOW) for name in _OBJECTS]
    streams.append(
        {
            "name": "owners",
            "path": "crm/v3/owners",
            "record_selector": "results",
            "primary_key": "id",
            "paginator": {
                "type": "cursor",
                "cursor_path": "paging.next.after",
                "cursor_param": "after",
                "size_param": "limit",
                "page_size": OWNERS_PAGE_SIZE,
            },
            "incremental": {"cursor_field": "updatedAt"},
            "columns": _OWNER_COLUMNS,
        }
    )
    return {
        "base_url": str(config.get("api_url") or DEFAULT_API_URL),
        "auth_type": "provided_token",
        "page_size": SEARCH_PAGE_SIZE,
        # HubSpot's secondly limits pass within a second: a short first backoff.
        "backoff_base_seconds": 0.5,
        "rate_limit": {
            "statuses": [429],
            "remaining_header": "X-HubSpot-RateLimit-Remaining",
            "reset_header": "X-HubSpot-RateLimit-Interval-Milliseconds",
            "reset_format": "interval_milliseconds",
            "requests_per_second": SEARCH_REQUESTS_PER_SECOND,
            "max_wait_seconds": 120,
        },
        "streams": streams,
    }


class HubSpotSource(DeclaredApiSource):
    build_manifest = staticmethod(manifest)
    spec = ConnectorSpec(
        type="hubspot",
        display_name="HubSpot",
        description="A portal's contacts, companies, deals (CRM search API) and owners. "
        "Authorize the portal first: GET /connectors/oauth/hubspot/authorize, then GET "
        "/connectors/oauth/result gives the credential_id.",
        category="api",
        auth_method="oauth2",
        supports_incremental=True,
        static_schema=True,
        credentials=CREDENTIALS,
        fields=(
            SpecField(
                "credential_id",
                "string",
                "The portal's authorization (GET /connectors/oauth/result's credential_id).",
                required=True,
            ),
            SpecField(
                "start_date",
                "string",
                "Read contacts, companies and deals modified since (ISO 8601, e.g. "
                "2024-01-01); empty: all of them.",
            ),
        ),
    )

    @classmethod
    def config_issues(cls, config: dict[str, Any]) -> list[ConfigIssue]:
        return start_date_issues(config, start_value)
