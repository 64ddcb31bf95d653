"""The `github` source: a declarative HTTP API definition (the manifest below), read by the
`http_api` engine, authenticated with a GitHub App installation's tokens.

The source never sees the App's key: the platform binds the connector's installation
(`spec.credentials`, connectors/framework/credentials.py) and hands the source a TokenProvider
and the API URL of the server's settings (`api_url`). Everything GitHub-specific is data here;
what the engine needed for it is generic there (docs/http_api.md): the `provided_token` auth,
the `rate_limit` rule (GitHub answers 403 or 429 over its limit, with `X-RateLimit-Remaining:
0` and `X-RateLimit-Reset`, or `Retry-After` for its secondary limits), child streams per
repository (`repos/{parent.owner.login}/{parent.name}/...`), a nested cursor lifted to a
column (`add_fields`), statuses that mean "nothing here" (`ignore_statuses`), and paging that
stops at the boundary for records listed newest first (`records_order`).

Streams (docs/github.md):
* repositories: those the installation grants (`GET /installation/repositories`).
* issues (pull requests included, as GitHub lists them): incremental by `updated_at`, asked
  with `since`; a repository with issues turned off answers 410, read as none.
* pull_requests: incremental by `updated_at`; GitHub has no `since` here, so they are listed
  newest first and paging stops at the boundary.
* commits (of the default branch): incremental by the commit date (`committed_at`), asked
  with `since`; an empty repository answers 409, read as none. Keyed by repository and sha (a
  commit is in every fork).
* workflow_runs: incremental by `updated_at`; GitHub lists runs by creation, so every page is
  read and the runs not updated since the boundary are dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectors.framework.spec import ConfigIssue, ConnectorSpec, SpecField
from connectors.sources.http_api.declared import DeclaredApiSource, start_date_issues

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
# GitHub's largest page.
PAGE_SIZE = 100
CREDENTIALS = "github_app_installation"

_PAGED = {"type": "link_header", "size_param": "per_page", "page_size": PAGE_SIZE}
_REPOSITORY = {"stream": "repositories", "field": "full_name", "include_as": "repository"}
_REPO = "repos/{parent.owner.login}/{parent.name}"

# The columns of each stream: discovery declares them without sampling (GitHubSource.discover),
# so every connector has the same tables. Fields not listed here are not loaded.
_TIME = "timestamptz"
_COLUMNS: dict[str, dict[str, str]] = {
    "repositories": {
        "id": "bigint",
        "node_id": "string",
        "name": "string",
        "full_name": "string",
        "owner": "json",
        "private": "boolean",
        "visibility": "string",
        "description": "string",
        "fork": "boolean",
        "archived": "boolean",
        "disabled": "boolean",
        "default_branch": "string",
        "language": "string",
        "topics": "json",
        "license": "json",
        "has_issues": "boolean",
        "stargazers_count": "bigint",
        "watchers_count": "bigint",
        "forks_count": "bigint",
        "open_issues_count": "bigint",
        "size": "bigint",
        "html_url": "string",
        "url": "string",
        "created_at": _TIME,
        "updated_at": _TIME,
        "pushed_at": _TIME,
    },
    "issues": {
        "id": "bigint",
        "node_id": "string",
        "repository": "string",
        "number": "bigint",
        "title": "string",
        "body": "string",
        "state": "string",
        "state_reason": "string",
        "locked": "boolean",
        "user": "json",
        "labels": "json",
        "assignee": "json",
        "assignees": "json",
        "milestone": "json",
        "comments": "bigint",
        "pull_request": "json",
        "author_association": "string",
        "reactions": "json",
        "html_url": "string",
        "url": "string",
        "created_at": _TIME,
        "updated_at": _TIME,
        "closed_at": _TIME,
    },
    "pull_requests": {
        "id": "bigint",
        "node_id": "string",
        "repository": "string",
        "number": "bigint",
        "title": "string",
        "body": "string",
        "state": "string",
        "locked": "boolean",
        "draft": "boolean",
        "user": "json",
        "labels": "json",
        "assignees": "json",
        "requested_reviewers": "json",
        "milestone": "json",
        "head": "json",
        "base": "json",
        "merge_commit_sha": "string",
        "author_association": "string",
        "html_url": "string",
        "url": "string",
        "created_at": _TIME,
        "updated_at": _TIME,
        "closed_at": _TIME,
        "merged_at": _TIME,
    },
    "commits": {
        "repository": "string",
        "sha": "string",
        "node_id": "string",
        "commit": "json",
        "author": "json",
        "committer": "json",
        "parents": "json",
        "html_url": "string",
        "url": "string",
        "committed_at": _TIME,
    },
    "workflow_runs": {
        "id": "bigint",
        "node_id": "string",
        "repository": "string",
        "name": "string",
        "display_title": "string",
        "workflow_id": "bigint",
        "run_number": "bigint",
        "run_attempt": "bigint",
        "event": "string",
        "status": "string",
        "conclusion": "string",
        "head_branch": "string",
        "head_sha": "string",
        "path": "string",
        "actor": "json",
        "triggering_actor": "json",
        "head_commit": "json",
        "html_url": "string",
        "url": "string",
        "created_at": _TIME,
        "updated_at": _TIME,
        "run_started_at": _TIME,
    },
}


def manifest(config: dict[str, Any]) -> dict[str, Any]:
    """The http_api definition of the streams, for a connector's config."""
    start = start_value(config.get("start_date"))

    def since(cursor: str, **extra: Any) -> dict[str, Any]:
        return {"cursor_field": cursor, **({"start_value": start} if start else {}), **extra}

    streams = [
        {
            "name": "repositories",
            "path": "installation/repositories",
            "record_selector": "repositories",
            "primary_key": "id",
            "paginator": _PAGED,
        },
        {
            "name": "issues",
            "path": f"{_REPO}/issues",
            "params": {"state": "all", "sort": "updated", "direction": "asc"},
            "primary_key": "id",
            "parent": _REPOSITORY,
            "paginator": _PAGED,
            "incremental": since("updated_at", request_param="since"),
            "ignore_statuses": [410],
        },
        {
            "name": "pull_requests",
            "path": f"{_REPO}/pulls",
            "params": {"state": "all", "sort": "updated", "direction": "desc"},
            "primary_key": "id",
            "parent": _REPOSITORY,
            "paginator": _PAGED,
            "incremental": since("updated_at", records_order="descending"),
        },
        {
            "name": "commits",
            "path": f"{_REPO}/commits",
            "primary_key": ["repository", "sha"],
            "parent": _REPOSITORY,
            "paginator": _PAGED,
            "add_fields": {"committed_at": "commit.committer.date"},
            "incremental": since("committed_at", request_param="since"),
            "ignore_statuses": [409],
        },
        {
            "name": "workflow_runs",
            "path": f"{_REPO}/actions/runs",
            "record_selector": "workflow_runs",
            "primary_key": "id",
            "parent": _REPOSITORY,
            "paginator": _PAGED,
            "incremental": since("updated_at"),
        },
    ]
    for stream in streams:
        stream["columns"] = _COLUMNS[str(stream["name"])]
    return {
        "base_url": str(config.get("api_url") or DEFAULT_API_URL),
        "auth_type": "provided_token",
        "headers": {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION},
        "page_size": PAGE_SIZE,
        "rate_limit": {
            "statuses": [403, 429],
            "max_wait_seconds": config.get("rate_limit_max_wait_seconds", 900),
        },
        "streams": streams,
    }


def start_value(raw: Any) -> str | None:
    """`start_date` as GitHub's `since` takes it (an ISO 8601 date-time in UTC); None when
    there is none (or it is not a date: config_issues says so). A date is its midnight, a
    time without an offset is in UTC."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GitHubSource(DeclaredApiSource):
    build_manifest = staticmethod(manifest)
    spec = ConnectorSpec(
        type="github",
        display_name="GitHub",
        description="Repositories, issues, pull requests, commits and workflow runs of the "
        "repositories a GitHub App installation grants. Connect GitHub first (GET "
        "/integrations/github/install); GET /integrations lists the installation ids.",
        category="api",
        auth_method="github_app",
        supports_incremental=True,
        # Every column is declared: GET /connectors/catalog/github/schema serves them.
        static_schema=True,
        credentials=CREDENTIALS,
        fields=(
            SpecField(
                "installation_id",
                "integer",
                "The GitHub App installation to read through (GET /integrations): its "
                "repositories are the ones read.",
                required=True,
                minimum=1,
                # GitHub's ids are far below it (and it fits a bigint exactly as a float).
                maximum=2**53,
            ),
            SpecField(
                "start_date",
                "string",
                "Incremental streams start here (ISO 8601, e.g. 2024-01-01); empty: from "
                "the beginning.",
            ),
            SpecField(
                "rate_limit_max_wait_seconds",
                "number",
                "Longest wait for GitHub's rate limit to reset before a sync fails (and is "
                "retried later).",
                default=900,
                minimum=0,
                maximum=3600,
            ),
        ),
    )

    @classmethod
    def config_issues(cls, config: dict[str, Any]) -> list[ConfigIssue]:
        return start_date_issues(config, start_value)
