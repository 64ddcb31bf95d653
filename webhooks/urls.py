from django.urls import path

from webhooks import views

urlpatterns = [
    path("webhooks", views.WebhookListView.as_view(), name="webhooks"),
    path("webhooks/<uuid:webhook_id>", views.WebhookDetailView.as_view(), name="webhook"),
    path(
        "webhooks/<uuid:webhook_id>/rotate-secret",
        views.WebhookRotateSecretView.as_view(),
        name="webhook-rotate-secret",
    ),
    path("webhooks/<uuid:webhook_id>/test", views.WebhookTestView.as_view(), name="webhook-test"),
    path(
        "webhooks/<uuid:webhook_id>/deliveries",
        views.WebhookDeliveriesView.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "webhooks/<uuid:webhook_id>/secret",
        views.WebhookSecretView.as_view(),
        name="webhook-secret",
    ),
]
