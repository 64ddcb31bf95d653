"""Writes of alert groups, notification policies and notifications, and the policy test."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from connectors.models import Connector
from landed.accounts.models import Account
from landed.api.errors import ConflictError, RequestValidationError
from landed.api.validation import invalid
from webhooks.alerts import channels, evaluation
from webhooks.alerts.models import (
    AlertGroup,
    Condition,
    Notification,
    NotificationPolicy,
    PolicyScope,
)
from webhooks.models import WebhookEndpoint

logger = logging.getLogger("webhooks.alerts")


def _connectors_of(account: Account, connector_ids: list[Any], loc: list[Any]) -> list[Any]:
    """The ids, each checked to be one of the account's connectors (422 at `loc` + index)."""
    owned = set(
        Connector.objects.filter(account=account, id__in=connector_ids).values_list("id", flat=True)
    )
    problems = [
        {"loc": ["body", *loc, index], "msg": "Connector not found.", "type": "connector_not_found"}
        for index, connector_id in enumerate(connector_ids)
        if connector_id not in owned
    ]
    if problems:
        raise RequestValidationError(problems)
    return list(dict.fromkeys(connector_ids))


# --- Groups ----------------------------------------------------------------------------------
def _save_group(group: AlertGroup, *, force_insert: bool = False) -> None:
    try:
        with transaction.atomic():
            group.save(force_insert=force_insert)
    except IntegrityError as exc:
        raise ConflictError(
            "An alert group with this name already exists.", "Group names are unique per account."
        ) from exc


def alert_group_create(
    *,
    account: Account,
    name: str,
    description: str = "",
    connector_ids: list[Any] | None = None,
) -> AlertGroup:
    members = _connectors_of(account, connector_ids or [], ["connector_ids"])
    with transaction.atomic():
        group = AlertGroup(account=account, name=name, description=description)
        _save_group(group, force_insert=True)
        group.connectors.set(members)
    logger.info("webhooks.alert_group_created group=%s", group.id)
    return group


def alert_group_update(*, group: AlertGroup, data: dict[str, Any]) -> AlertGroup:
    """Name and description; `connector_ids`, when given, replaces the members."""
    members = None
    if "connector_ids" in data:
        members = _connectors_of(group.account, data["connector_ids"], ["connector_ids"])
    with transaction.atomic():
        for field in ("name", "description"):
            if field in data:
                setattr(group, field, data[field])
        _save_group(group)
        if members is not None:
            group.connectors.set(members)
    return group


def alert_group_delete(*, group: AlertGroup) -> None:
    try:
        with transaction.atomic():
            group.delete()
    except ProtectedError as exc:
        names = ", ".join(sorted(p.name for p in group.policies.all()))
        raise ConflictError(
            "The alert group is used by notification policies.",
            f"Delete these policies or change their scope first: {names}.",
        ) from exc


def alert_group_connector_add(*, group: AlertGroup, connector_id: Any) -> None:
    """Idempotent: a member already is one."""
    if not Connector.objects.filter(account_id=group.account_id, id=connector_id).exists():
        raise invalid(["connector_id"], "Connector not found.", "connector_not_found")
    group.connectors.add(connector_id)
    AlertGroup.objects.filter(id=group.id).update(updated_at=timezone.now())


def alert_group_connector_remove(*, group: AlertGroup, connector_id: Any) -> None:
    """Idempotent: removing a connector that is not a member does nothing."""
    group.connectors.remove(connector_id)
    AlertGroup.objects.filter(id=group.id).update(updated_at=timezone.now())


# --- Policies --------------------------------------------------------------------------------
_CHANNEL_FIELDS = {
    "in_app": "notify_in_app",
    "email_recipients": "email_recipients",
    "webhook_id": "webhook_endpoint_id",
}


def _merged(policy: NotificationPolicy | None, data: dict[str, Any]) -> dict[str, Any]:
    """The policy's fields after applying `data` (API names; `channels` flattened). Fields
    that stop applying (freshness without `data_stale`, a group or connector the new scope
    does not take) are cleared, unless `data` sets them."""
    current: dict[str, Any] = {
        "name": None,
        "enabled": True,
        "conditions": [],
        "consecutive_failures": 3,
        "freshness_minutes": None,
        "scope": PolicyScope.ALL,
        "group_id": None,
        "connector_id": None,
        "in_app": True,
        "email_recipients": [],
        "webhook_id": None,
        "cooldown_minutes": 60,
    }
    if policy is not None:
        for key in current:
            source = _CHANNEL_FIELDS.get(key, key)
            current[key] = getattr(policy, source)
    given = {key: value for key, value in data.items() if key != "channels"}
    channels_given = data.get("channels") or {}
    merged = {**current, **given, **channels_given}
    if Condition.DATA_STALE not in merged["conditions"] and "freshness_minutes" not in given:
        merged["freshness_minutes"] = None
    if merged["scope"] != PolicyScope.GROUP and "group_id" not in given:
        merged["group_id"] = None
    if merged["scope"] != PolicyScope.CONNECTOR and "connector_id" not in given:
        merged["connector_id"] = None
    return merged


def policy_validate(*, account: Account, merged: dict[str, Any]) -> dict[str, Any]:
    """Rules across fields, and ownership of what the policy names; 422 with every problem.
    The API and the admin's policy form both apply them. Returns the model's fields."""
    problems: list[dict[str, Any]] = []

    def problem(loc: list[Any], msg: str, kind: str = "value_error") -> None:
        problems.append({"loc": ["body", *loc], "msg": msg, "type": kind})

    stale = Condition.DATA_STALE in merged["conditions"]
    if stale and merged["freshness_minutes"] is None:
        problem(["freshness_minutes"], "Required when conditions include data_stale.", "missing")
    if not stale and merged["freshness_minutes"] is not None:
        problem(["freshness_minutes"], "Only allowed when conditions include data_stale.")

    scope = merged["scope"]
    group = connector = endpoint = None
    if scope == PolicyScope.GROUP:
        if merged["group_id"] is None:
            problem(["group_id"], "Required when scope is group.", "missing")
        else:
            group = AlertGroup.objects.filter(account=account, id=merged["group_id"]).first()
            if group is None:
                problem(["group_id"], "Alert group not found.", "group_not_found")
    elif merged["group_id"] is not None:
        problem(["group_id"], "Only allowed when scope is group.")
    if scope == PolicyScope.CONNECTOR:
        if merged["connector_id"] is None:
            problem(["connector_id"], "Required when scope is connector.", "missing")
        else:
            connector = Connector.objects.filter(account=account, id=merged["connector_id"]).first()
            if connector is None:
                problem(["connector_id"], "Connector not found.", "connector_not_found")
    elif merged["connector_id"] is not None:
        problem(["connector_id"], "Only allowed when scope is connector.")

    if merged["webhook_id"] is not None:
        endpoint = WebhookEndpoint.objects.filter(account=account, id=merged["webhook_id"]).first()
        if endpoint is None:
            problem(["channels", "webhook_id"], "Webhook endpoint not found.", "webhook_not_found")
    if not (merged["in_app"] or merged["email_recipients"] or merged["webhook_id"]):
        problem(
            ["channels"],
            "At least one channel is required: in_app, email_recipients or webhook_id.",
            "missing_channel",
        )
    if problems:
        raise RequestValidationError(problems)
    return {
        "name": merged["name"],
        "enabled": merged["enabled"],
        "conditions": list(merged["conditions"]),
        "consecutive_failures": merged["consecutive_failures"],
        "freshness_minutes": merged["freshness_minutes"],
        "scope": scope,
        "group": group,
        "connector": connector,
        "notify_in_app": merged["in_app"],
        "email_recipients": list(merged["email_recipients"]),
        "webhook_endpoint": endpoint,
        "cooldown_minutes": merged["cooldown_minutes"],
    }


def _save_policy(policy: NotificationPolicy, *, force_insert: bool = False) -> None:
    try:
        with transaction.atomic():
            policy.save(force_insert=force_insert)
    except IntegrityError as exc:
        raise ConflictError(
            "A notification policy with this name already exists.",
            "Policy names are unique per account.",
        ) from exc


def policy_create(*, account: Account, data: dict[str, Any]) -> NotificationPolicy:
    """`data` as the API takes it: flat fields and a `channels` object."""
    fields = policy_validate(account=account, merged=_merged(None, data))
    policy = NotificationPolicy(account=account, **fields)
    _save_policy(policy, force_insert=True)
    logger.info("webhooks.policy_created policy=%s", policy.id)
    return policy


def policy_update(*, policy: NotificationPolicy, data: dict[str, Any]) -> NotificationPolicy:
    """A partial update, validated as a whole once merged."""
    fields = policy_validate(account=policy.account, merged=_merged(policy, data))
    for name, value in fields.items():
        setattr(policy, name, value)
    _save_policy(policy)
    return policy


def policy_delete(*, policy: NotificationPolicy) -> None:
    """Its notifications stay (without the policy)."""
    policy.delete()


def policy_test(*, policy: NotificationPolicy) -> dict[str, Any]:
    """A test notification through every channel of the policy now, whatever its cooldown:
    the in-app row, the webhook event and the email, made by alert evaluation's own code (a
    test fails where evaluation would). The email is also sent here, not only by a worker, so
    that the answer says whether it went out."""
    notification, event = evaluation.policy_fire_test(policy=policy)
    recipients = list(notification.email_recipients)
    emailed: list[str] = []
    email_error = None
    if recipients:
        try:
            channels.notification_email_send(notification_id=notification.id)
            emailed = recipients
        except Exception as exc:  # SMTP refused, unreachable, misconfigured...
            logger.warning("webhooks.policy_test_email_failed policy=%s", policy.id, exc_info=True)
            email_error = f"{type(exc).__name__}: {exc}"[:500]
    return {
        "notification_id": notification.id,
        "in_app": policy.notify_in_app,
        "emailed": emailed,
        "email_error": email_error,
        "webhook_event_id": event.id if event is not None else None,
    }


# --- Notifications ---------------------------------------------------------------------------
def notification_read(*, notification: Notification) -> Notification:
    """Idempotent: a read notification keeps its first read time."""
    if notification.read_at is None:
        now = timezone.now()
        Notification.objects.filter(id=notification.id, read_at__isnull=True).update(read_at=now)
        notification.refresh_from_db(fields=["read_at"])
    return notification


def notifications_read_all(*, account: Account) -> int:
    return Notification.objects.filter(account=account, in_app=True, read_at__isnull=True).update(
        read_at=timezone.now()
    )
