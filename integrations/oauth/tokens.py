"""An OAuth grant's access tokens, for the SaaS sources that read with them.

The source sees a `TokenProvider` (connectors/framework/credentials.py): `GrantTokens` keeps
the access token in memory and, when it is about to expire or the API refused it, asks
`grant_access_token`, which refreshes it with the provider under a lock on the grant's row:
two workers syncing two connectors of one grant never spend one refresh token twice (a
provider that rotates refresh tokens, as Microsoft and Slack do, would refuse the second, and
the grant would look revoked). The new refresh token is stored in the same update as the new
access token.

A provider that refuses the refresh token (revoked, expired, the app uninstalled) marks the
grant `reauthorize_required` and raises `ReauthorizeRequiredError`: the sync fails without a
retry, the connector's schedule stops (syncs/schedule.py), `connector.reauthorize_required`
is raised for each connector of the grant, and authorizing again for the connector
(GET /connectors/oauth/{provider}/authorize?connector_id=...) re-links it.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from connectors.framework.base import ConfigError, ReauthorizeRequiredError, UnreachableError
from connectors.framework.spec import ConfigIssue
from connectors.models import Connector
from connectors.payloads import connector_data
from integrations.models import OAuthGrant, OAuthGrantStatus
from integrations.oauth.providers import PROVIDERS, GrantRefused, ProviderUnreachable, Shopify
from landed.db import release_thread_connection
from landed.security.secrets import SecretDecryptionError, decrypt_secrets, encrypt_secrets
from webhooks.events import EventType, event_raise

logger = logging.getLogger("integrations.oauth")

# The kind of credentials an OAuth source's spec names: `oauth_<provider>`.
KIND_PREFIX = "oauth_"
# The config field that names the grant (the credential reference of GET /connectors/oauth/result).
CREDENTIAL_FIELD = "credential_id"
# A token is refreshed this long before it expires: a page of a sync may take a while.
REFRESH_MARGIN = timedelta(minutes=5)


def credential_kind(provider: str) -> str:
    return f"{KIND_PREFIX}{provider}"


def _reauthorize_message(grant: OAuthGrant) -> str:
    provider = PROVIDERS[grant.provider]
    return (
        f"{provider.label} no longer honours this connector's authorization"
        f"{f' ({grant.revoked_reason})' if grant.revoked_reason else ''}. Authorize again: GET "
        f"/connectors/oauth/{grant.provider}/authorize?connector_id=<this connector's id>, "
        "then sync."
    )


def _valid(grant: OAuthGrant, now: Any) -> bool:
    return grant.access_expires_at is None or grant.access_expires_at - REFRESH_MARGIN > now


def grant_access_token(*, grant_id: Any, account_id: Any, rejected: str | None = None) -> str:
    """A valid access token of the account's grant. `rejected` is a token the provider's API
    refused: a new one is wanted, unless another worker has refreshed it meanwhile."""
    # The refusal is recorded in the transaction and raised after it commits (raised inside,
    # it would roll back the grant's new status and its events).
    with transaction.atomic():
        outcome = _token_or_refusal(grant_id, account_id, rejected)
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def _token_or_refusal(grant_id: Any, account_id: Any, rejected: str | None) -> str | Exception:
    # The lock: an UPDATE takes the row's write lock on PostgreSQL and the database's on
    # SQLite (where SELECT ... FOR UPDATE is a no-op), so refreshes of one grant queue up.
    locked = OAuthGrant.objects.filter(pk=grant_id, account_id=account_id).update(
        updated_at=F("updated_at")
    )
    grant = OAuthGrant.objects.filter(pk=grant_id).first() if locked else None
    if grant is None:
        return ReauthorizeRequiredError(
            "The OAuth authorization this connector names is gone (its credential_id is "
            "unknown to this account). Authorize again and update the connector."
        )
    if grant.status != OAuthGrantStatus.ACTIVE:
        return ReauthorizeRequiredError(_reauthorize_message(grant))
    try:
        tokens = decrypt_secrets(grant.encrypted_tokens)
    except SecretDecryptionError as exc:
        return ConfigError(str(exc))
    access = str(tokens.get("access_token") or "")
    now = timezone.now()
    if access and _valid(grant, now) and (rejected is None or rejected != access):
        return access
    refresh_token = str(tokens.get("refresh_token") or "")
    provider = PROVIDERS[grant.provider]
    if not refresh_token:
        # A token that cannot be refreshed (Shopify's offline tokens; Slack without token
        # rotation) and that the API refused: only a new authorization helps.
        _mark_reauthorize(grant, "the provider refused the access token", now)
        return ReauthorizeRequiredError(_reauthorize_message(grant))
    params = {k: str(v) for k, v in grant.external_account.items() if isinstance(v, str)}
    try:
        fresh = provider.refresh(refresh_token=refresh_token, params=params)
    except GrantRefused as exc:
        _mark_reauthorize(grant, f"refresh refused: {exc.error}", now)
        return ReauthorizeRequiredError(_reauthorize_message(grant))
    except ProviderUnreachable as exc:
        return UnreachableError(f"{provider.label} could not refresh the token: {exc}")
    OAuthGrant.objects.filter(pk=grant.pk).update(
        encrypted_tokens=encrypt_secrets(fresh.secrets()),
        access_expires_at=fresh.expires_at,
        scopes=fresh.scope or grant.scopes,
        refreshed_at=now,
        updated_at=now,
    )
    logger.info(
        "integrations.oauth_refreshed provider=%s grant=%s expires_at=%s",
        grant.provider,
        grant.pk,
        fresh.expires_at.isoformat() if fresh.expires_at else "-",
    )
    return fresh.access_token


def _mark_reauthorize(grant: OAuthGrant, reason: str, now: Any) -> None:
    """The grant is gone: remember why, and tell every connector's subscribers once."""
    OAuthGrant.objects.filter(pk=grant.pk).update(
        status=OAuthGrantStatus.REAUTHORIZE_REQUIRED,
        revoked_at=now,
        revoked_reason=reason,
        updated_at=now,
    )
    grant.status = OAuthGrantStatus.REAUTHORIZE_REQUIRED
    grant.revoked_reason = reason
    for connector in connectors_of(grant):
        event_raise(
            account_id=grant.account_id,
            type=EventType.CONNECTOR_REAUTHORIZE_REQUIRED,
            data={
                "connector": connector_data(connector),
                "provider": grant.provider,
                "reason": reason,
            },
        )
    logger.warning(
        "integrations.oauth_reauthorize_required provider=%s grant=%s reason=%s",
        grant.provider,
        grant.pk,
        reason,
    )


def connectors_of(grant: OAuthGrant) -> list[Connector]:
    """The account's connectors that read with `grant` (config's credential_id)."""
    return list(
        Connector.objects.filter(
            account_id=grant.account_id, **{f"config__{CREDENTIAL_FIELD}": str(grant.pk)}
        )
    )


class GrantTokens:
    """The `TokenProvider` of one connector: its grant's access token, kept in memory until
    REFRESH_MARGIN before it expires."""

    def __init__(self, *, account_id: Any, grant_id: Any) -> None:
        self.account_id = account_id
        self.grant_id = grant_id
        self._token: str | None = None
        self._gone: str | None = None
        self._lock = threading.Lock()

    def access_token(self, *, refresh: bool = False) -> str:
        with self._lock:
            if self._gone is not None:
                raise ReauthorizeRequiredError(self._gone)
            if self._token is not None and not refresh:
                return self._token
            try:
                self._token = grant_access_token(
                    grant_id=self.grant_id,
                    account_id=self.account_id,
                    rejected=self._token if refresh else None,
                )
            except ReauthorizeRequiredError as error:
                self._gone = error.message
                raise
            finally:
                release_thread_connection()
            return self._token


class OAuthGrantBinding:
    """The `CredentialBinding` (connectors/credentials.py) of one provider's sources."""

    def __init__(self, provider: str) -> None:
        self.provider = provider

    def _grant(self, account_id: Any, config: dict[str, Any]) -> OAuthGrant | None:
        raw = config.get(CREDENTIAL_FIELD)
        if not isinstance(raw, str):
            return None
        try:
            return OAuthGrant.objects.filter(
                pk=raw, account_id=account_id, provider=self.provider
            ).first()
        except Exception:
            return None

    def config_issues(self, *, account_id: Any, config: dict[str, Any]) -> list[ConfigIssue]:
        if not isinstance(config.get(CREDENTIAL_FIELD), str):
            return []  # the spec's own check reports it
        if self._grant(account_id, config) is not None:
            return []
        label = PROVIDERS[self.provider].label
        return [
            ConfigIssue(
                CREDENTIAL_FIELD,
                f"No {label} authorization with this id belongs to this account: authorize "
                f"with GET /connectors/oauth/{self.provider}/authorize, then GET "
                "/connectors/oauth/result gives the credential_id.",
                "not_found",
            )
        ]

    def bind(self, *, account_id: Any, config: dict[str, Any]) -> tuple[dict[str, Any], Any]:
        provider = PROVIDERS[self.provider]
        provider.require_configured()
        grant = self._grant(account_id, config)
        if grant is None:
            raise ReauthorizeRequiredError(
                f"The {provider.label} authorization this connector names is gone. Authorize "
                "again and update the connector's credential_id."
            )
        return (
            {**config, **api_location(grant)},
            GrantTokens(account_id=account_id, grant_id=grant.pk),
        )


def api_location(grant: OAuthGrant) -> dict[str, str]:
    """Where the grant's API lives, for the source's config: a server setting, or the org's or
    shop's own URL the authorization named."""
    account = grant.external_account
    if grant.provider == "slack":
        return {"api_url": settings.SLACK_API_URL.rstrip("/")}
    if grant.provider == "hubspot":
        return {
            "api_url": settings.HUBSPOT_API_URL.rstrip("/"),
            "search_result_window": str(settings.HUBSPOT_SEARCH_RESULT_WINDOW),
        }
    if grant.provider == "microsoft":
        return {"api_url": f"{settings.MICROSOFT_GRAPH_URL.rstrip('/')}/v1.0"}
    if grant.provider == "salesforce":
        instance = str(account.get("instance_url") or "")
        return {
            "api_url": f"{instance}/services/data/v{settings.SALESFORCE_API_VERSION}",
            "instance_url": instance,
        }
    shop = str(account.get("shop") or account.get("id") or "")
    return {
        "api_url": f"{Shopify.shop_url(shop)}/admin/api/{settings.SHOPIFY_API_VERSION}",
        "shop": shop,
    }
