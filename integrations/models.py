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
