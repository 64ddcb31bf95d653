"""The `slack` source: a workspace's public channels, its users, and the messages of each channel
the app is in, through Slack's Web API, as a declarative http_api definition (the manifest
below) read by the `http_api` engine.

It reads with the workspace's OAuth grant (GET /connectors/oauth/slack/authorize): the
platform binds the connector's `credential_id` (`spec.credentials`) and hands the source a
TokenProvider and SLACK_API_URL (`api_url`). What the engine needed for Slack is generic there
(docs/http_api.md): Slack answers its errors with HTTP 200 and `{"ok": false, "error": ...}`
(`body_errors`: a refused or expired token is renewed once, with token rotation a refresh
hands out a new one; `not_in_channel` is a channel without messages to read), and takes the
channel of `conversations.history` as a query parameter (`{parent.id}` in `params`).

Streams (docs/slack.md):
* channels: public channels, archived ones included (`conversations.list`).
* users: the workspace's members, bots and deactivated ones included (`users.list`).
* messages: each channel's messages (`conversations.history`), incremental by `ts` (Slack's
  message id, a numeric text), asked with `oldest` and `inclusive=true`. Thread replies are
  not read (only the parent message, with its reply counts).
Paging by Slack's cursor (`response_metadata.next_cursor`); over a tier's rate limit Slack
answers 429 with `Retry-After`, which is waited.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectors.framework.spec import ConfigIssue, ConnectorSpec, SpecField
from connectors.sources.http_api.declared import DeclaredApiSource, start_date_issues

CREDENTIALS = "oauth_slack"
# The platform binds SLACK_API_URL (`api_url`); this is Slack's own.
DEFAULT_API_URL = "https://slack.com/api"
# Slack recommends at most 200 a page for its cursor-paged methods.
PAGE_SIZE = 200
# Slack's codes for a token it refuses (renewed once, then the grant is judged).
AUTH_CODES = ["invalid_auth", "not_authed", "token_expired", "token_revoked", "account_inactive"]
# Slack's codes for its own transient failures.
RETRY_CODES = ["internal_error", "fatal_error", "service_unavailable", "request_timeout"]

_COLUMNS: dict[str, dict[str, str]] = {
    "channels": {
        "id": "string",
        "name": "string",
        "is_channel": "boolean",
        "is_private": "boolean",
        "is_archived": "boolean",
        "is_general": "boolean",
        "is_shared": "boolean",
        "is_member": "boolean",
        "created": "bigint",
        "creator": "string",
        "num_members": "bigint",
        "topic": "json",
        "purpose": "json",
        "updated": "bigint",
    },
    "users": {
        "id": "string",
        "team_id": "string",
        "name": "string",
        "real_name": "string",
        "deleted": "boolean",
        "is_bot": "boolean",
        "is_admin": "boolean",
        "is_owner": "boolean",
        "is_restricted": "boolean",
        "tz": "string",
        "profile": "json",
        "updated": "bigint",
    },
    "messages": {
        "channel": "string",
        "ts": "string",
        "type": "string",
        "subtype": "string",
        "user": "string",
        "bot_id": "string",
        "text": "string",
        "thread_ts": "string",
        "reply_count": "bigint",
        "reply_users_count": "bigint",
        "latest_reply": "string",
        "edited": "json",
        "reactions": "json",
        "files": "json",
        "attachments": "json",
        "blocks": "json",
    },
}


def start_value(raw: Any) -> str | None:
    """`start_date` as Slack's `oldest` takes it: a Unix time in seconds, as text."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return f"{moment.timestamp():.6f}"


def manifest(config: dict[str, Any]) -> dict[str, Any]:
    """The http_api definition of the streams, for a connector's (bound) config."""
    start = start_value(config.get("start_date"))
    paged = {
        "type": "cursor",
        "cursor_path": "response_metadata.next_cursor",
        "cursor_param": "cursor",
        "size_param": "limit",
        "page_size": PAGE_SIZE,
    }
    streams: list[dict[str, Any]] = [
        {
            "name": "channels",
            "path": "conversations.list",
            "params": {"types": "public_channel", "exclude_archived": "false"},
            "record_selector": "channels",
            "primary_key": "id",
            "paginator": paged,
        },
        {
            "name": "users",
            "path": "users.list",
            "record_selector": "members",
            "primary_key": "id",
            "paginator": paged,
        },
        {
            "name": "messages",
            "path": "conversations.history",
            "params": {"channel": "{parent.id}", "inclusive": "true"},
            "record_selector": "messages",
            "primary_key": ["channel", "ts"],
            "parent": {"stream": "channels", "field": "id", "include_as": "channel"},
            "paginator": paged,
            "incremental": {
                "cursor_field": "ts",
                "request_param": "oldest",
                **({"start_value": start} if start else {}),
            },
            # A channel the app was not invited to: nothing it may read.
            "ignore_error_codes": ["not_in_channel"],
        },
    ]
    for stream in streams:
        stream["columns"] = _COLUMNS[str(stream["name"])]
    return {
        "base_url": str(config.get("api_url") or DEFAULT_API_URL),
        "auth_type": "provided_token",
        "page_size": PAGE_SIZE,
        "body_errors": {
            "success_path": "ok",
            "success_value": True,
            "code_path": "error",
            "auth_codes": AUTH_CODES,
            "retry_codes": RETRY_CODES,
        },
        "rate_limit": {"statuses": [429], "max_wait_seconds": 300},
        "streams": streams,
    }


class SlackSource(DeclaredApiSource):
    build_manifest = staticmethod(manifest)
    spec = ConnectorSpec(
        type="slack",
        display_name="Slack",
        description="A workspace's public channels, users, and the messages of the channels "
        "the app is in. Authorize the workspace first: GET "
        "/connectors/oauth/slack/authorize, then GET /connectors/oauth/result gives the "
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
                "The workspace's authorization (GET /connectors/oauth/result's credential_id).",
                required=True,
            ),
            SpecField(
                "start_date",
                "string",
                "Read messages posted since (ISO 8601, e.g. 2024-01-01); empty: all of them.",
            ),
        ),
    )

    @classmethod
    def config_issues(cls, config: dict[str, Any]) -> list[ConfigIssue]:
        return start_date_issues(config, start_value)
