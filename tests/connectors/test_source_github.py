"""The `github` source against a local GitHub (tests/github_server.py), with a token provider
as the platform hands one over: its streams and keys, GitHub's Link paging, each stream's
incremental rule, repositories without issues or commits, the rate limit, and an installation
revoked in the middle of a read."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from connectors.framework.base import (
    Batch,
    PermissionError_,
    ReadRequest,
    ReauthorizeRequiredError,
    Stream,
)
from connectors.sources.github import GitHubSource
from tests.github_server import FakeGitHub, Repo, at, running


class Tokens:
    """A TokenProvider: tokens GitHub accepts for the installation, while it exists."""

    def __init__(self, github: FakeGitHub, installation_id: int) -> None:
        self.github = github
        self.installation_id = installation_id
        self.token: str | None = None
        self.minted = 0

    def access_token(self, *, refresh: bool = False) -> str:
        if self.token is None or refresh:
            if self.installation_id not in self.github.installations:
                raise ReauthorizeRequiredError("The installation is gone: reconnect GitHub.")
            self.minted += 1
            self.token = f"ghs_provided{self.minted}"
            self.github.tokens[self.token] = self.installation_id
        return self.token


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with running() as server:
        widgets = Repo("acme", "widgets", 1)
        for number in range(1, 151):  # more than a page of 100
            widgets.add_issue(number, at(1 + number % 20, number % 24), pull=number % 10 == 0)
        for number in range(1, 6):
            widgets.add_pull(number, at(number))
        widgets.add_commit("a1", at(3))
        widgets.add_commit("b2", at(4))
        widgets.add_run(11, at(1), at(2))
        widgets.add_run(12, at(5), at(6), status="in_progress")
        empty = Repo("acme", "empty", 2, issues_disabled=True)  # no commits: 409
        server.install(41, "acme", widgets, empty)
        yield server


def source(github: FakeGitHub, **config: Any) -> tuple[GitHubSource, Tokens]:
    tokens = Tokens(github, 41)
    cfg = {"installation_id": 41, "api_url": github.url, **config}
    return GitHubSource(cfg, allow_private_networks=True, credentials=tokens), tokens


def read(
    src: GitHubSource, stream: Stream, state: dict | None = None, **request: Any
) -> list[Batch]:
    return list(src.read(ReadRequest(stream=stream, state=state, **request)))


def rows(batches: list[Batch]) -> list[dict[str, Any]]:
    return [row for batch in batches for row in batch.records.to_pylist()]


def incremental(src: GitHubSource, stream: Stream, state: dict | None) -> list[Batch]:
    return read(src, stream, state, sync_mode="incremental", cursor_field=stream.default_cursor)


def test_streams_keys_and_cursors(github):
    src, _ = source(github)
    streams = {s.name: s for s in src.discover()}
    assert github.hits == []  # declared, not sampled: discovery asks GitHub nothing
    assert src.check().ok
    assert list(streams) == ["repositories", "issues", "pull_requests", "commits", "workflow_runs"]
    assert streams["repositories"].primary_key == ("id",)
    assert not streams["repositories"].supports_incremental
    assert streams["commits"].primary_key == ("repository", "sha")
    assert streams["commits"].default_cursor == "committed_at"
    for name in ("issues", "pull_requests", "workflow_runs"):
        assert streams[name].default_cursor == "updated_at"
    # Declared columns: the same tables for every connector.
    issues = {c.name: c.type for c in streams["issues"].columns}
    assert issues["updated_at"] == "timestamptz" and issues["user"] == "json"
    assert "reactions" in issues and issues["repository"] == "string"


def test_a_full_read_of_every_stream(github):
    src, tokens = source(github)
    streams = {s.name: s for s in src.discover()}
    repos = rows(read(src, streams["repositories"]))
    assert [r["full_name"] for r in repos] == ["acme/widgets", "acme/empty"]
    issues = rows(read(src, streams["issues"]))
    # 150 issues over two pages of GitHub's Link paging; the repository with issues turned
    # off (410) has none.
    assert len(issues) == 150 == len({i["id"] for i in issues})
    assert {i["repository"] for i in issues} == {"acme/widgets"}
    assert any("page=2" in hit for hit in github.rest_hits("/repos/acme/widgets/issues"))
    commits = rows(read(src, streams["commits"]))
    # The empty repository answers 409: no commits, not a failure.
    assert [(c["repository"], c["sha"]) for c in commits] == [
        ("acme/widgets", "b2"),
        ("acme/widgets", "a1"),
    ]
    assert str(commits[0]["committed_at"]).startswith("2026-03-04")
    runs = rows(read(src, streams["workflow_runs"]))
    assert [(r["id"], r["repository"]) for r in runs] == [
        (12, "acme/widgets"),
        (11, "acme/widgets"),
    ]
    assert len(rows(read(src, streams["pull_requests"]))) == 5
    assert tokens.minted == 1  # one token for all of it
    # GitHub's media type and API version on every request, the token as a bearer token.
    for headers in github.rest_headers:
        assert headers["Accept"] == "application/vnd.github+json"
        assert headers["X-GitHub-Api-Version"] == "2022-11-28"
        assert headers["Authorization"] == "Bearer ghs_provided1"


def test_incremental_reads_ask_github_for_what_changed(github):
    src, _ = source(github)
    streams = {s.name: s for s in src.discover()}
    widgets = github.repos["acme/widgets"]

    first = incremental(src, streams["issues"], None)
    widgets.add_issue(151, at(25))
    github.hits.clear()
    second = incremental(src, streams["issues"], first[-1].state)
    assert [i["number"] for i in rows(second)] == [151]
    (query,) = [parse_qs(urlsplit(h).query) for h in github.rest_hits("/repos/acme/widgets/issues")]
    assert query["since"] == [first[-1].state["cursor"]]
    assert query["sort"] == ["updated"] and query["direction"] == ["asc"]

    first = incremental(src, streams["commits"], None)
    widgets.add_commit("c3", at(9))
    second = incremental(src, streams["commits"], first[-1].state)
    assert [c["sha"] for c in rows(second)] == ["c3"]

    first = incremental(src, streams["workflow_runs"], None)
    widgets.runs[-1]["updated_at"] = at(7)  # the run in progress finished
    second = incremental(src, streams["workflow_runs"], first[-1].state)
    assert [(r["id"], r["status"]) for r in rows(second)] == [(12, "in_progress")]


def test_pull_requests_stop_paging_at_the_boundary(github):
    widgets = github.repos["acme/widgets"]
    for number in range(6, 260):
        widgets.add_pull(number, at(1, 0))
    src, _ = source(github)
    stream = next(s for s in src.discover() if s.name == "pull_requests")
    first = incremental(src, stream, None)
    assert len(rows(first)) == 259
    widgets.add_pull(300, at(20))
    github.hits.clear()
    second = incremental(src, stream, first[-1].state)
    assert [p["number"] for p in rows(second)] == [300]
    # Newest first: the first page reaches older pulls, and the other two are not asked for.
    assert len(github.rest_hits("/repos/acme/widgets/pulls")) == 1


def test_a_stream_the_app_may_not_read_fails_alone(github):
    github.repos["acme/widgets"].actions_forbidden = True
    src, tokens = source(github)
    streams = {s.name: s for s in src.discover()}
    with pytest.raises(PermissionError_, match="not accessible by integration"):
        read(src, streams["workflow_runs"])
    assert len(rows(read(src, streams["issues"]))) == 150
    assert tokens.minted == 2  # the refused token was renewed once, to no avail


def test_the_rate_limit_is_waited_out(github):
    src, _ = source(github)
    stream = next(s for s in src.discover() if s.name == "repositories")
    github.exhaust_rate_limit(1)
    started = time.monotonic()
    assert len(rows(read(src, stream))) == 2
    assert time.monotonic() - started >= 0.5


def test_a_rate_limit_resetting_too_late_fails_retryably(github):
    src, _ = source(github, rate_limit_max_wait_seconds=1)
    stream = next(s for s in src.discover() if s.name == "repositories")
    github.exhaust_rate_limit(600)
    with pytest.raises(Exception, match="rate limit") as raised:
        read(src, stream)
    assert raised.value.retryable is True


def test_an_installation_revoked_mid_read_is_a_reauthorize_error(github):
    src, tokens = source(github)
    streams = {s.name: s for s in src.discover()}
    read(src, streams["repositories"])  # a token minted, and used
    stream = streams["issues"]
    github.uninstall(41)  # its tokens are refused (401) from now on
    with pytest.raises(ReauthorizeRequiredError, match="reconnect"):
        read(src, stream)
    assert tokens.minted == 1


def test_start_date_starts_the_incremental_streams(github):
    src, _ = source(github, start_date="2026-03-15")
    stream = next(s for s in src.discover() if s.name == "issues")
    issues = rows(incremental(src, stream, None))
    assert issues and all(str(i["updated_at"]) >= "2026-03-15" for i in issues)
    assert GitHubSource.config_issues({"installation_id": 1, "start_date": "soon"})
    assert not GitHubSource.config_issues({"installation_id": 1, "start_date": "2026-01-01"})
