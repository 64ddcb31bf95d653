"""Input and output shapes of the Connectors and Destinations endpoints."""

from rest_framework import serializers

from connectors import configs
from connectors.framework.base import LOAD_MODES, SYNC_MODES
from landed.api.serializers import (
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
    Timestamp,
)


class ConfigField(serializers.DictField):
    """A JSON object; its fields are checked against the type's spec by the service."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "Fields of the type's spec (see the catalog).")
        super().__init__(**kwargs)


# --- Destinations --------------------------------------------------------------------------
class DestinationInputSerializer(serializers.Serializer):
    name = StrictCharField(min_length=1, max_length=200)
    type = StrictCharField(min_length=1, max_length=50)
    config = ConfigField()


class DestinationTestInputSerializer(serializers.Serializer):
    type = StrictCharField(min_length=1, max_length=50)
    config = ConfigField()


class DestinationSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    type = serializers.CharField()
    config = serializers.DictField(help_text="Non-secret fields.")
    secrets_set = serializers.SerializerMethodField(
        help_text="Names of the secret fields that are set (their values are never returned)."
    )
    created_at = Timestamp()
    updated_at = Timestamp()

    def get_secrets_set(self, obj) -> list[str]:
        return configs.secrets_set(obj)


# --- Connectors ----------------------------------------------------------------------------
_FREQUENCY_HELP = "Minutes between scheduled syncs (5 to 525600); null for manual syncs only."


class ConnectorCreateInputSerializer(serializers.Serializer):
    name = StrictCharField(min_length=1, max_length=200)
    type = StrictCharField(min_length=1, max_length=50)
    config = ConfigField(required=False, default=dict)
    destination_id = serializers.UUIDField()
    sync_frequency_minutes = StrictIntegerField(
        min_value=5,
        max_value=525_600,
        allow_null=True,
        required=False,
        default=None,
        help_text=_FREQUENCY_HELP,
    )
    paused = StrictBooleanField(required=False, default=False)
    destination_schema = StrictCharField(
        required=False,
        max_length=63,
        help_text="Schema the tables land in; defaults to one derived from the name.",
    )

    def validate_destination_schema(self, value: str) -> str:
        if not configs.SCHEMA_NAME.match(value):
            raise serializers.ValidationError(
                "Use lower-case letters, digits and underscores, starting with a letter.",
                code="string_pattern_mismatch",
            )
        if value.startswith("pg_") or value == "information_schema":
            raise serializers.ValidationError(
                "This schema name is reserved by the database.", code="reserved_name"
            )
        return value


class ConnectorUpdateInputSerializer(serializers.Serializer):
    name = StrictCharField(min_length=1, max_length=200, required=False)
    type = StrictCharField(min_length=1, max_length=50, required=False)
    config = ConfigField(required=False)
    destination_id = serializers.UUIDField(required=False)
    sync_frequency_minutes = StrictIntegerField(
        min_value=5, max_value=525_600, allow_null=True, required=False, help_text=_FREQUENCY_HELP
    )
    paused = StrictBooleanField(required=False)
    custom_version = StrictIntegerField(
        min_value=1,
        required=False,
        help_text="A custom type's connector: the version of its definition to read with "
        "(config fields the version does not declare are dropped).",
    )


class ConnectorSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    type = serializers.CharField()
    config = serializers.DictField(help_text="Non-secret fields.")
    secrets_set = serializers.SerializerMethodField()
    destination_id = serializers.UUIDField()
    destination_schema = serializers.CharField()
    sync_frequency_minutes = serializers.IntegerField(allow_null=True)
    paused = serializers.BooleanField()
    custom_version = serializers.SerializerMethodField(
        help_text="A custom type's connector: the version of its definition it reads with "
        "(pinned when created; PATCH to change); null for other types."
    )
    # Computed with the connector by the selector that loads it (connectors_with_health).
    health = serializers.CharField(
        read_only=True, help_text="healthy, failing, paused, syncing or never_synced."
    )
    last_synced_at = Timestamp(allow_null=True, help_text="End of the last successful sync.")
    # Computed with the connector by the selector that loads it (syncs/schedule.py).
    next_sync_at = Timestamp(
        read_only=True,
        allow_null=True,
        help_text="When the scheduler next syncs it: one sync_frequency_minutes after the last "
        "sync was triggered (manual, scheduled or retry), or after its creation if it was "
        "never synced. In the past: at the scheduler's next tick, or as soon as the sync "
        "in progress ends. null without a schedule, while paused, or while the subscription "
        "is inactive.",
    )
    created_at = Timestamp()
    updated_at = Timestamp()

    def get_secrets_set(self, obj) -> list[str]:
        return configs.secrets_set(obj)

    def get_custom_version(self, obj) -> int | None:
        return obj.custom_version.number if obj.custom_version_id else None


# --- Streams -------------------------------------------------------------------------------
class StreamSelectionInputSerializer(serializers.Serializer):
    """One stream's whole setting: `name`, `enabled`, `sync_mode` and `load_mode` are required
    (even to disable a stream); `cursor_field` and `primary_key` when the modes need them."""

    name = StrictCharField(min_length=1, max_length=300, help_text="A stream discovery lists.")
    enabled = StrictBooleanField(help_text="false: the stream is not read.")
    sync_mode = serializers.ChoiceField(choices=SYNC_MODES)
    load_mode = serializers.ChoiceField(
        choices=LOAD_MODES,
        help_text="overwrite only with full_refresh; merge needs a primary key.",
    )
    cursor_field = StrictCharField(
        required=False,
        allow_null=True,
        max_length=300,
        help_text="Required with sync_mode incremental (one of the stream's "
        "cursor_candidates); otherwise leave it out or null.",
    )
    primary_key = serializers.ListField(
        child=StrictCharField(min_length=1, max_length=300),
        required=False,
        max_length=32,
        help_text="Defaults to the source's key. Required when the source has none and "
        "load_mode is merge, or a full_refresh is appended.",
    )


class StreamsInputSerializer(serializers.Serializer):
    streams = StreamSelectionInputSerializer(
        many=True,
        allow_empty=False,
        max_length=10_000,
        help_text="At least one stream. Each listed stream's setting is replaced whole; "
        "streams left out keep theirs.",
    )


class ColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    nullable = serializers.BooleanField()
    precision = serializers.IntegerField(allow_null=True)
    scale = serializers.IntegerField(allow_null=True)
    source_type = serializers.CharField(allow_null=True)


class StreamSerializer(serializers.Serializer):
    name = serializers.CharField()
    enabled = serializers.BooleanField()
    sync_mode = serializers.ChoiceField(choices=SYNC_MODES)
    load_mode = serializers.ChoiceField(choices=LOAD_MODES)
    cursor_field = serializers.CharField(allow_null=True)
    primary_key = serializers.ListField(child=serializers.CharField())
    saved = serializers.BooleanField(help_text="False: defaults, nothing saved for this stream.")
    destination_table = serializers.CharField(
        help_text="The table the stream lands in, in the connector's destination schema."
    )
    kind = serializers.CharField()
    columns = ColumnSerializer(many=True)
    source_primary_key = serializers.ListField(child=serializers.CharField())
    cursor_candidates = serializers.ListField(child=serializers.CharField())
    supports_incremental = serializers.BooleanField()


class StreamListSerializer(serializers.Serializer):
    streams = StreamSerializer(many=True)


# --- Catalog and tests ---------------------------------------------------------------------
class SpecFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.CharField()
    required = serializers.BooleanField()
    default = serializers.JSONField(allow_null=True)
    description = serializers.CharField()
    secret = serializers.BooleanField()
    choices = serializers.ListField(child=serializers.CharField(), required=False)
    minimum = serializers.FloatField(required=False)
    maximum = serializers.FloatField(required=False)


class CatalogEntrySerializer(serializers.Serializer):
    type = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    category = serializers.CharField()
    auth_method = serializers.CharField()
    supports_incremental = serializers.BooleanField()
    has_static_schema = serializers.BooleanField()
    fields = SpecFieldSerializer(many=True)


class CatalogSerializer(serializers.Serializer):
    items = CatalogEntrySerializer(many=True)
    total = serializers.IntegerField()


class CatalogSchemaStreamSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField()
    columns = ColumnSerializer(many=True)
    primary_key = serializers.ListField(child=serializers.CharField())
    cursor_candidates = serializers.ListField(child=serializers.CharField())
    default_cursor = serializers.CharField(allow_null=True)
    supports_incremental = serializers.BooleanField()


class CatalogSchemaSerializer(serializers.Serializer):
    type = serializers.CharField()
    streams = CatalogSchemaStreamSerializer(many=True)


class TestResultSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["succeeded", "failed"])
    ok = serializers.BooleanField()
    reachable = serializers.BooleanField(allow_null=True)
    authenticated = serializers.BooleanField(allow_null=True)
    permitted = serializers.BooleanField(allow_null=True)
    message = serializers.CharField()
    error_type = serializers.CharField(allow_null=True)
    duration_ms = serializers.FloatField()
