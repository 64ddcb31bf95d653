"""Reads of the support chat: conversations and their history, and an account's recent
failures (the context that answers "why did my sync fail")."""

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from landed.api.errors import NotFoundError
from support.models import SupportConversation, SupportMessage
from syncs.models import Job, JobStatus

# A question about something that went wrong: the account's failed jobs are worth reading.
_ABOUT_FAILURES = re.compile(
    r"\b(fail\w*|error\w*|broke\w*|crash\w*|wrong|stuck|didn'?t|did not|not work\w*|issue\w*)\b",
    re.IGNORECASE,
)
FAILURE_LOOKBACK = timedelta(days=30)
_ERROR_CHARS = 600


@dataclass(frozen=True)
class FailedJob:
    job_id: uuid.UUID
    connector_name: str
    connector_type: str
    finished_at: datetime | None
    error_type: str
    error_message: str
    stream: str

    @property
    def title(self) -> str:
        return f"Failed sync of connector {self.connector_name!r} (job {self.job_id})"

    @property
    def url(self) -> str:
        return f"/jobs/{self.job_id}"

    @property
    def text(self) -> str:
        when = f" at {self.finished_at.isoformat()}" if self.finished_at else ""
        stream = f" in stream {self.stream!r}" if self.stream else ""
        kind = f" ({self.error_type})" if self.error_type else ""
        return (
            f"A {self.connector_type} sync of connector {self.connector_name!r} failed{when}"
            f"{stream}{kind}: {self.error_message or 'no error message recorded'}"
        )


def is_about_failures(message: str) -> bool:
    return bool(_ABOUT_FAILURES.search(message))


def account_recent_failures(*, account_id: uuid.UUID, limit: int = 3) -> list[FailedJob]:
    """The account's latest failed jobs (newest first) with their errors."""
    jobs = (
        Job.objects.filter(
            connector__account_id=account_id,
            status=JobStatus.FAILED,
            created_at__gte=timezone.now() - FAILURE_LOOKBACK,
        )
        .select_related("connector")
        .order_by("-finished_at", "-created_at")[:limit]
    )
    failures = []
    for job in jobs:
        error = job.error if isinstance(job.error, dict) else {}
        failures.append(
            FailedJob(
                job_id=job.id,
                connector_name=job.connector.name,
                connector_type=job.connector.type,
                finished_at=job.finished_at,
                error_type=str(error.get("type") or ""),
                error_message=str(error.get("message") or "")[:_ERROR_CHARS],
                stream=str(error.get("stream") or ""),
            )
        )
    return failures


def conversation_get(
    *, conversation_id: uuid.UUID, account_id: uuid.UUID | None
) -> SupportConversation:
    """The conversation, if the caller may continue it: a signed-in account its own, an
    anonymous caller an anonymous one. Anything else is a 404, as if it did not exist."""
    conversations = SupportConversation.objects.filter(id=conversation_id)
    if account_id is None:
        conversation = conversations.filter(account__isnull=True).first()
    else:
        conversation = conversations.filter(account_id=account_id).first()
    if conversation is None:
        raise NotFoundError(detail=f"No support conversation {conversation_id}.")
    return conversation


def conversation_history(*, conversation: SupportConversation, limit: int) -> list[SupportMessage]:
    """The conversation's last `limit` messages, oldest first."""
    if limit <= 0:
        return []
    latest = list(conversation.messages.order_by("-created_at", "-id")[:limit])
    return latest[::-1]
