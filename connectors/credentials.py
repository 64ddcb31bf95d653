"""Credentials the platform supplies to sources (connectors/framework/credentials.py), on the
Django side: one binding per kind a source's spec may name (`spec.credentials`).

The app that owns a kind of credentials registers its binding when it loads (the GitHub App
integration registers "github_app_installation" in `integrations.apps`), so that this app,
which checks configs and builds sources, reaches those credentials without importing the app
that keeps them (which imports this one, to find the connectors that use them).
"""

from __future__ import annotations

from typing import Any, Protocol

from connectors.framework.credentials import TokenProvider
from connectors.framework.spec import ConfigIssue


class CredentialBinding(Protocol):
    def config_issues(self, *, account_id: Any, config: dict[str, Any]) -> list[ConfigIssue]:
        """What is wrong with the config's reference to the credentials, for a 422 when a
        connector is saved (an installation the account has not connected, say)."""
        ...

    def bind(
        self, *, account_id: Any, config: dict[str, Any]
    ) -> tuple[dict[str, Any], TokenProvider]:
        """The config the source is built with (the operator's settings it needs added: an
        API URL) and the provider of its tokens. Touches no database: the provider does, when
        it is first asked for a token. Raises a ConnectorError when the credentials cannot be
        had at all (the feature is not configured on this server)."""
        ...


_BINDINGS: dict[str, CredentialBinding] = {}


def credential_binding_register(kind: str, binding: CredentialBinding) -> None:
    _BINDINGS[kind] = binding


def credential_binding(kind: str) -> CredentialBinding | None:
    return _BINDINGS.get(kind)
