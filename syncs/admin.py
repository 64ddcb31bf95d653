"""The operators' pages for jobs (with cancel and retry), receipts, stream state and schema,
schema changes and backfills. All are read-only: their rows are written by the job lifecycle;
a job's page has the buttons that act on it, through the services the API uses."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from landed.admin_mixins import (
    Operation,
    OperationsAdminMixin,
    ReadOnlyAdminMixin,
    WideListMixin,
    clock_time,
    short_id,
    to_the_second,
)
from landed.api.errors import ApplicationError
from syncs import services
from syncs.models import (
    Backfill,
    Job,
    JobStatus,
    JobStream,
    SchemaChange,
    StreamSchema,
    StreamState,
    SyncReceipt,
)

# A running job's page reloads itself this often (its progress is written about as often).
JOB_PAGE_REFRESH_SECONDS = 2


def cancel_text(job: Job) -> str:
    """What a cancel did: a pending job is cancelled at once, a running one asked to stop."""
    if job.is_active:
        return "Cancel requested: the job stops at its next batch boundary."
    return "Cancelled."


def _retryable(job: Job) -> bool:
    if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
        return False
    return not Job.objects.filter(retry_of=job).exists()


class JobStreamInline(ReadOnlyAdminMixin, admin.TabularInline):
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


@admin.register(Job)
class JobAdmin(WideListMixin, OperationsAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    # Fits 1,400 px with its filters: short ids, times to the second (the start and end as
    # clock times beside the creation's date), nothing that wraps. The worker is on the job's
    # page, and found by the search.
    list_display = (
        "short_id",
        "connector",
        "status",
        "trigger",
        "attempt",
        "created",
        "started",
        "finished",
        "duration",
        "rows",
        "rows_per_second",
    )
    list_display_links = ("short_id",)
    list_select_related = ("connector",)
    list_filter = ("status", "trigger")
    search_fields = ("id", "connector__name", "worker")
    date_hierarchy = "created_at"
    inlines = [JobStreamInline]
    actions = ["cancel_jobs"]
    operations = (
        Operation("cancel", "Cancel", danger=True, applies=lambda job: job.is_active),
        Operation("retry", "Retry", applies=_retryable),
    )

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Job._meta.fields] + ["duration", "rows_per_second"]

    def refresh_seconds(self, obj: Job | None) -> int | None:
        # Until the job ends: then its page stays still.
        return JOB_PAGE_REFRESH_SECONDS if obj is not None and obj.is_active else None

    @admin.display(description="ID", ordering="id")
    def short_id(self, obj: Job) -> str:
        return short_id(obj.id)

    @admin.display(description="Created", ordering="created_at")
    def created(self, obj: Job) -> str:
        return to_the_second(obj.created_at)

    @admin.display(description="Started", ordering="started_at")
    def started(self, obj: Job) -> str:
        return clock_time(obj.started_at, obj.created_at)

    @admin.display(description="Finished", ordering="finished_at")
    def finished(self, obj: Job) -> str:
        return clock_time(obj.finished_at, obj.created_at)

    @admin.display(description="Rows", ordering="rows_written")
    def rows(self, obj: Job) -> str:
        return f"{obj.rows_written:,}"

    @admin.display(description="Rows/s")
    def rows_per_second(self, obj: Job) -> str:
        rate = obj.rows_per_second
        return "-" if rate is None else f"{rate:,.0f}"

    @admin.display(description="Duration")
    def duration(self, obj: Job) -> str:
        seconds = obj.duration_seconds
        if seconds is None:
            return "-"
        if seconds < 60:
            text = f"{seconds:.1f} s"
        elif seconds < 3600:
            text = f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
        else:
            text = f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
        return format_html('<span class="nowrap">{}</span>', text)

    @admin.action(description="Cancel the selected jobs", permissions=["operation"])
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        for job in queryset:
            try:
                services.job_cancel(job=job, reason=f"Cancelled by operator {request.user}")
            except ApplicationError as exc:
                self.message_user(request, f"{job.id}: {exc.message}", messages.WARNING)
            else:
                self.message_user(request, f"{job.id}: cancel requested.")

    # --- The change page's buttons (landed/admin_mixins.py) ------------------------------
    def operation_cancel(self, request: HttpRequest, obj: Job) -> None:
        job = services.job_cancel(job=obj, reason=f"Cancelled by operator {request.user}")
        self.message_user(request, cancel_text(job), messages.SUCCESS)

    def operation_retry(self, request: HttpRequest, obj: Job) -> str:
        retry = services.job_retry(job=obj)
        self.message_user(
            request,
            format_html(
                "Retry queued: attempt {} of this sync, from its last checkpoint "
                '(<a href="{}">the failed attempt</a>).',
                retry.attempt,
                self.change_url(obj),
            ),
            messages.SUCCESS,
        )
        return self.change_url(retry)


# The pages below edit nothing (their rows are the engine's). Deleting stays possible where
# it was: an operator removes a stream's state to have that stream read from the start.
@admin.register(StreamState)
class StreamStateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    deletable = True
    list_display = ("connector", "stream", "updated_at")
    search_fields = ("connector__name", "stream")
    readonly_fields = ("connector", "stream", "state", "updated_at")


@admin.register(SchemaChange)
class SchemaChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    deletable = True
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


@admin.register(SyncReceipt)
class SyncReceiptAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The history, read-only: receipts are written by the job lifecycle, never by hand."""

    deletable = True
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


@admin.register(StreamSchema)
class StreamSchemaAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    deletable = True
    list_display = ("connector", "stream", "table", "sync_mode", "load_mode", "updated_at")
    search_fields = ("connector__name", "stream")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in StreamSchema._meta.fields]


@admin.register(Backfill)
class BackfillAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    deletable = True
    list_display = ("connector", "stream", "reason", "column", "status", "requested_at")
    list_filter = ("status", "reason")
    search_fields = ("connector__name", "stream")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Backfill._meta.fields]
