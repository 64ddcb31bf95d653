"""Alert policy evaluation: which conditions an event (or the freshness check) meets, for
which policies, and the one place a policy fires (cooldown, then the channels).

Runs inside the transaction that dispatches the event (`webhooks.dispatch.event_dispatch`),
once per event, so a notification and its webhook event commit with the dispatch mark.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from connectors.models import Connector
from syncs.models import JobStatus, SyncReceipt
from webhooks.alerts import channels
from webhooks.alerts.models import (
    AlertGroup,
    Condition,
    Notification,
    NotificationPolicy,
    PolicyFiring,
    PolicyScope,
)
from webhooks.alerts.selectors import policies_applying, policies_watching
from webhooks.events import EventType
from webhooks.models import Event

logger = logging.getLogger("webhooks.alerts")

# A notification keeps this many of a sync's schema changes (the receipt has them all).
MAX_CHANGES_KEPT = 50

# The conditions each event type can meet.
_EVENT_CONDITIONS: dict[str, list[str]] = {
    EventType.SYNC_FAILED: [Condition.SYNC_FAILED, Condition.CONSECUTIVE_FAILURES],
    EventType.SYNC_SUCCEEDED: [Condition.SYNC_RECOVERED],
    EventType.SCHEMA_CHANGED: [Condition.SCHEMA_CHANGED],
}


# --- Firing ----------------------------------------------------------------------------------
def policy_fire(
    *,
    policy: NotificationPolicy,
    connector_id: Any,
    condition: Condition | str,
    title: str,
    message: str,
    data: dict[str, Any],
    connector: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Notification | None:
    """Notify through every channel of `policy`, unless it notified about this connector's
    condition less than `cooldown_minutes` ago (then the firing is only counted as
    suppressed). Returns the notification, or None when suppressed."""
    now = now or timezone.now()
    condition = str(condition)
    with transaction.atomic():
        firing, created = PolicyFiring.objects.select_for_update().get_or_create(
            policy=policy,
            connector_id=connector_id,
            condition=condition,
            defaults={"last_notified_at": now},
        )
        suppressed = 0
        if not created:
            cooldown = timedelta(minutes=policy.cooldown_minutes)
            # Compared as durations: `now - cooldown` overflows for a cooldown of millennia
            # (the model allows one, and the admin could save it).
            if cooldown and now - firing.last_notified_at < cooldown:
                PolicyFiring.objects.filter(pk=firing.pk).update(suppressed=F("suppressed") + 1)
                logger.info(
                    "webhooks.alert_suppressed policy=%s connector=%s condition=%s",
                    policy.id,
                    connector_id,
                    condition,
                )
                return None
            suppressed = firing.suppressed
            firing.last_notified_at = now
            firing.suppressed = 0
            firing.save(update_fields=["last_notified_at", "suppressed"])
        connector_ref = connector or _connector_ref(connector_id)
        notification, _ = _notify(
            policy=policy,
            condition=condition,
            title=title,
            message=message,
            connector_id=connector_id,
            connector_data=(
                {"id": connector_ref["id"], "name": connector_ref["name"]}
                if connector_ref
                else {"id": str(connector_id), "name": None}
            ),
            # Firings within the cooldown since the previous notification.
            data={**data, "suppressed_since_last": suppressed},
            connector=connector_ref,
            now=now,
        )
    logger.info(
        "webhooks.alert_fired policy=%s connector=%s condition=%s notification=%s",
        policy.id,
        connector_id,
        condition,
        notification.id,
    )
    return notification


def _notify(
    *,
    policy: NotificationPolicy,
    condition: str,
    title: str,
    message: str,
    connector_id: Any | None,
    connector_data: dict[str, Any] | None,
    data: dict[str, Any],
    connector: dict[str, Any] | None,
    now: datetime,
) -> tuple[Notification, Event | None]:
    """The notification of a firing (or a test), sent through the policy's channels in the
    caller's transaction; with the webhook event it raised, if any."""
    notification = Notification.objects.create(
        account_id=policy.account_id,
        policy=policy,
        connector_id=connector_id,
        kind=condition,
        title=title[:300],
        message=message,
        data={
            "condition": condition,
            "connector": connector_data,
            "policy_id": str(policy.id),
            "policy_name": policy.name,
            **data,
        },
        in_app=policy.notify_in_app,
        email_recipients=list(policy.email_recipients or []),
        created_at=now,
    )
    event = channels.notification_deliver(
        policy=policy, notification=notification, condition=condition, connector=connector
    )
    return notification, event


def policy_fire_test(*, policy: NotificationPolicy) -> tuple[Notification, Event | None]:
    """A test notification of `policy` now, whatever its cooldown, made the way a firing is:
    the policy is looked up with the selector that picks the policies an event triggers (so a
    test cannot succeed where evaluation cannot run), and notified by the same code. The
    message says when the policy would not fire (disabled, or covering no connector yet)."""
    now = timezone.now()
    applying = policies_applying(
        account_id=policy.account_id,
        connector_id=_a_connector_covered(policy),
        conditions=list(policy.conditions or []),
    )
    message = (
        "This is a test of the notification policy's channels. Nothing happened to your connectors."
    )
    if not policy.enabled:
        message += " The policy is disabled: it notifies nothing until it is enabled."
    elif policy.id not in {p.id for p in applying}:
        message += " The policy covers no connector yet: it notifies nothing until it does."
    with transaction.atomic():
        return _notify(
            policy=policy,
            condition="test",
            title=f"Test notification: {policy.name}",
            message=message,
            connector_id=None,
            connector_data=None,
            data={},
            connector=None,
            now=now,
        )


def _a_connector_covered(policy: NotificationPolicy) -> Any | None:
    """The id of one of the connectors the policy's scope covers, if any."""
    connectors = Connector.objects.filter(account_id=policy.account_id)
    if policy.scope == PolicyScope.CONNECTOR:
        connectors = connectors.filter(id=policy.connector_id)
    elif policy.scope == PolicyScope.GROUP:
        connectors = connectors.filter(alert_groups__id=policy.group_id)
    return connectors.order_by("name", "id").values_list("id", flat=True).first()


def _connector_ref(connector_id: Any) -> dict[str, Any] | None:
    row = Connector.objects.filter(id=connector_id).values("id", "name", "type").first()
    if row is None:
        return None
    return {"id": str(row["id"]), "name": row["name"], "type": row["type"]}


# --- Events ----------------------------------------------------------------------------------
def alerts_for_event(*, event: Event) -> int:
    """Evaluate the policies an event can trigger; returns how many notifications fired."""
    conditions = _EVENT_CONDITIONS.get(event.type)
    if not conditions:
        return 0
    data = event.data or {}
    if event.type == EventType.SYNC_FAILED and data.get("retry_job_id"):
        return 0  # it will be tried again: not a failure yet
    connector_id = (data.get("connector") or {}).get("id")
    if not connector_id:
        return 0
    connector = (
        Connector.objects.filter(id=connector_id, account_id=event.account_id)
        .values("id", "name", "type")
        .first()
    )
    if connector is None:
        return 0  # deleted since: nobody needs alerts about it any more
    ref = {"id": str(connector["id"]), "name": connector["name"], "type": connector["type"]}
    policies = policies_applying(
        account_id=event.account_id, connector_id=connector["id"], conditions=conditions
    )
    if not policies:
        return 0
    if event.type == EventType.SYNC_FAILED:
        return _sync_failed(policies, ref, data)
    if event.type == EventType.SYNC_SUCCEEDED:
        return _sync_succeeded(policies, ref, data)
    return _schema_changed(policies, ref, data)


def _fired(notification: Notification | None) -> int:
    return 1 if notification is not None else 0


def _watching(policies: list[NotificationPolicy], condition: str) -> list[NotificationPolicy]:
    return [p for p in policies if condition in (p.conditions or [])]


def _job_finished_at(job: dict[str, Any]) -> datetime | None:
    value = job.get("finished_at")
    return parse_datetime(value) if isinstance(value, str) else None


def _sync_failed(
    policies: list[NotificationPolicy], connector: dict[str, Any], data: dict[str, Any]
) -> int:
    job = data.get("job") or {}
    error = job.get("error") or {}
    name = connector["name"]
    job_data = {"job_id": job.get("id"), "error": error or None}
    fired = 0
    for policy in _watching(policies, Condition.SYNC_FAILED):
        fired += _fired(
            policy_fire(
                policy=policy,
                connector_id=connector["id"],
                condition=Condition.SYNC_FAILED,
                title=f"Sync failed: {name}",
                message=_error_message(error, attempts=job.get("attempt")),
                data=job_data,
                connector=connector,
            )
        )
    consecutive = _watching(policies, Condition.CONSECUTIVE_FAILURES)
    if consecutive:
        failures = failed_runs_in_a_row(connector_id=connector["id"], until=_job_finished_at(job))
        for policy in consecutive:
            if failures < policy.consecutive_failures:
                continue
            fired += _fired(
                policy_fire(
                    policy=policy,
                    connector_id=connector["id"],
                    condition=Condition.CONSECUTIVE_FAILURES,
                    title=f"{name} failed {failures} times in a row",
                    message=f"The last {failures} syncs of {name} failed. Latest error: "
                    + _error_message(error, attempts=job.get("attempt")),
                    data={**job_data, "failures": failures},
                    connector=connector,
                )
            )
    return fired


def _error_message(error: dict[str, Any], *, attempts: Any) -> str:
    tried = f" after {attempts} attempts" if isinstance(attempts, int) and attempts > 1 else ""
    if not error:
        return f"The sync failed{tried}."
    where = f" (stream {error['stream']})" if error.get("stream") else ""
    kind = f"{error['type']}: " if error.get("type") else ""
    text = str(error.get("message") or "unknown error").rstrip(". ")
    return f"{kind}{text}{where}{tried}."


def failed_runs_in_a_row(*, connector_id: Any, until: datetime | None = None) -> int:
    """How many runs (all attempts of one sync) have failed for good since the connector's
    last succeeded receipt, up to `until`. A run counts by how its last attempt ended: one
    whose automatic retry was cancelled did not fail for good."""
    receipts = SyncReceipt.objects.filter(connector_id=connector_id)
    if until is not None:
        receipts = receipts.filter(finished_at__lte=until)
    last_success = receipts.filter(status=JobStatus.SUCCEEDED).aggregate(at=Max("finished_at"))[
        "at"
    ]
    if last_success is not None:
        receipts = receipts.filter(finished_at__gt=last_success)
    # A run's last attempt is the one no later attempt of the same run follows (by
    # finished_at, then id). Said with NOT EXISTS rather than DISTINCT ON, which only
    # PostgreSQL has.
    later_attempt = receipts.filter(run_id=OuterRef("run_id")).filter(
        Q(finished_at__gt=OuterRef("finished_at"))
        | Q(finished_at=OuterRef("finished_at"), id__gt=OuterRef("id"))
    )
    return receipts.filter(status=JobStatus.FAILED).exclude(Exists(later_attempt)).count()


def _sync_succeeded(
    policies: list[NotificationPolicy], connector: dict[str, Any], data: dict[str, Any]
) -> int:
    job = data.get("job") or {}
    previous = previous_run_status(
        connector_id=connector["id"], run_id=job.get("run_id"), until=_job_finished_at(job)
    )
    if previous != JobStatus.FAILED:
        return 0
    name = connector["name"]
    fired = 0
    for policy in _watching(policies, Condition.SYNC_RECOVERED):
        fired += _fired(
            policy_fire(
                policy=policy,
                connector_id=connector["id"],
                condition=Condition.SYNC_RECOVERED,
                title=f"{name} recovered",
                message=f"The latest sync of {name} succeeded after a failure.",
                data={"job_id": job.get("id")},
                connector=connector,
            )
        )
    return fired


# How far back the previous sync is looked for (a run of cancelled syncs longer than this
# counts as no previous sync).
PREVIOUS_RUN_LOOKBACK = 100


def previous_run_status(
    *, connector_id: Any, run_id: Any, until: datetime | None = None
) -> str | None:
    """How the connector's previous sync ended (succeeded or failed; cancelled ones do not
    count), before run `run_id`. A sync ended as its last attempt did: earlier attempts of
    the same run are not a previous sync (a failure that was retried and then succeeded is not
    a recovery), and a failure whose automatic retry was cancelled is a cancelled sync."""
    receipts = SyncReceipt.objects.filter(connector_id=connector_id)
    if run_id:
        receipts = receipts.exclude(run_id=run_id)
    if until is not None:
        receipts = receipts.filter(finished_at__lte=until)
    newest_first = receipts.order_by("-finished_at", "-id").values_list("run_id", "status")
    seen: set[Any] = set()
    for receipt_run_id, status in newest_first[:PREVIOUS_RUN_LOOKBACK]:
        if receipt_run_id in seen:
            continue  # an earlier attempt of a run already seen
        seen.add(receipt_run_id)
        if status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            return status
    return None


def _schema_changed(
    policies: list[NotificationPolicy], connector: dict[str, Any], data: dict[str, Any]
) -> int:
    # A table created (a connector's first sync, a stream enabled) changes nothing anyone
    # relied on: it is in the event, and in the schema history, but does not alert.
    changes = [c for c in data.get("changes") or [] if c.get("change") != "table_created"]
    if not changes:
        return 0
    name = connector["name"]
    fired = 0
    for policy in _watching(policies, Condition.SCHEMA_CHANGED):
        fired += _fired(
            policy_fire(
                policy=policy,
                connector_id=connector["id"],
                condition=Condition.SCHEMA_CHANGED,
                title=f"Schema changed: {name}",
                message=_changes_message(changes),
                data={
                    "job_id": data.get("job_id"),
                    "changes": changes[:MAX_CHANGES_KEPT],
                    "changes_total": len(changes),
                },
                connector=connector,
            )
        )
    return fired


def _changes_message(changes: list[dict[str, Any]], shown: int = 5) -> str:
    if not changes:
        return "The destination schema changed."
    parts = []
    for change in changes[:shown]:
        target = change.get("stream") or "?"
        if change.get("column"):
            target += f".{change['column']}"
        kind = str(change.get("change") or "changed").replace("_", " ")
        types = ""
        if change.get("old_type") and change.get("new_type"):
            types = f" ({change['old_type']} -> {change['new_type']})"
        elif change.get("new_type"):
            types = f" ({change['new_type']})"
        parts.append(f"{target}: {kind}{types}")
    more = f"; and {len(changes) - shown} more" if len(changes) > shown else ""
    noun = "change" if len(changes) == 1 else "changes"
    return f"{len(changes)} {noun}: " + "; ".join(parts) + more + "."


# --- Freshness -------------------------------------------------------------------------------
def alerts_check_freshness(*, now: datetime | None = None) -> int:
    """Fire `data_stale` for every enabled policy's connectors (not paused) whose newest
    successful sync (or, never synced, their creation) is older than the policy's
    `freshness_minutes`. Returns how many notifications fired."""
    now = now or timezone.now()
    policies = policies_watching(condition=Condition.DATA_STALE)
    if not policies:
        return 0
    group_ids = {p.group_id for p in policies if p.scope == PolicyScope.GROUP and p.group_id}
    members: dict[Any, set[Any]] = {}
    memberships = AlertGroup.connectors.through.objects.filter(alertgroup_id__in=group_ids)
    for group_id, connector_id in memberships.values_list("alertgroup_id", "connector_id"):
        members.setdefault(group_id, set()).add(connector_id)
    last_success = (
        SyncReceipt.objects.filter(connector=OuterRef("pk"), status=JobStatus.SUCCEEDED)
        .order_by("-finished_at")
        .values("finished_at")[:1]
    )
    connectors_by_account: dict[Any, list[dict[str, Any]]] = {}
    rows = (
        Connector.objects.filter(account_id__in={p.account_id for p in policies}, paused=False)
        .annotate(last_success_at=Subquery(last_success))
        .values("id", "account_id", "name", "type", "created_at", "last_success_at")
        .order_by("name", "id")
    )
    for row in rows:
        connectors_by_account.setdefault(row["account_id"], []).append(row)

    fired = 0
    for policy in policies:
        # Compared as durations: `now - max_age` overflows for a freshness of millennia.
        max_age = timedelta(minutes=policy.freshness_minutes)
        for row in connectors_by_account.get(policy.account_id, []):
            if not _in_scope(policy, row["id"], members):
                continue
            fresh_since = row["last_success_at"] or row["created_at"]
            if now - fresh_since <= max_age:
                continue
            # One firing that fails (its own transaction rolled back) must not silence the
            # others, of this account or any other: it is tried again at the next check.
            try:
                fired += _fired(_fire_stale(policy, row, now))
            except Exception:
                logger.exception(
                    "webhooks.freshness_fire_failed policy=%s connector=%s", policy.id, row["id"]
                )
    logger.info("webhooks.freshness_checked policies=%s fired=%s", len(policies), fired)
    return fired


def _in_scope(policy: NotificationPolicy, connector_id: Any, members: dict[Any, set]) -> bool:
    if policy.scope == PolicyScope.ALL:
        return True
    if policy.scope == PolicyScope.CONNECTOR:
        return policy.connector_id == connector_id
    return connector_id in members.get(policy.group_id, set())


def _fire_stale(
    policy: NotificationPolicy, row: dict[str, Any], now: datetime
) -> Notification | None:
    name = row["name"]
    last = row["last_success_at"]
    if last is None:
        title = f"Data is stale: {name} (never synced)"
        created = _ago(now - row["created_at"])
        message = f"{name} has not synced successfully since it was created {created} ago."
    else:
        title = f"Data is stale: {name} (last success {_ago(now - last)} ago)"
        message = (
            f"The last successful sync of {name} finished {_ago(now - last)} ago; the policy "
            f"expects one at least every {_ago(timedelta(minutes=policy.freshness_minutes))}."
        )
    return policy_fire(
        policy=policy,
        connector_id=row["id"],
        condition=Condition.DATA_STALE,
        title=title,
        message=message,
        data={
            "last_success_at": last.isoformat() if last else None,
            "freshness_minutes": policy.freshness_minutes,
        },
        connector={"id": str(row["id"]), "name": name, "type": row["type"]},
        now=now,
    )


def _ago(delta: timedelta) -> str:
    """A duration as people say it: `45 min`, `3 h`, `2 days`."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        return f"{hours} h"
    days = hours // 24
    return f"{days} days"
