"""The operators' pages for jobs (with cancel), receipts, stream state and schema, schema
changes and backfills."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from landed.api.errors import ApplicationError
from syncs import services
from syncs.models import (
    Backfill,
    Job,
    JobStream,
    SchemaChange,
    StreamSchema,
    StreamState,
    SyncReceipt,
)


class JobStreamInline(admin.TabularInline):
    model = JobStream
    fields = (
        "name",
        "status",
        "sync_mode",
        "load_mode",
        "rows_read",
        "rows_written",
        "bytes_written",
        "started_at",
        "finished_at",
        "error",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "connector",
        "status",
        "trigger",
        "attempt",
        "created_at",
        "started_at",
        "finished_at",
        "rows_written",
        "worker",
    )
    list_filter = ("status", "trigger")
    search_fields = ("id", "connector__name")
    date_hierarchy = "created_at"
    inlines = [JobStreamInline]
    actions = ["cancel_jobs"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Job._meta.fields]

    def has_add_permission(self, request) -> bool:
        # Jobs start through the sync trigger (the connector page's action), never by hand.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Finished jobs go by retention (their receipts stay); a running one is cancelled.
        return False

    @admin.action(description="Cancel the selected jobs")
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        for job in queryset:
            try:
                services.job_cancel(job=job, reason=f"Cancelled by operator {request.user}")
            except ApplicationError as exc:
                self.message_user(request, f"{job.id}: {exc.message}", messages.WARNING)
            else:
                self.message_user(request, f"{job.id}: cancel requested.")


@admin.register(StreamState)
class StreamStateAdmin(admin.ModelAdmin):
    list_display = ("connector", "stream", "updated_at")
    search_fields = ("connector__name", "stream")
    readonly_fields = ("connector", "stream", "state", "updated_at")

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(SchemaChange)
class SchemaChangeAdmin(admin.ModelAdmin):
    list_display = ("connector", "stream", "change", "column", "old_type", "new_type", "created_at")
    list_filter = ("change",)
    readonly_fields = (
        "connector",
        "job",
        "stream",
        "change",
        "column",
        "old_type",
        "new_type",
        "note",
        "created_at",
    )

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(SyncReceipt)
class SyncReceiptAdmin(admin.ModelAdmin):
    """The history, read-only: receipts are written by the job lifecycle, never by hand."""

    list_display = (
        "finished_at",
        "connector_name",
        "account",
        "status",
        "trigger",
        "attempt",
        "duration_seconds",
        "rows_written",
        "bytes_written",
    )
    list_filter = ("status", "trigger")
    search_fields = ("id", "connector_name", "account__name")
    date_hierarchy = "finished_at"

    def get_readonly_fields(self, request, obj=None):
        # Ids, not the related rows: the job, connector or destination may be gone.
        return [f.attname if f.is_relation else f.name for f in SyncReceipt._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StreamSchema)
class StreamSchemaAdmin(admin.ModelAdmin):
    list_display = ("connector", "stream", "table", "sync_mode", "load_mode", "updated_at")
    search_fields = ("connector__name", "stream")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in StreamSchema._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Backfill)
class BackfillAdmin(admin.ModelAdmin):
    list_display = ("connector", "stream", "reason", "column", "status", "requested_at")
    list_filter = ("status", "reason")
    search_fields = ("connector__name", "stream")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Backfill._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
