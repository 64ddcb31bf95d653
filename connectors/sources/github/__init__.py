"""GitHub through a GitHub App installation: repositories, issues, pull requests, commits and
workflow runs."""

from connectors.sources.github.source import GitHubSource

__all__ = ["GitHubSource"]
