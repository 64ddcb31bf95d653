"""The operators' page of GitHub installations: what each account connected, and its status.
Read-only: installations come and go through GitHub's install flow; the cached token is never
shown."""

from __future__ import annotations

from django.contrib import admin

from integrations.models import GitHubInstallation
from landed.admin_mixins import ReadOnlyAdminMixin


@admin.register(GitHubInstallation)
class GitHubInstallationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "installation_id",
        "account_login",
        "account",
        "repository_selection",
        "status",
        "connected_at",
        "suspended_at",
        "revoked_at",
    )
    list_select_related = ("account",)
    search_fields = ("account_login", "account__name", "installation_id")
    fields = (
        "account",
        "installation_id",
        "github_account_id",
        "account_login",
        "account_type",
        "repository_selection",
        "permissions",
        "connected_at",
        "updated_at",
        "suspended_at",
        "revoked_at",
        "token_expires_at",
    )
    readonly_fields = fields
