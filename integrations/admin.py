"""The operators' pages of GitHub installations and OAuth grants: what each account connected,
and its status. Read-only: both come and go through their providers' flows; tokens are never
shown."""

from __future__ import annotations

from django.contrib import admin

from integrations.models import GitHubInstallation, OAuthGrant
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


@admin.register(OAuthGrant)
class OAuthGrantAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "provider",
        "account",
        "status",
        "created_at",
        "refreshed_at",
        "access_expires_at",
        "revoked_at",
    )
    list_filter = ("provider", "status")
    list_select_related = ("account",)
    search_fields = ("id", "account__name")
    fields = (
        "account",
        "provider",
        "status",
        "scopes",
        "external_account",
        "created_at",
        "updated_at",
        "refreshed_at",
        "access_expires_at",
        "revoked_at",
        "revoked_reason",
    )
    readonly_fields = fields
