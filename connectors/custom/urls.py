"""The custom connectors' API (`/custom-connectors...`) and their icons."""

from django.urls import URLPattern, path

from connectors.custom import views

urlpatterns: list[URLPattern] = [
    path("custom-connectors", views.CustomConnectorListView.as_view(), name="custom-connectors"),
    path(
        "custom-connectors/<uuid:custom_connector_id>",
        views.CustomConnectorDetailView.as_view(),
        name="custom-connector",
    ),
]
