"""Reads of an account's integrations, and of the connectors that use them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from connectors.framework import registry
from connectors.models import Connector
from integrations.credentials import GITHUB_APP_INSTALLATION
from integrations.models import GitHubInstallation
from landed.accounts.models import Account

PROVIDERS = ("github",)


def github_installation_list(*, account: Account) -> QuerySet[GitHubInstallation]:
    return GitHubInstallation.objects.filter(account=account).order_by("-connected_at", "id")


def installation_connector_types() -> list[str]:
    """The connector types that read through a GitHub installation."""
    return [
        name
        for name, cls in registry.source_types().items()
        if cls.spec.credentials == GITHUB_APP_INSTALLATION
    ]


def connectors_using_installations(
    *, account_id: Any, installation_ids: Iterable[int]
) -> list[Connector]:
    """The account's connectors that name one of the installations, by name."""
    wanted = set(installation_ids)
    candidates = Connector.objects.filter(
        account_id=account_id, type__in=installation_connector_types()
    ).order_by("name")
    return [c for c in candidates if c.config.get("installation_id") in wanted]
