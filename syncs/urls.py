from django.urls import path

from syncs import views

urlpatterns = [
    # Connector URLs served by syncs (connectors/urls.py has no pattern that matches them).
    path("connectors/summary", views.ConnectorSummaryView.as_view(), name="connectors-summary"),
    path(
        "connectors/<uuid:connector_id>/sync",
        views.ConnectorSyncView.as_view(),
        name="connector-sync",
    ),
    path("jobs", views.JobListView.as_view(), name="jobs"),
    path("jobs/<uuid:job_id>", views.JobDetailView.as_view(), name="job"),
    path("jobs/<uuid:job_id>/cancel", views.JobCancelView.as_view(), name="job-cancel"),
    path("jobs/<uuid:job_id>/retry", views.JobRetryView.as_view(), name="job-retry"),
    path("syncs", views.SyncListView.as_view(), name="syncs"),
    path("syncs/stats", views.SyncStatsView.as_view(), name="sync-stats"),
    path(
        "syncs/<uuid:connector_id>", views.ConnectorSyncListView.as_view(), name="connector-syncs"
    ),
    path(
        "syncs/<uuid:connector_id>/schema",
        views.ConnectorSchemaView.as_view(),
        name="connector-schema",
    ),
]
