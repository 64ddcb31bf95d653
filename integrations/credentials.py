"""A GitHub installation's access tokens for the `github` source.

How a source that knows nothing of Django gets them: the source's spec names the credentials
it needs (`github_app_installation`); this app registers a binding for that kind with the
connectors app (apps.py); when a connector's source is built, the binding adds the GitHub API
URL of this server's settings to its config and hands it an `InstallationTokens`, a plain
`TokenProvider` (connectors/framework/credentials.py) that the source's `provided_token` auth
asks for a token before each request. The provider keeps the token in memory; when it is
missing, expires within TOKEN_REFRESH_MARGIN, or was refused, it asks
`installation_access_token`, which takes the one cached (encrypted) on the installation's row
or mints a new one with the App's JWT, and caches that.

GitHub's refusals become the source's errors: an installation GitHub no longer knows (404,
uninstalled) or refuses (403, suspended), and one no longer connected to the account, are
`ReauthorizeRequiredError`s (not retried; the connector's schedule stops until it is fixed:
syncs/selectors.py), GitHub unreachable or failing is `UnreachableError` (retried), the App's
own credentials refused is a `ConfigError` for the operator.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from connectors.framework.base import ConfigError, ReauthorizeRequiredError, UnreachableError
from connectors.framework.spec import ConfigIssue
from integrations import github_app
from integrations.models import GitHubInstallation
from landed.db import release_thread_connection
from landed.security.secrets import SecretDecryptionError, decrypt_secrets, encrypt_secrets

logger = logging.getLogger("integrations.credentials")

# The kind of credentials the `github` source's spec names (`spec.credentials`; a test holds
# the two together: importing the source here would load the HTTP engine with this app).
GITHUB_APP_INSTALLATION = "github_app_installation"
# A token is not used (nor handed out from the cache) closer than this to its expiry: a
# request sent with it may take a while, and a page of a sync more.
TOKEN_REFRESH_MARGIN = timedelta(minutes=5)

_RECONNECT = (
    "Connect GitHub again (GET /integrations/github/install) and, if the installation changed, "
    "set the connector's installation_id to the one GET /integrations lists."
)


def installation_access_token(
    *, account_id: Any, installation_id: int, refresh: bool = False
) -> github_app.AccessToken:
    """A valid access token of the account's installation: the cached one, unless it expires
    soon or `refresh` asks for a new one. Raises the source's errors (module docstring)."""
    installation = GitHubInstallation.objects.filter(
        account_id=account_id, installation_id=installation_id
    ).first()
    if installation is None:
        raise ReauthorizeRequiredError(
            f"GitHub installation {installation_id} is not connected to this Landed account "
            f"(it was disconnected, or never connected). {_RECONNECT}"
        )
    now = timezone.now()
    if not refresh:
        cached = _cached_token(installation, now)
        if cached is not None:
            return cached
    try:
        minted = github_app.access_token_create(installation_id)
    except github_app.InstallationNotFound as exc:
        _record_refusal(installation, revoked_at=now)
        raise ReauthorizeRequiredError(
            f"GitHub no longer knows installation {installation_id} of the App "
            f"({installation.account_login or 'unknown account'}): the App was uninstalled. "
            f"{_RECONNECT}"
        ) from exc
    except github_app.InstallationSuspended as exc:
        _record_refusal(installation, suspended_at=installation.suspended_at or now)
        raise ReauthorizeRequiredError(
            f"GitHub refused installation {installation_id} "
            f"({installation.account_login or 'unknown account'}): it is suspended or no "
            f"longer grants access ({exc.message}). Unsuspend the App in the GitHub account's "
            "settings (Settings > Applications), or install it again; then sync the connector."
        ) from exc
    except github_app.GitHubUnavailable as exc:
        raise UnreachableError(f"GitHub could not mint an access token: {exc.message}") from exc
    except (github_app.GitHubAppRefused, github_app.GitHubAppNotConfigured) as exc:
        raise ConfigError(
            f"{exc.message} The server's GitHub App configuration needs fixing (docs/github.md)."
        ) from exc
    GitHubInstallation.objects.filter(pk=installation.pk).update(
        encrypted_token=encrypt_secrets({"token": minted.token}),
        token_expires_at=minted.expires_at,
        # GitHub handed a token out: whatever it refused before, it grants again.
        suspended_at=None,
        revoked_at=None,
        updated_at=now,
    )
    logger.info(
        "integrations.token_minted installation=%s expires_at=%s",
        installation_id,
        minted.expires_at.isoformat(),
    )
    return minted


def _cached_token(installation: GitHubInstallation, now: Any) -> github_app.AccessToken | None:
    expires = installation.token_expires_at
    if not installation.encrypted_token or expires is None or expires - TOKEN_REFRESH_MARGIN <= now:
        return None
    try:
        token = decrypt_secrets(installation.encrypted_token).get("token")
    except SecretDecryptionError:
        return None  # encrypted with a key that is gone: mint another
    return github_app.AccessToken(token, expires) if isinstance(token, str) and token else None


def _record_refusal(installation: GitHubInstallation, **fields: Any) -> None:
    """What GitHub said of the installation, for GET /integrations; the cached token is
    dropped (GitHub refuses it too)."""
    GitHubInstallation.objects.filter(pk=installation.pk).update(
        encrypted_token="", token_expires_at=None, updated_at=timezone.now(), **fields
    )
    logger.warning(
        "integrations.installation_refused installation=%s %s",
        installation.installation_id,
        " ".join(f"{k}={v.isoformat()}" for k, v in fields.items()),
    )


class InstallationTokens:
    """The `TokenProvider` of one connector: its installation's tokens, kept in memory until
    TOKEN_REFRESH_MARGIN before they expire."""

    def __init__(self, *, account_id: Any, installation_id: int) -> None:
        self.account_id = account_id
        self.installation_id = installation_id
        self._current: github_app.AccessToken | None = None
        # Once GitHub has said the grant is gone, every stream of the sync hears it again
        # without asking GitHub again.
        self._gone: str | None = None

    def access_token(self, *, refresh: bool = False) -> str:
        if self._gone is not None:
            raise ReauthorizeRequiredError(self._gone)
        current = self._current
        if (
            not refresh
            and current is not None
            and current.expires_at - TOKEN_REFRESH_MARGIN > timezone.now()
        ):
            return current.token
        try:
            self._current = installation_access_token(
                account_id=self.account_id, installation_id=self.installation_id, refresh=refresh
            )
        except ReauthorizeRequiredError as error:
            self._gone = error.message
            raise
        finally:
            release_thread_connection()
        return self._current.token


class GitHubInstallationBinding:
    """The `CredentialBinding` of `github_app_installation` (connectors/credentials.py)."""

    def config_issues(self, *, account_id: Any, config: dict[str, Any]) -> list[ConfigIssue]:
        installation_id = config.get("installation_id")
        if not isinstance(installation_id, int) or isinstance(installation_id, bool):
            return []  # the spec's own check reports it
        connected = GitHubInstallation.objects.filter(
            account_id=account_id, installation_id=installation_id
        ).exists()
        if connected:
            return []
        return [
            ConfigIssue(
                "installation_id",
                "No GitHub installation with this id is connected to this account: connect "
                "GitHub (GET /integrations/github/install), then GET /integrations lists its "
                "installations.",
                "not_found",
            )
        ]

    def bind(
        self, *, account_id: Any, config: dict[str, Any]
    ) -> tuple[dict[str, Any], InstallationTokens]:
        problem = github_app.configuration_problem()
        if problem:
            raise ConfigError(f"GitHub is not configured on this server: {problem}")
        tokens = InstallationTokens(
            account_id=account_id, installation_id=int(config["installation_id"])
        )
        return {**config, "api_url": settings.GITHUB_API_URL}, tokens
