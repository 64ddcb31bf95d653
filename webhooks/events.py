"""The one event raiser.

`event_raise` writes an `Event` row in the caller's transaction (it must run inside one: the
change and its event commit together or not at all) and, once that transaction commits, puts
the event on the `webhooks` queue. A lost message (the process died between commit and
publish) is found by the beat sweep, so every committed event is delivered.
"""

from __future__ import annotations

import logging
import re
from enum import StrEnum
from typing import Any

from django.db import transaction

from landed.tasks import enqueue
from webhooks.models import Event, WebhookEndpoint

logger = logging.getLogger("webhooks.events")


class EventType(StrEnum):
    SYNC_STARTED = "sync.started"
    SYNC_SUCCEEDED = "sync.succeeded"
    SYNC_FAILED = "sync.failed"
    SYNC_CANCELLED = "sync.cancelled"
    CONNECTOR_CREATED = "connector.created"
    CONNECTOR_UPDATED = "connector.updated"
    CONNECTOR_DELETED = "connector.deleted"
    CONNECTOR_TEST_FAILED = "connector.test_failed"
    # The OAuth grant a connector reads with was refused by its provider: authorize again.
    CONNECTOR_REAUTHORIZE_REQUIRED = "connector.reauthorize_required"
    SCHEMA_CHANGED = "schema.changed"
    DESTINATION_TEST_FAILED = "destination.test_failed"
    WEBHOOK_TEST = "webhook.test"
    WEBHOOK_DISABLED = "webhook.disabled"
    ALERT_TRIGGERED = "alert.triggered"


# Types an endpoint may subscribe to. `webhook.test` and `alert.triggered` go to one endpoint
# by name (the one tested, the policy's), whatever it subscribes to.
SUBSCRIBABLE = [t.value for t in EventType if t not in (EventType.WEBHOOK_TEST,)]

SYNC_EVENT_BY_STATUS = {
    "succeeded": EventType.SYNC_SUCCEEDED,
    "failed": EventType.SYNC_FAILED,
    "cancelled": EventType.SYNC_CANCELLED,
}


def event_raise(
    *,
    account_id: Any,
    type: EventType | str,
    data: dict[str, Any],
    endpoint: WebhookEndpoint | None = None,
) -> Event:
    """Record an event in the current transaction; it is dispatched after commit."""
    event = Event.objects.create(
        account_id=account_id, type=str(type), data=_storable(data), endpoint=endpoint
    )
    event_id = str(event.id)
    transaction.on_commit(lambda: _publish(event_id))
    logger.info("webhooks.event_raised event=%s type=%s", event.id, event.type)
    return event


# What PostgreSQL's jsonb refuses in a string: NUL, and a UTF-16 surrogate (one alone cannot be
# stored or encoded as UTF-8). Event data quotes third parties (a connection test's message
# quotes the API's answer): one such character must not roll back the change it reports.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(value: Any) -> Any:
    """`value` with every unstorable character in its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    return value


def _publish(event_id: str) -> None:
    try:
        enqueue("webhooks.dispatch_event", event_id)
    except Exception:
        # The broker is down: the change stands, and the sweep dispatches the event later.
        logger.exception("webhooks.event_publish_failed event=%s", event_id)
