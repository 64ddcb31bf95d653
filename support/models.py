"""The support chat's index of Landed's own documentation, and its conversations.

The full-text index lives beside the passages: on PostgreSQL the `search` column (a weighted
tsvector, title A and text B, with a GIN index); on SQLite, the embedded default, an FTS5 table
`support_passage_fts` kept in step by triggers (both made in migration 0001).
"""

import uuid

from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.utils import timezone

from landed.accounts.models import Account


class PassageKind(models.TextChoices):
    DOCS = "docs"
    API = "api"


class SupportPassage(models.Model):
    """One retrievable piece of the documentation: a section of a page, or one API operation."""

    kind = models.CharField(max_length=8, choices=PassageKind)
    # Where it was read from: "docs/webhooks.md", "README.md", "openapi".
    source_path = models.CharField(max_length=300)
    title = models.CharField(max_length=500)
    anchor = models.CharField(max_length=300, blank=True, default="")
    url = models.CharField(max_length=1000)
    text = models.TextField()
    # sha256 of the title and text: what changed between two builds of the index.
    content_hash = models.CharField(max_length=64)
    position = models.PositiveIntegerField(default=0)
    # PostgreSQL only (filled by the index build); SQLite leaves it empty and uses FTS5.
    search = SearchVectorField(null=True, editable=False)

    class Meta:
        ordering = ["source_path", "position"]

    def __str__(self) -> str:
        return self.title


class SupportIndexState(models.Model):
    """The one row saying which version of the sources the passages were built from."""

    name = models.CharField(max_length=32, primary_key=True, default="default")
    fingerprint = models.CharField(max_length=64)
    built_at = models.DateTimeField(default=timezone.now)
    passage_count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"support index {self.fingerprint[:12]} ({self.passage_count} passages)"


class SupportConversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Null for an anonymous conversation: its id alone lets an anonymous caller continue it.
    account = models.ForeignKey(
        Account,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="support_conversations",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"support conversation {self.id}"


class MessageRole(models.TextChoices):
    USER = "user"
    ASSISTANT = "assistant"


class SupportMessage(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        SupportConversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=16, choices=MessageRole)
    content = models.TextField()
    # The sources an assistant message cited: [{"title", "url", "source"}].
    sources = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["conversation", "created_at"])]

    def __str__(self) -> str:
        return f"{self.role} message {self.id}"
