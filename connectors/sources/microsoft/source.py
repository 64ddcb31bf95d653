"""The `microsoft` source: a Microsoft 365 tenant's users and groups through Microsoft Graph
(v1.0), as a declarative http_api definition (the manifest below) read by the `http_api`
engine.

It reads with the tenant's OAuth grant (GET /connectors/oauth/microsoft/authorize): the
platform binds the connector's `credential_id` (`spec.credentials`) and hands the source a
TokenProvider and `<MICROSOFT_GRAPH_URL>/v1.0` (`api_url`). Graph answers an expired token
with 401 `InvalidAuthenticationToken`: the engine renews it once through the grant (Microsoft
rotates the refresh token). 429, 503 and 504 carry `Retry-After`, which is waited.

Streams (docs/microsoft.md):
* users (`GET /users`, `$top=999`) and groups (`GET /groups`), paged by `@odata.nextLink`.
* Incremental by Graph's delta queries (`/users/delta`, `/groups/delta`): the engine's
  delta-link mode keeps the `@odata.deltaLink` of the last complete round as the state and
  reads only the changes from it next time. Graph's objects carry no modification time, so
  the cursor column is `_synced_at`, the time the engine read the page (a change marker the
  destination can order by); a removed object comes as its id and `@removed`, loaded with
  `_removed` = Graph's reason (`changed`: soft-deleted, restorable; `deleted`: for good).
"""

from __future__ import annotations

from typing import Any

from connectors.framework.spec import ConnectorSpec, SpecField
from connectors.sources.http_api.declared import DeclaredApiSource

CREDENTIALS = "oauth_microsoft"
# The platform binds MICROSOFT_GRAPH_URL + /v1.0 (`api_url`); this is Graph's own.
DEFAULT_API_URL = "https://graph.microsoft.com/v1.0"
# Graph's largest page for users and groups.
PAGE_SIZE = 999
# The column the engine fills with the time a page was read (the delta round's cursor).
SYNCED_AT = "_synced_at"
# Graph's reason a delta round lists an object as removed (null for a present one).
REMOVED = "_removed"

# Graph's own property names (camelCase), as the destination's columns.
_COLUMNS: dict[str, dict[str, str]] = {
    "users": {
        "id": "string",
        "userPrincipalName": "string",
        "displayName": "string",
        "givenName": "string",
        "surname": "string",
        "mail": "string",
        "jobTitle": "string",
        "department": "string",
        "officeLocation": "string",
        "mobilePhone": "string",
        "businessPhones": "json",
        "preferredLanguage": "string",
        "accountEnabled": "boolean",
        "userType": "string",
        "createdDateTime": "timestamptz",
    },
    "groups": {
        "id": "string",
        "displayName": "string",
        "description": "string",
        "mail": "string",
        "mailEnabled": "boolean",
        "mailNickname": "string",
        "securityEnabled": "boolean",
        "groupTypes": "json",
        "visibility": "string",
        "createdDateTime": "timestamptz",
        "renewedDateTime": "timestamptz",
    },
}


def manifest(config: dict[str, Any]) -> dict[str, Any]:
    """The http_api definition of the streams, for a connector's (bound) config."""
    streams: list[dict[str, Any]] = []
    for name, properties in _COLUMNS.items():
        select = ",".join(properties)
        streams.append(
            {
                "name": name,
                "path": name,
                "params": {"$select": select, "$top": PAGE_SIZE},
                "record_selector": "value",
                "primary_key": "id",
                # The key holds dots: a list path, not a dotted one.
                "paginator": {"type": "next_url", "next_url_path": ["@odata.nextLink"]},
                "incremental": {
                    "cursor_field": SYNCED_AT,
                    "delta_link_path": ["@odata.deltaLink"],
                    "path": f"{name}/delta",
                    # Graph sizes delta pages itself ($top is not a delta parameter).
                    "params": {"$select": select},
                },
                "add_fields": {REMOVED: ["@removed", "reason"]},
                "columns": {**properties, SYNCED_AT: "timestamptz", REMOVED: "string"},
            }
        )
    return {
        "base_url": str(config.get("api_url") or DEFAULT_API_URL),
        "auth_type": "provided_token",
        "page_size": PAGE_SIZE,
        # Graph's throttling: 429, and 503 or 504 under load, with Retry-After in seconds,
        # waited (up to 5 minutes at a time) rather than capped at the retry backoff.
        "rate_limit": {"statuses": [429, 503, 504], "max_wait_seconds": 300},
        "streams": streams,
    }


class MicrosoftSource(DeclaredApiSource):
    build_manifest = staticmethod(manifest)
    spec = ConnectorSpec(
        type="microsoft",
        display_name="Microsoft 365",
        description="A Microsoft 365 (Entra ID) tenant's users and groups through Microsoft "
        "Graph, incremental by Graph's delta queries. Authorize the tenant first: GET "
        "/connectors/oauth/microsoft/authorize, then GET /connectors/oauth/result gives the "
        "credential_id.",
        category="api",
        auth_method="oauth2",
        supports_incremental=True,
        static_schema=True,
        credentials=CREDENTIALS,
        fields=(
            SpecField(
                "credential_id",
                "string",
                "The tenant's authorization (GET /connectors/oauth/result's credential_id).",
                required=True,
            ),
        ),
    )
