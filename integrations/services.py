"""Connecting and disconnecting integrations: the GitHub App's install flow.

`GET /integrations/github/install` hands out the App's install URL with a `state` signed for
the account (Django's signing, salted, valid GITHUB_APP_STATE_MAX_AGE_SECONDS). GitHub sends
the browser back to the App's setup URL, the callback, with that state, the `installation_id`
and the `setup_action`; the callback trusts none of it until it has checked the signature and
asked GitHub, as the App, whether the installation exists. Then it stores the installation:
once per installation id (an update, or the same install again, updates the row), once per
GitHub account of an account (installed again after an uninstall, GitHub gives a new id: the
row and the connectors naming the old id move to the new one).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone

from connectors import services as connector_services
from connectors.models import Connector
from integrations import github_app
from integrations.models import GitHubInstallation
from integrations.selectors import (
    PROVIDERS,
    connectors_using_installations,
    installation_connector_types,
)
from landed.accounts.models import Account
from landed.api.errors import (
    ApplicationError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotConfiguredError,
    NotFoundError,
    UpstreamError,
)

logger = logging.getLogger("integrations")

_STATE_SALT = "landed.integrations.github.install"


class CallbackError(BadRequestError):
    """A callback GitHub did not send as it should: its state missing, forged or too old, the
    user's authorization missing or refused. `code` is what the frontend is told."""

    def __init__(self, message: str, detail: str, *, code: str) -> None:
        super().__init__(message, detail)
        self.code = code


def github_require_configured() -> None:
    """503 until the App is configured on this server."""
    problem = github_app.configuration_problem()
    if problem:
        logger.warning("integrations.github_not_configured %s", problem)
        raise NotConfiguredError(
            "GitHub is not configured",
            "This server has no GitHub App configured (GITHUB_APP_ID, GITHUB_APP_SLUG, "
            "GITHUB_APP_PRIVATE_KEY_PATH); ask its operator.",
        )


def github_install_url(*, account: Account) -> str:
    """The App's install page, with a state that brings the installation back to `account`."""
    github_require_configured()
    # A nonce, so that no two states are alike (the signature's timestamp is to the second).
    payload = {"account": str(account.id), "nonce": secrets.token_urlsafe(8)}
    state = signing.dumps(payload, salt=_STATE_SALT, compress=True)
    return github_app.install_url(state)


def _state_account(state: str | None) -> Account:
    if not state:
        raise CallbackError(
            "Missing state",
            "Start the installation from GET /integrations/github/install.",
            code="invalid_state",
        )
    try:
        payload = signing.loads(
            state, salt=_STATE_SALT, max_age=settings.GITHUB_APP_STATE_MAX_AGE_SECONDS
        )
    except signing.SignatureExpired as exc:
        raise CallbackError(
            "Expired state",
            "The installation took too long; start it again from GET /integrations/github/install.",
            code="expired_state",
        ) from exc
    except signing.BadSignature as exc:
        raise CallbackError(
            "Invalid state",
            "The state was not issued by this server; start the installation from "
            "GET /integrations/github/install.",
            code="invalid_state",
        ) from exc
    account_id = payload.get("account") if isinstance(payload, dict) else None
    account = Account.objects.filter(id=account_id).first() if account_id else None
    if account is None:
        raise CallbackError(
            "Invalid state", "The account the installation was for is gone.", code="invalid_state"
        )
    return account


@dataclass
class ConnectOutcome:
    """`connected` (a new installation), `updated` (one known already), `requested` (an
    organization member asked its owners to install the App: nothing to store yet)."""

    status: str
    installation: GitHubInstallation | None = None
    connectors: list[Connector] = field(default_factory=list)


def github_installation_connect(
    *,
    state: str | None,
    installation_id: int | None,
    setup_action: str | None,
    code: str | None = None,
) -> ConnectOutcome:
    """The install callback: the state checked, the installing user's access to the
    installation checked (when the App's client id and secret are set), the installation
    confirmed by GitHub, then stored (module docstring)."""
    github_require_configured()
    if not state and setup_action == "update" and installation_id is not None:
        connected = GitHubInstallation.objects.filter(installation_id=installation_id).first()
        if connected is not None:
            # Changed on GitHub (its "Configure" page, with "Redirect on update"): there is no
            # state, the change did not start here. Only GitHub's own description of an
            # installation already connected is read again; nothing is granted to anyone.
            return _installation_store(
                connected.account, installation_id, _installation_details(installation_id)
            )
    account = _state_account(state)
    if setup_action == "request":
        logger.info("integrations.github_install_requested account=%s", account.id)
        return ConnectOutcome("requested")
    if installation_id is None:
        raise BadRequestError(
            "Missing installation_id", "GitHub sends it back after the App is installed."
        )
    if github_app.verifies_installer():
        _check_installer(installation_id, code)
    details = _installation_details(installation_id)
    outcome = _installation_store(account, installation_id, details)
    logger.info(
        "integrations.github_connected account=%s installation=%s status=%s connectors=%s",
        account.id,
        installation_id,
        outcome.status,
        len(outcome.connectors),
    )
    return outcome


def _check_installer(installation_id: int, code: str | None) -> None:
    """The user who came back from GitHub can reach the installation (a forged
    installation_id names someone else's)."""
    if not code:
        raise CallbackError(
            "Missing code",
            "GitHub sends a code when the App requests user authorization during installation "
            "(the App's settings on GitHub); start again from GET /integrations/github/install.",
            code="authorization_required",
        )
    try:
        reachable = github_app.user_installation_ids(code)
    except github_app.UserAuthorizationRefused as exc:
        raise CallbackError(
            "GitHub refused the authorization", exc.message, code="authorization_refused"
        ) from exc
    except github_app.GitHubAppError as exc:
        raise UpstreamError(
            "GitHub is unavailable", f"Could not check the installing user: {exc.message}"
        ) from exc
    if installation_id not in reachable:
        logger.warning(
            "integrations.github_installation_not_reachable installation=%s", installation_id
        )
        raise InstallationNotReachableError(installation_id)


class InstallationNotReachableError(ForbiddenError):
    def __init__(self, installation_id: int) -> None:
        super().__init__(
            "The installation is not yours",
            f"The GitHub user who came back from GitHub cannot reach installation "
            f"{installation_id}.",
        )
        self.code = "installation_not_reachable"


def _installation_details(installation_id: int) -> dict[str, Any]:
    try:
        return github_app.installation_get(installation_id)
    except github_app.InstallationNotFound as exc:
        raise UnknownInstallationError(installation_id) from exc
    except github_app.GitHubAppNotConfigured as exc:
        raise NotConfiguredError("GitHub is not configured", exc.message) from exc
    except github_app.GitHubAppRefused as exc:
        raise UpstreamError(
            "GitHub refused this server's App credentials",
            "The server's GitHub App configuration needs fixing (its logs say more: "
            "integrations.github_refused).",
        ) from exc
    except github_app.GitHubAppError as exc:
        raise UpstreamError(
            "GitHub is unavailable",
            f"Could not confirm the installation with GitHub: {exc.message}",
        ) from exc


class UnknownInstallationError(BadRequestError):
    def __init__(self, installation_id: int) -> None:
        super().__init__(
            "Unknown installation",
            f"GitHub knows no installation {installation_id} of this server's App.",
        )
        self.code = "unknown_installation"


class InstallationClaimedError(ConflictError):
    def __init__(self) -> None:
        super().__init__(
            "The installation is connected to another account",
            "A GitHub installation is connected to one Landed account: disconnect it there "
            "first (DELETE /integrations/github).",
        )
        self.code = "installation_claimed"


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _installation_store(
    account: Account, installation_id: int, details: dict[str, Any]
) -> ConnectOutcome:
    owner = details.get("account") if isinstance(details.get("account"), dict) else {}
    owner_id = owner.get("id") if isinstance(owner.get("id"), int) else None
    with transaction.atomic():
        row = (
            GitHubInstallation.objects.select_for_update()
            .filter(installation_id=installation_id)
            .first()
        )
        if row is not None and row.account_id != account.id:
            raise InstallationClaimedError()
        moved_from = None
        if row is None and owner_id is not None:
            # Installed again on a GitHub account after an uninstall: a new id, the same grant.
            row = (
                GitHubInstallation.objects.select_for_update()
                .filter(account=account, github_account_id=owner_id)
                .first()
            )
            moved_from = row.installation_id if row is not None else None
        status = "updated" if row is not None else "connected"
        if row is None:
            row = GitHubInstallation(account=account, connected_at=timezone.now())
        row.installation_id = installation_id
        row.github_account_id = owner_id
        row.account_login = str(owner.get("login") or "")[:255]
        row.account_type = str(owner.get("type") or "")[:50]
        row.repository_selection = str(details.get("repository_selection") or "")[:20]
        permissions = details.get("permissions")
        row.permissions = permissions if isinstance(permissions, dict) else {}
        row.suspended_at = _instant(details.get("suspended_at"))
        row.revoked_at = None
        # Tokens carry the permissions and repositories of when they were minted.
        row.encrypted_token, row.token_expires_at = "", None
        row.save()
        if moved_from is not None:
            connector_services.connectors_config_replace(
                account_id=account.id,
                types=installation_connector_types(),
                field="installation_id",
                old=moved_from,
                new=installation_id,
            )
        connectors = connectors_using_installations(
            account_id=account.id, installation_ids=[installation_id]
        )
        # Authorized again: schedules stopped for reauthorization resume (syncs/selectors.py).
        connector_services.connectors_touch(connectors=connectors)
    return ConnectOutcome(status, row, connectors)


@dataclass
class DisconnectOutcome:
    provider: str
    installations: list[GitHubInstallation]
    connectors: list[Connector]


def integration_disconnect(
    *, account: Account, provider: str, installation_id: int | None = None, force: bool = False
) -> DisconnectOutcome:
    """Forget the account's installations of `provider` (or the one named). Refused (409)
    while connectors use them, unless `force`: their syncs then fail with
    `reauthorize_required` and their schedules stop until they are pointed at a connected
    installation. The App stays installed on GitHub (uninstalling it is the GitHub account
    owner's decision, in GitHub's settings)."""
    if provider not in PROVIDERS:
        raise NotFoundError("Unknown integration provider", f"Providers: {', '.join(PROVIDERS)}.")
    with transaction.atomic():
        rows = GitHubInstallation.objects.select_for_update().filter(account=account)
        if installation_id is not None:
            rows = rows.filter(installation_id=installation_id)
        installations = list(rows)
        if not installations:
            raise NotFoundError(
                "No GitHub integration is connected",
                "GET /integrations lists what is connected."
                if installation_id is None
                else f"No installation {installation_id} is connected to this account.",
            )
        connectors = connectors_using_installations(
            account_id=account.id, installation_ids=[i.installation_id for i in installations]
        )
        if connectors and not force:
            raise IntegrationInUseError(connectors)
        GitHubInstallation.objects.filter(pk__in=[i.pk for i in installations]).delete()
    logger.info(
        "integrations.disconnected account=%s provider=%s installations=%s connectors=%s",
        account.id,
        provider,
        [i.installation_id for i in installations],
        len(connectors),
    )
    return DisconnectOutcome(provider, installations, connectors)


class IntegrationInUseError(ConflictError):
    def __init__(self, connectors: list[Connector]) -> None:
        super().__init__(
            "Connectors use this integration",
            {
                "connectors": [{"id": str(c.id), "name": c.name} for c in connectors],
                "hint": "Delete them or point them at another installation first, or "
                "disconnect anyway with ?force=true: their syncs then fail with "
                "reauthorize_required and their schedules stop.",
            },
        )


def callback_error_code(error: ApplicationError) -> str:
    """The short code the frontend gets for a failed callback (`?error=`)."""
    code = getattr(error, "code", None)
    if code:
        return str(code)
    return {
        400: "invalid_request",
        403: "forbidden",
        409: "conflict",
        422: "invalid_request",
        502: "github_unavailable",
        503: "not_configured",
    }.get(error.status_code, "error")
