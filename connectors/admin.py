"""The operators' pages for connectors and destinations. Secrets are never shown: the
encrypted column is not a form field, and the config shown holds only the plain fields.

A connector's page has the operator's buttons (sync now, full resync, cancel the running
sync, pause or resume, test the connection), a destination's a connection test; each calls the
service the API calls. The connector list shows each connector's health and activity, read in
the same query as the rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from connectors import configs, services
from connectors.models import (
    Connector,
    CustomConnector,
    CustomConnectorVersion,
    Destination,
)
from landed.admin_mixins import (
    Operation,
    OperationsAdminMixin,
    WideListMixin,
    clock_time,
    short_id,
)
from landed.api.errors import ApplicationError, ConflictError
from syncs import selectors as sync_selectors
from syncs import services as sync_services
from syncs.admin import cancel_text

HEALTH_LABELS = {
    "healthy": "healthy",
    "failing": "failing",
    "paused": "paused",
    "syncing": "syncing",
    "never_synced": "never synced",
}
# The admin's own icons' colours (its CSS variables), so that both themes stay legible.
HEALTH_COLOURS = {
    "healthy": "var(--message-success-bg)",
    "failing": "var(--message-error-bg)",
    "paused": "var(--message-warning-bg)",
    "syncing": "var(--selected-row)",
    "never_synced": "var(--darkened-bg)",
}


def _badge(state: str, label: str) -> str:
    return format_html(
        '<span class="nowrap" style="padding: 1px 6px; border-radius: 4px; background: {}">'
        "{}</span>",
        HEALTH_COLOURS.get(state, "transparent"),
        label,
    )


def _nowrap(text: str) -> str:
    return format_html('<span class="nowrap">{}</span>', text)


def _countdown(left: timedelta) -> str:
    minutes = max(int(left.total_seconds() // 60), 0)
    if minutes < 1:
        return "under a minute"
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes // (24 * 60)} days"


def _job_link(job_id: Any) -> str:
    return reverse("admin:syncs_job_change", args=[job_id])


def test_message(result: dict[str, Any]) -> tuple[str, int]:
    """A connection test's outcome (the API's test result) as an admin message."""
    if result["status"] == "succeeded":
        return f"Connection test succeeded: {result['message']}", messages.SUCCESS
    kind = f" ({result['error_type']})" if result.get("error_type") else ""
    return f"Connection test failed{kind}: {result['message']}", messages.ERROR


class HealthFilter(admin.SimpleListFilter):
    """By the health the list shows (annotated by `connectors_with_health`)."""

    title = "health"
    parameter_name = "health"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(state, HEALTH_LABELS[state]) for state in sync_selectors.HEALTH_STATES]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Connector]) -> QuerySet[Connector]:
        if self.value() in sync_selectors.HEALTH_STATES:
            return queryset.filter(health=self.value())
        return queryset


@admin.register(Destination)
class DestinationAdmin(OperationsAdminMixin, admin.ModelAdmin):
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
    operations = (Operation("test", "Test connection"),)

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="Secret fields set")
    def secrets_set(self, obj: Destination) -> str:
        return ", ".join(configs.secrets_set(obj)) or "-"

    def operation_test(self, request: HttpRequest, obj: Destination) -> None:
        self.message_user(request, *test_message(services.destination_test_saved(destination=obj)))


@admin.register(Connector)
class ConnectorAdmin(WideListMixin, OperationsAdminMixin, admin.ModelAdmin):
    # Fits 1,400 px with its filters: the type is a filter, not a column; the active job is its
    # short id; a last sync of today is its clock time, the next sync a countdown (the whole
    # time on hover).
    list_display = (
        "name",
        "account",
        "destination_name",
        "health_display",
        "last_result_display",
        "last_synced",
        "syncing_now",
        "next_sync",
        "sync_frequency_minutes",
        "paused",
    )
    list_filter = (HealthFilter, "type", "paused")
    search_fields = ("name", "account__name")
    list_select_related = ("account", "destination")
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
        "custom_version",
        "streams",
        "stream_tables",
        "last_triggered_at",
        "created_at",
        "updated_at",
        "health_display",
        "last_result_display",
        "last_synced",
        "syncing_now",
        "next_sync",
    )
    fields = (
        "id",
        "account",
        "name",
        "type",
        "custom_version",
        "config",
        "secrets_set",
        "destination",
        "destination_schema",
        "sync_frequency_minutes",
        "paused",
        "health_display",
        "last_result_display",
        "last_synced",
        "syncing_now",
        "next_sync",
        "streams",
        "stream_tables",
        "last_triggered_at",
        "created_at",
        "updated_at",
    )
    actions = ["trigger_sync"]
    operations = (
        Operation("sync", "Sync now"),
        Operation("full_resync", "Full resync"),
        Operation(
            "cancel_sync", "Cancel sync", danger=True, applies=lambda c: c.active_job_id is not None
        ),
        Operation("pause", "Pause", applies=lambda c: not c.paused),
        Operation("resume", "Resume", applies=lambda c: c.paused),
        Operation("test", "Test connection"),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Connector]:
        # Health, activity and the schedule's state in the rows' own query: one query for the
        # whole page.
        return sync_selectors.connectors_with_activity(super().get_queryset(request))

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="Secret fields set")
    def secrets_set(self, obj: Connector) -> str:
        return ", ".join(configs.secrets_set(obj)) or "-"

    @admin.display(description="Health", ordering="health")
    def health_display(self, obj: Connector) -> str:
        return _badge(obj.health, HEALTH_LABELS.get(obj.health, obj.health))

    @admin.display(description="Last result", ordering="last_result_at")
    def last_result_display(self, obj: Connector) -> str:
        if obj.last_result is None:
            return "-"
        return format_html(
            '<span class="nowrap" title="finished {}">{}</span>',
            timezone.localtime(obj.last_result_at).strftime("%Y-%m-%d %H:%M:%S"),
            obj.last_result,
        )

    @admin.display(description="Last synced", ordering="last_synced_at")
    def last_synced(self, obj: Connector) -> str:
        return clock_time(obj.last_synced_at, timezone.now())

    @admin.display(description="Destination", ordering="destination__name")
    def destination_name(self, obj: Connector) -> str:
        return obj.destination.name

    @admin.display(description="Syncing now")
    def syncing_now(self, obj: Connector) -> str:
        if obj.active_job_id is None:
            return "-"
        return format_html(
            '{} <span class="nowrap">{}</span>',
            short_id(obj.active_job_id, _job_link(obj.active_job_id)),
            obj.active_job_status,
        )

    @admin.display(description="Next sync")
    def next_sync(self, obj: Connector) -> str:
        if obj.paused:
            return _nowrap("paused")
        if obj.sync_frequency_minutes is None:
            return _nowrap("manual only")
        if obj.schedule_stopped:
            # syncs.schedule.SCHEDULE_STOPPING_ERRORS: the user must authorize again.
            return _nowrap("stopped: reauthorize")
        at = obj.next_sync_at
        if at is None:
            return _nowrap("subscription inactive")
        if at <= timezone.now():
            return _nowrap("due now")
        return format_html(
            '<span class="nowrap" title="{}">in {}</span>',
            timezone.localtime(at).strftime("%Y-%m-%d %H:%M:%S"),
            _countdown(at - timezone.now()),
        )

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

    # --- The change page's buttons (landed/admin_mixins.py) ------------------------------
    def _report_job(self, request: HttpRequest, text: str, job_id: Any) -> None:
        self.message_user(
            request,
            format_html('{} <a href="{}">Job {}</a>.', text, _job_link(job_id), str(job_id)[:8]),
            messages.SUCCESS,
        )

    def operation_sync(self, request: HttpRequest, obj: Connector) -> None:
        job = sync_services.sync_trigger(connector=obj)
        self._report_job(request, "Sync queued.", job.id)

    def operation_full_resync(self, request: HttpRequest, obj: Connector) -> None:
        job = sync_services.sync_trigger(connector=obj, full_resync=True)
        self._report_job(
            request, "Full resync queued: every stream is read from the start.", job.id
        )

    def operation_cancel_sync(self, request: HttpRequest, obj: Connector) -> None:
        job = sync_selectors.job_active_for(connector=obj)
        if job is None:
            raise ConflictError("No sync of this connector is pending or running.")
        job = sync_services.job_cancel(job=job, reason=f"Cancelled by operator {request.user}")
        self._report_job(request, cancel_text(job), job.id)

    def operation_pause(self, request: HttpRequest, obj: Connector) -> None:
        sync_services.connector_update(connector=obj, data={"paused": True})
        self.message_user(request, "Paused: the schedule starts no sync until it is resumed.")

    def operation_resume(self, request: HttpRequest, obj: Connector) -> None:
        sync_services.connector_update(connector=obj, data={"paused": False})
        self.message_user(request, "Resumed: the schedule syncs it again.")

    def operation_test(self, request: HttpRequest, obj: Connector) -> None:
        self.message_user(request, *test_message(services.connector_test(connector=obj)))


class CustomConnectorVersionInline(admin.TabularInline):
    """A version is never changed once written: shown, not edited."""

    model = CustomConnectorVersion
    extra = 0
    can_delete = False
    ordering = ("-number",)
    fields = ("number", "origin", "created_at", "definition")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CustomConnector)
class CustomConnectorAdmin(admin.ModelAdmin):
    list_display = ("name", "account", "auth_kind", "current_version", "created_at")
    list_filter = ("auth_kind",)
    search_fields = ("name", "account__name", "base_url")
    list_select_related = ("account",)
    # Definitions change through the API, which validates them and makes a new version.
    readonly_fields = (
        "id",
        "account",
        "type_name",
        "current_version",
        "auth_kind",
        "openapi_document",
        "discovery",
        "discovered_at",
        "icon",
        "created_at",
        "updated_at",
    )
    fields = (
        "id",
        "account",
        "name",
        "type_name",
        "description",
        "base_url",
        "documentation_url",
        "openapi_url",
        "auth_kind",
        "current_version",
        "icon",
        "openapi_document",
        "discovery",
        "discovered_at",
        "created_at",
        "updated_at",
    )
    inlines = (CustomConnectorVersionInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
