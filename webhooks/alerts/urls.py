from django.urls import path

from webhooks.alerts import views

# Fixed segments (`resolve`, `read-all`, `unread-count`) are not UUIDs, so the `<uuid:...>`
# routes cannot capture them.
urlpatterns = [
    path("alerts/groups", views.AlertGroupListView.as_view(), name="alert-groups"),
    path("alerts/groups/<uuid:group_id>", views.AlertGroupDetailView.as_view(), name="alert-group"),
    path(
        "alerts/groups/<uuid:group_id>/connectors",
        views.AlertGroupConnectorsView.as_view(),
        name="alert-group-connectors",
    ),
    path(
        "alerts/groups/<uuid:group_id>/connectors/<uuid:connector_id>",
        views.AlertGroupConnectorView.as_view(),
        name="alert-group-connector",
    ),
    path("alerts/policies", views.PolicyListView.as_view(), name="alert-policies"),
    path(
        "alerts/policies/resolve/<uuid:connector_id>",
        views.PolicyResolveView.as_view(),
        name="alert-policies-resolve",
    ),
    path("alerts/policies/<uuid:policy_id>", views.PolicyDetailView.as_view(), name="alert-policy"),
    path(
        "alerts/policies/<uuid:policy_id>/test",
        views.PolicyTestView.as_view(),
        name="alert-policy-test",
    ),
    path("alerts/notifications", views.NotificationListView.as_view(), name="notifications"),
    path(
        "alerts/notifications/read-all",
        views.NotificationReadAllView.as_view(),
        name="notifications-read-all",
    ),
    path(
        "alerts/notifications/unread-count",
        views.NotificationUnreadCountView.as_view(),
        name="notifications-unread-count",
    ),
    path(
        "alerts/notifications/<uuid:notification_id>/read",
        views.NotificationReadView.as_view(),
        name="notification-read",
    ),
]
