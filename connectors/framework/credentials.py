"""Credentials the platform supplies to a source, rather than the user in its config.

Some sources authenticate with tokens that neither the user types nor the source can obtain on
its own: a GitHub App installation token is minted with the server's App key and cached by the
platform (`integrations/`). Such a source names the kind of credentials it needs in its spec
(`ConnectorSpec.credentials`); the Django side builds a `TokenProvider` for the connector and
hands it to the source's constructor (`credentials=`), and a binding registered for the kind
may add plain config values the operator decides (an API URL) before the source is built.

The source only ever sees this protocol: plain Python, no Django, so that it stays testable
with any object that hands out tokens.
"""

from __future__ import annotations

from typing import Protocol


class TokenProvider(Protocol):
    """Hands out a valid access token, caching it as long as it stays valid.

    `refresh=True` asks for a new token whatever the cache holds (the API refused the last
    one). Raises a `ConnectorError`: `ReauthorizeRequiredError` when the grant behind the
    tokens is gone (revoked, suspended, disconnected) and only the user can restore it,
    `UnreachableError` when the token issuer cannot be reached for now."""

    def access_token(self, *, refresh: bool = False) -> str: ...
