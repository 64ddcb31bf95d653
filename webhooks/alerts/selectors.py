"""Reads of alert groups, notification policies and notifications, and which policies apply
to a connector (the one scope rule, shared by evaluation and the resolve preview)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from connectors.models import Connector
from landed.accounts.models import Account
from landed.api.errors import NotFoundError
from webhooks.alerts.models import (
    AlertGroup,
    Condition,
    Notification,
    NotificationPolicy,
    PolicyScope,
)


# --- Groups ----------------------------------------------------------------------------------
def alert_group_list(*, account: Account) -> QuerySet[AlertGroup]:
    return (
        AlertGroup.objects.filter(account=account)
        .annotate(connector_count=Count("connectors", distinct=True))
        .order_by("name", "id")
    )


def alert_group_get(*, account: Account, group_id: Any) -> AlertGroup:
    """The group with `connector_count` and its members (`connectors.all()`, by name)."""
    members = Connector.objects.only("id", "name", "type").order_by("name", "id")
    group = (
        alert_group_list(account=account)
        .filter(id=group_id)
        .prefetch_related(Prefetch("connectors", queryset=members))
        .first()
    )
    if group is None:
        raise NotFoundError("Alert group not found")
    return group


# --- Policies --------------------------------------------------------------------------------
def policy_list(*, account: Account) -> QuerySet[NotificationPolicy]:
    return NotificationPolicy.objects.filter(account=account).order_by("-created_at", "id")


def policy_get(*, account: Account, policy_id: Any) -> NotificationPolicy:
    policy = policy_list(account=account).filter(id=policy_id).first()
    if policy is None:
        raise NotFoundError("Notification policy not found")
    return policy


def _scope_matches(connector_id: Any | None) -> Q:
    """Policies that cover the connector; with None, those that cover every connector."""
    if connector_id is None:
        return Q(scope=PolicyScope.ALL)
    return (
        Q(scope=PolicyScope.ALL)
        | Q(scope=PolicyScope.CONNECTOR, connector_id=connector_id)
        | Q(scope=PolicyScope.GROUP, group__connectors__id=connector_id)
    )


def _watching(
    policies: Iterable[NotificationPolicy], conditions: list[str]
) -> list[NotificationPolicy]:
    """The policies that watch any of `conditions`.

    Matched here rather than in SQL: JSON containment (`conditions__contains`) exists on
    PostgreSQL only, and the embedded default runs on SQLite. An account has a handful of
    policies, so reading them all costs less than the query it replaces."""
    wanted = set(conditions)
    return [p for p in policies if wanted.intersection(p.conditions or [])]


def policies_applying(
    *, account_id: Any, connector_id: Any | None, conditions: list[str]
) -> list[NotificationPolicy]:
    """The account's enabled policies that cover the connector (None: every connector) and
    watch any of `conditions`, in one query."""
    if not conditions:
        return []
    policies = (
        NotificationPolicy.objects.filter(account_id=account_id, enabled=True)
        .filter(_scope_matches(connector_id))
        .select_related("webhook_endpoint")
        .distinct()
        .order_by("created_at", "id")
    )
    return _watching(policies, conditions)


def policies_resolve(*, account: Account, connector_id: Any) -> dict[str, Any]:
    """Which of the account's policies cover a connector, and how: the enabled ones under
    `policies`, the disabled ones that would under `disabled`."""
    connector = Connector.objects.filter(account=account, id=connector_id).only("id").first()
    if connector is None:
        raise NotFoundError("Connector not found")
    matching = (
        policy_list(account=account)
        .filter(_scope_matches(connector.id))
        .select_related("group")
        .distinct()
    )
    applies: list[dict[str, Any]] = []
    disabled: list[dict[str, Any]] = []
    for policy in matching:
        entry = {
            "policy": policy,
            "matched_by": policy.scope,
            "group": (
                {"id": policy.group.id, "name": policy.group.name}
                if policy.scope == PolicyScope.GROUP and policy.group is not None
                else None
            ),
        }
        (applies if policy.enabled else disabled).append(entry)
    return {"connector_id": connector.id, "policies": applies, "disabled": disabled}


def policies_watching(*, condition: Condition | str) -> list[NotificationPolicy]:
    """Enabled policies of every account that watch `condition`."""
    policies = NotificationPolicy.objects.filter(enabled=True)
    if condition == Condition.DATA_STALE:
        # Narrowed in SQL: `freshness_minutes` is set exactly when `data_stale` is watched
        # (policy_validate), so the freshness check reads only those policies.
        policies = policies.filter(freshness_minutes__isnull=False)
    policies = policies.select_related("webhook_endpoint").order_by("created_at", "id")
    return _watching(policies.iterator(), [str(condition)])


# --- Notifications ---------------------------------------------------------------------------
def notification_list(*, account: Account, unread: bool | None = None) -> QuerySet[Notification]:
    """The account's in-app notifications, newest first."""
    notifications = Notification.objects.filter(account=account, in_app=True)
    if unread is True:
        notifications = notifications.filter(read_at__isnull=True)
    elif unread is False:
        notifications = notifications.filter(read_at__isnull=False)
    return notifications.order_by("-created_at", "id")


def notification_get(*, account: Account, notification_id: Any) -> Notification:
    notification = notification_list(account=account).filter(id=notification_id).first()
    if notification is None:
        raise NotFoundError("Notification not found")
    return notification


def notification_unread_count(*, account: Account) -> int:
    return notification_list(account=account, unread=True).count()
