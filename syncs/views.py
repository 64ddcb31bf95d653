"""The Jobs endpoints (live progress, cancel, retry), the Syncs endpoints (history), and the
two connector endpoints that are syncs' operations: the sync trigger and the health summary
(their URLs and tags stay those of the connectors in the API reference)."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from connectors.selectors import connector_get
from landed.api import ratelimit
from landed.api.errors import ConflictError
from landed.api.pagination import PageQuerySerializer, page_serializer, paginate
from landed.api.schema import raises
from landed.api.validation import parse_body, parse_query
from landed.api.views import LandedAPIView
from landed.db import snapshot
from syncs import selectors, serializers, services
from syncs.stats import sync_stats

TAGS = ["jobs"]


class JobListView(LandedAPIView):
    @extend_schema(
        operation_id="jobs_list",
        tags=TAGS,
        summary="List recent jobs, newest first",
        parameters=[PageQuerySerializer, serializers.JobListQuerySerializer],
        responses={200: page_serializer(serializers.JobSerializer)},
    )
    def get(self, request: Request) -> Response:
        query = parse_query(serializers.JobListQuerySerializer, request).validated_data
        jobs = selectors.job_list(
            account=request.user.account,
            connector_id=query.get("connector_id"),
            status=query.get("status"),
        )
        # The jobs and their streams read at one moment: each job's counts are their sums.
        with snapshot():
            page = paginate(request, jobs, serializers.JobSerializer)
        return Response(page)


class JobDetailView(LandedAPIView):
    rate_limit_tiers = {"GET": ratelimit.READ_HIGH}

    @extend_schema(
        operation_id="jobs_get",
        tags=TAGS,
        summary="Live status and progress of a job",
        description="Poll while `status` is pending or running; progress is at most about "
        "two seconds old. Counts, stages, rates, percent and time left are read at one "
        "moment: the job's counts are the sums of its streams' (docs/syncs.md, Live "
        "progress).",
        responses={200: serializers.JobSerializer},
    )
    def get(self, request: Request, job_id: Any) -> Response:
        job = selectors.job_get(account=request.user.account, job_id=job_id)
        return Response(serializers.JobSerializer(job).data)


class JobCancelView(LandedAPIView):
    rate_limit_tiers = {"POST": ratelimit.SENSITIVE}

    @raises((ConflictError, "Conflict: the job has already finished."))
    @extend_schema(
        operation_id="jobs_cancel",
        tags=TAGS,
        summary="Cancel a pending or running job",
        description="A pending job is cancelled at once (200); a running one stops at its "
        "next batch boundary (202, `cancel_requested_at` set), leaving every committed batch "
        "in place. 409 for a finished job.",
        request=serializers.JobCancelInputSerializer,
        responses={
            200: serializers.JobSerializer,
            202: serializers.JobSerializer,
        },
    )
    def post(self, request: Request, job_id: Any) -> Response:
        job = selectors.job_get(account=request.user.account, job_id=job_id)
        data = parse_body(serializers.JobCancelInputSerializer, request).validated_data
        job = services.job_cancel(job=job, reason=data["reason"])
        job = selectors.job_get(account=request.user.account, job_id=job.id)
        code = status.HTTP_202_ACCEPTED if job.is_active else status.HTTP_200_OK
        return Response(serializers.JobSerializer(job).data, status=code)


class JobRetryView(LandedAPIView):
    rate_limit_tiers = {"POST": ratelimit.SENSITIVE}

    @raises(
        (
            ConflictError,
            "Conflict: the job has not failed or been cancelled, was already retried, "
            "another sync of the connector is pending or running, or the connector is paused.",
        ),
    )
    @extend_schema(
        operation_id="jobs_retry",
        tags=TAGS,
        summary="Retry a failed or cancelled job",
        description="202 with a new attempt linked to this one (`retry_of`), resuming from "
        "the last committed checkpoint. 409 when the job has not failed or been cancelled, "
        "was already retried, another sync of the connector is active, or the connector is "
        'paused (resume it first: `PATCH /connectors/{id}` with `{"paused": false}`).',
        request=None,
        responses={
            202: serializers.JobSerializer,
        },
    )
    def post(self, request: Request, job_id: Any) -> Response:
        job = selectors.job_get(account=request.user.account, job_id=job_id)
        retry = services.job_retry(job=job)
        retry = selectors.job_get(account=request.user.account, job_id=retry.id)
        return Response(serializers.JobSerializer(retry).data, status=status.HTTP_202_ACCEPTED)


# --- A connector's syncs: the trigger and the health summary ---------------------------------
# Listed under "connectors" in the API reference, whose URLs they keep.
CONNECTOR_TAGS = ["connectors"]


class ConnectorSyncView(LandedAPIView):
    rate_limit_tiers = {"POST": ratelimit.SENSITIVE}

    @raises(
        (
            ConflictError,
            "Conflict: a sync of the connector is pending or running, or the connector is paused.",
        ),
    )
    @extend_schema(
        operation_id="connectors_sync",
        tags=CONNECTOR_TAGS,
        summary="Trigger a sync",
        description="202 with the new job. 409 while a sync of the connector is pending or "
        "running (`detail.job_id` names it), and while the connector is paused: a paused "
        "connector is not synced at all until `PATCH /connectors/{id}` with "
        '`{"paused": false}` resumes it (to sync only on demand, set '
        "`sync_frequency_minutes` to null instead of pausing).",
        request=serializers.SyncInputSerializer,
        responses={
            202: serializers.JobSerializer,
        },
    )
    def post(self, request: Request, connector_id: Any) -> Response:
        connector = connector_get(account=request.user.account, connector_id=connector_id)
        data = parse_body(serializers.SyncInputSerializer, request).validated_data
        job = services.sync_trigger(connector=connector, full_resync=data["full_resync"])
        return Response(serializers.JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ConnectorSummaryView(LandedAPIView):
    @extend_schema(
        operation_id="connectors_summary",
        tags=CONNECTOR_TAGS,
        summary="Counts by health and 14-day sparklines of rows synced and failures",
        responses={200: serializers.ConnectorSummarySerializer},
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.connector_summary(account=request.user.account))


# --- Syncs (history) -------------------------------------------------------------------------
HISTORY_TAGS = ["syncs"]
RECEIPT_PAGE = page_serializer(serializers.ReceiptSerializer)


class SyncListView(LandedAPIView):
    @extend_schema(
        operation_id="syncs_list",
        tags=HISTORY_TAGS,
        summary="List sync receipts, newest first",
        description="One receipt per finished job (attempt): succeeded, failed or cancelled. "
        "`since`/`until` bound the finish time.",
        parameters=[PageQuerySerializer, serializers.AccountReceiptListQuerySerializer],
        responses={
            200: RECEIPT_PAGE,
        },
    )
    def get(self, request: Request) -> Response:
        query = parse_query(serializers.AccountReceiptListQuerySerializer, request).validated_data
        receipts = selectors.receipt_list(account=request.user.account, **query)
        return Response(paginate(request, receipts, serializers.ReceiptSerializer))


class SyncStatsView(LandedAPIView):
    @extend_schema(
        operation_id="syncs_stats",
        tags=HISTORY_TAGS,
        summary="Sync statistics per hour or day",
        description="Over the last `days` (1-90, default 7) in UTC buckets, oldest first, "
        "empty ones included: syncs, successes, failures, cancellations, rows and bytes "
        "written, mean and 95th-percentile duration; and the same for the whole window.",
        parameters=[serializers.StatsQuerySerializer],
        responses={200: serializers.StatsSerializer},
    )
    def get(self, request: Request) -> Response:
        query = parse_query(serializers.StatsQuerySerializer, request).validated_data
        stats = sync_stats(account=request.user.account, **query)
        return Response(serializers.StatsSerializer(stats).data)


class ConnectorSyncListView(LandedAPIView):
    @extend_schema(
        operation_id="syncs_list_for_connector",
        tags=HISTORY_TAGS,
        summary="List a connector's sync receipts, newest first",
        parameters=[PageQuerySerializer, serializers.ReceiptListQuerySerializer],
        responses={
            200: RECEIPT_PAGE,
        },
    )
    def get(self, request: Request, connector_id: Any) -> Response:
        connector = connector_get(account=request.user.account, connector_id=connector_id)
        query = parse_query(serializers.ReceiptListQuerySerializer, request).validated_data
        receipts = selectors.receipt_list(
            account=request.user.account, connector_id=connector.id, **query
        )
        return Response(paginate(request, receipts, serializers.ReceiptSerializer))


class ConnectorSchemaView(LandedAPIView):
    @extend_schema(
        operation_id="syncs_connector_schema",
        tags=HISTORY_TAGS,
        summary="A connector's fields per stream, recent schema changes, pending backfills",
        description="Fields as the last sync loaded them (no connection to the source). "
        "A backfill (a full re-read merged into the table) is requested when a column is "
        "added to an incremental merge stream or such a stream is enabled again; the next "
        "sync does it.",
        parameters=[serializers.SchemaQuerySerializer],
        responses={200: serializers.ConnectorSchemaSerializer},
    )
    def get(self, request: Request, connector_id: Any) -> Response:
        connector = connector_get(account=request.user.account, connector_id=connector_id)
        query = parse_query(serializers.SchemaQuerySerializer, request).validated_data
        schema = selectors.connector_schema(
            connector=connector, changes_limit=query["changes_limit"]
        )
        return Response(serializers.ConnectorSchemaSerializer(schema).data)
