"""Integrations an account connects: GitHub App installations.

An installation is GitHub's grant of the App's access to one GitHub user's or organization's
repositories (all of them, or those picked). The row is created when GitHub sends the browser
back from installing the App, after GitHub confirms the installation exists; `github` connectors
name it by `installation_id`. Its access tokens are minted on demand and cached here, encrypted
(landed/security/secrets.py), until shortly before they expire.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from landed.accounts.models import Account


class InstallationStatus(models.TextChoices):
    ACTIVE = "active"
    # Suspended by the GitHub account's owner (or GitHub): tokens are refused until resumed.
    SUSPENDED = "suspended"
    # GitHub no longer knows it (the App was uninstalled): install the App again.
    REVOKED = "revoked"


class GitHubInstallation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="github_installations"
    )
    # GitHub's id: one installation is connected to one Landed account at most.
    installation_id = models.BigIntegerField(unique=True)
    # The GitHub user or organization the App is installed on.
    github_account_id = models.BigIntegerField(null=True, blank=True)
    account_login = models.CharField(max_length=255, blank=True)
    account_type = models.CharField(max_length=50, blank=True)
    # "all" repositories of the GitHub account, or the "selected" ones.
    repository_selection = models.CharField(max_length=20, blank=True)
    permissions = models.JSONField(default=dict, blank=True)
    connected_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    # When GitHub answered that it knows the installation no more.
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The cached access token ({"token": ...}, encrypted) and when GitHub expires it.
    encrypted_token = models.TextField(blank=True, default="", editable=False)
    token_expires_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-connected_at", "id"]
        verbose_name = "GitHub installation"
        constraints = [
            # The App can be installed once on a GitHub account: installed again (after an
            # uninstall), the account's row is updated with the new installation id.
            models.UniqueConstraint(
                fields=["account", "github_account_id"], name="github_installation_account_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_login or '?'} ({self.installation_id})"

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return InstallationStatus.REVOKED
        if self.suspended_at is not None:
            return InstallationStatus.SUSPENDED
        return InstallationStatus.ACTIVE


class OAuthProvider(models.TextChoices):
    """The SaaS providers whose sources read with an OAuth grant (GET /connectors/oauth/...)."""

    SLACK = "slack", "Slack"
    MICROSOFT = "microsoft", "Microsoft 365"
    SALESFORCE = "salesforce", "Salesforce"
    HUBSPOT = "hubspot", "HubSpot"
    SHOPIFY = "shopify", "Shopify"


class OAuthGrantStatus(models.TextChoices):
    ACTIVE = "active"
    # The provider refused the grant (revoked, expired refresh token, app uninstalled): only
    # authorizing again restores it.
    REAUTHORIZE_REQUIRED = "reauthorize_required"


class OAuthGrant(models.Model):
    """What a person granted an account at a provider: the tokens a connector reads with.

    Connectors name it in their config (`credential_id`); the tokens never leave the server.
    Authorizing again for a connector updates its grant in place, so that the connector keeps
    its id, streams and state. A grant is also handed out once, right after the callback, by
    a short-lived single-use result code (GET /connectors/oauth/result)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="oauth_grants")
    provider = models.CharField(max_length=20, choices=OAuthProvider.choices)
    status = models.CharField(
        max_length=30, choices=OAuthGrantStatus.choices, default=OAuthGrantStatus.ACTIVE
    )
    # {"access_token", "refresh_token"}, encrypted (landed/security/secrets.py).
    encrypted_tokens = models.TextField(editable=False)
    # When the access token expires (None: the provider does not say, or it does not expire).
    access_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    scopes = models.TextField(blank=True, default="")
    # Who and where at the provider, none of it secret: Slack's team, Salesforce's instance
    # URL and org, Shopify's shop, HubSpot's portal. `id` names the provider's account, to
    # refuse re-linking a connector to another one.
    external_account = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    refreshed_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.TextField(blank=True, default="")
    # The single-use result code of the callback that produced (or re-linked) this grant.
    result_code_hash = models.CharField(
        max_length=64, null=True, blank=True, unique=True, editable=False
    )
    result_expires_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "id"]
        verbose_name = "OAuth grant"

    def __str__(self) -> str:
        return f"{self.get_provider_display()} grant {self.id}"


class OAuthFlow(models.Model):
    """One authorization in progress: what the callback needs besides the `state` it gets
    back (which is only a signed reference to this row), spent once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    state_hash = models.CharField(max_length=64, unique=True)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=20, choices=OAuthProvider.choices)
    # PKCE's verifier, where the provider takes PKCE.
    code_verifier = models.CharField(max_length=128, blank=True, default="")
    # The callback URL sent to the provider; the code exchange must repeat it.
    redirect_uri = models.TextField()
    # The frontend origin the callback page posts the result code to.
    opener_origin = models.TextField()
    # Provider parameters: Shopify's shop domain, Salesforce's login host, the scopes asked.
    params = models.JSONField(default=dict, blank=True)
    # Set when the authorization re-links an existing connector.
    connector_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "OAuth flow"

    def __str__(self) -> str:
        return f"{self.provider} authorization {self.id}"
