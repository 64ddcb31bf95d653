"""Connectors (sources) and destinations as an account's resources.

Config is split on save: non-secret fields in `config` (JSON), secret fields (those the spec
types `secret`) encrypted in `encrypted_secrets`. Responses never carry secrets: they list
which secret fields are set.
"""

import re
import uuid

from django.db import models
from django.utils import timezone

from landed.accounts.models import Account

# What a connector's `destination_schema` may be: a lower-case identifier that fits PostgreSQL's
# 63 characters (checked by the API's input serializer).
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Destination(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="destinations")
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=50)
    config = models.JSONField(default=dict, blank=True)
    encrypted_secrets = models.TextField(blank=True, default="", editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="destination_name_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"


class Connector(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="connectors")
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=50)
    config = models.JSONField(default=dict, blank=True)
    encrypted_secrets = models.TextField(blank=True, default="", editable=False)
    # A destination in use cannot be deleted (409); the connector's tables stay behind anyway.
    destination = models.ForeignKey(
        Destination, on_delete=models.PROTECT, related_name="connectors"
    )
    # The schema (namespace) the connector's tables land in, fixed at creation.
    destination_schema = models.CharField(max_length=63)
    sync_frequency_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Minutes between scheduled syncs; empty for manual only."
    )
    paused = models.BooleanField(default=False)
    # The saved stream selection: [{name, enabled, sync_mode, load_mode, cursor_field,
    # primary_key}]. Streams not listed follow the defaults (enabled, by discovery).
    streams = models.JSONField(default=list, blank=True)
    # Each stream's destination table, fixed when the stream is first synced.
    stream_tables = models.JSONField(default=dict, blank=True)
    # When the last scheduled or manual sync was triggered: the beat scheduler's clock.
    last_triggered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="connector_name_unique"),
            # Two connectors loading into one schema would share tables and stream state.
            models.UniqueConstraint(
                fields=["destination", "destination_schema"], name="connector_schema_unique"
            ),
        ]
        indexes = [models.Index(fields=["paused", "sync_frequency_minutes"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"
