"""The operators' pages for connectors and destinations. Secrets are never shown: the
encrypted column is not a form field, and the config shown holds only the plain fields."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from connectors import configs
from connectors.models import Connector, Destination
from landed.api.errors import ApplicationError
from syncs import services as sync_services


@admin.register(Destination)
class DestinationAdmin(admin.ModelAdmin):
    list_display = ("name", "type", "account", "created_at")
    list_filter = ("type",)
    search_fields = ("name", "account__name")
    # Config and ownership change through the API, where they are validated (and secrets
    # encrypted): here they are shown, not edited.
    readonly_fields = (
        "id",
        "account",
        "type",
        "config",
        "secrets_set",
        "created_at",
        "updated_at",
    )
    fields = ("id", "account", "name", "type", "config", "secrets_set", "created_at", "updated_at")

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="Secret fields set")
    def secrets_set(self, obj: Destination) -> str:
        return ", ".join(configs.secrets_set(obj)) or "-"


@admin.register(Connector)
class ConnectorAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "type",
        "account",
        "destination",
        "sync_frequency_minutes",
        "paused",
        "last_triggered_at",
    )
    list_filter = ("type", "paused")
    search_fields = ("name", "account__name")
    list_editable = ("sync_frequency_minutes", "paused")
    # Operators pause connectors and change schedules here; config, ownership, destination
    # and streams change through the API, which validates them (and encrypts secrets).
    readonly_fields = (
        "id",
        "account",
        "type",
        "config",
        "secrets_set",
        "destination",
        "destination_schema",
        "streams",
        "stream_tables",
        "last_triggered_at",
        "created_at",
        "updated_at",
    )
    fields = (
        "id",
        "account",
        "name",
        "type",
        "config",
        "secrets_set",
        "destination",
        "destination_schema",
        "sync_frequency_minutes",
        "paused",
        "streams",
        "stream_tables",
        "last_triggered_at",
        "created_at",
        "updated_at",
    )
    actions = ["trigger_sync"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="Secret fields set")
    def secrets_set(self, obj: Connector) -> str:
        return ", ".join(configs.secrets_set(obj)) or "-"

    # Deleting goes through the service, as through the API: an active job is settled with
    # its receipt first.
    def delete_model(self, request: HttpRequest, obj: Connector) -> None:
        sync_services.connector_delete(connector=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Connector]) -> None:
        for connector in queryset:
            sync_services.connector_delete(connector=connector)

    @admin.action(description="Trigger a sync now")
    def trigger_sync(self, request: HttpRequest, queryset: QuerySet[Connector]) -> None:
        for connector in queryset:
            try:
                job = sync_services.sync_trigger(connector=connector)
            except ApplicationError as exc:
                self.message_user(request, f"{connector.name}: {exc.message}", messages.WARNING)
            else:
                self.message_user(request, f"{connector.name}: job {job.id} queued.")
