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
    readonly_fields = ("id", "type", "secrets_set", "created_at", "updated_at")
    fields = ("id", "account", "name", "type", "config", "secrets_set", "created_at", "updated_at")
    raw_id_fields = ("account",)

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
    readonly_fields = ("id", "type", "secrets_set", "last_triggered_at", "created_at", "updated_at")
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
        "last_triggered_at",
        "created_at",
        "updated_at",
    )
    raw_id_fields = ("account", "destination")
    actions = ["trigger_sync"]

    @admin.display(description="Secret fields set")
    def secrets_set(self, obj: Connector) -> str:
        return ", ".join(configs.secrets_set(obj)) or "-"

    @admin.action(description="Trigger a sync now")
    def trigger_sync(self, request: HttpRequest, queryset: QuerySet[Connector]) -> None:
        for connector in queryset:
            try:
                job = sync_services.sync_trigger(connector=connector)
            except ApplicationError as exc:
                self.message_user(request, f"{connector.name}: {exc.message}", messages.WARNING)
            else:
                self.message_user(request, f"{connector.name}: job {job.id} queued.")
