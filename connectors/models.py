"""Connectors (sources) and destinations as an account's resources.

Config is split on save: non-secret fields in `config` (JSON), secret fields (those the spec
types `secret`) encrypted in `encrypted_secrets`. Responses never carry secrets: they list
which secret fields are set.
"""

import uuid

from django.db import models
from django.utils import timezone

from landed.accounts.models import Account


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
    # A custom connector's (type `custom:<id>`): the version of its definition this connector
    # reads with. A version in use cannot be deleted.
    custom_version = models.ForeignKey(
        "CustomConnectorVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="connectors",
    )
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


# --- Custom connectors ---------------------------------------------------------------------
# A custom connector is a source definition an account writes or generates for an API Landed
# has no connector for. It compiles to the declarative http_api engine; its connectors have the
# type `custom:<id>` and each pins one version of its definition, so that editing it (a new
# version) never changes what a running or scheduled sync reads.
CUSTOM_TYPE_PREFIX = "custom:"


class CustomConnectorIcon(models.Model):
    """An uploaded icon, addressed by the SHA-256 of its (sanitised) bytes: served back at a URL
    that names the hash, so that it can be cached forever."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    content_type = models.CharField(max_length=40)
    content = models.BinaryField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"{self.sha256[:12]} ({self.content_type})"


class CustomConnector(models.Model):
    AUTH_KINDS = ("none", "api_key", "bearer", "basic", "oauth2_client_credentials")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="custom_connectors")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    base_url = models.CharField(max_length=2000)
    # Where its documentation is (a page, or an OpenAPI / Swagger document by URL), and an
    # uploaded OpenAPI / Swagger document (kept parsed, as JSON).
    documentation_url = models.CharField(max_length=2000, blank=True, default="")
    openapi_url = models.CharField(max_length=2000, blank=True, default="")
    openapi_document = models.JSONField(null=True, blank=True)
    auth_kind = models.CharField(
        max_length=40, default="none", choices=[(k, k) for k in AUTH_KINDS]
    )
    # The number of the version new connectors pin; null until it has a definition.
    current_version = models.PositiveIntegerField(null=True, blank=True)
    # The last discovery's result (auth, config fields, streams; see connectors/custom/).
    discovery = models.JSONField(null=True, blank=True)
    discovered_at = models.DateTimeField(null=True, blank=True)
    icon = models.ForeignKey(
        CustomConnectorIcon,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="custom_connectors",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="custom_connector_name_unique")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def type_name(self) -> str:
        """The connector type its connectors have."""
        return f"{CUSTOM_TYPE_PREFIX}{self.id}"


class CustomConnectorVersion(models.Model):
    """One version of a custom connector's definition: never changed once written."""

    ORIGINS = ("manual", "generated")

    id = models.BigAutoField(primary_key=True)
    custom_connector = models.ForeignKey(
        CustomConnector, on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    origin = models.CharField(max_length=20, default="manual", choices=[(o, o) for o in ORIGINS])
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["custom_connector", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["custom_connector", "number"], name="custom_connector_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.custom_connector_id} v{self.number}"


class CustomConnectorGeneration(models.Model):
    """One attempt at producing a new definition version from the discovery (a Celery task)."""

    STATUSES = ("queued", "running", "succeeded", "failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    custom_connector = models.ForeignKey(
        CustomConnector, on_delete=models.CASCADE, related_name="generations"
    )
    status = models.CharField(max_length=20, default="queued", choices=[(s, s) for s in STATUSES])
    # The version it was made from (its diff is against it) and the version it produced.
    base_version = models.PositiveIntegerField(null=True, blank=True)
    version = models.ForeignKey(
        CustomConnectorVersion,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="generations",
    )
    definition = models.JSONField(null=True, blank=True)
    diff = models.TextField(blank=True, default="")
    errors = models.JSONField(default=list, blank=True)
    # The sandbox test-read of the generated definition (as POST .../test answers).
    test = models.JSONField(null=True, blank=True)
    used_llm = models.BooleanField(default=False)
    llm_model = models.CharField(max_length=200, blank=True, default="")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    # Credentials for the test-read, encrypted, erased when the attempt ends.
    encrypted_config = models.TextField(blank=True, default="", editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]

    def __str__(self) -> str:
        return f"{self.custom_connector_id} generation {self.id} ({self.status})"
