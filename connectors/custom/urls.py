"""The custom connectors' API (`/custom-connectors...`) and their icons."""

from django.urls import URLPattern, path

from connectors.custom import views
from connectors.custom.discover_views import CustomConnectorDiscoverView

urlpatterns: list[URLPattern] = [
    path("custom-connectors", views.CustomConnectorListView.as_view(), name="custom-connectors"),
    path(
        "custom-connectors/<uuid:custom_connector_id>",
        views.CustomConnectorDetailView.as_view(),
        name="custom-connector",
    ),
    path(
        "custom-connectors/<uuid:custom_connector_id>/discover",
        CustomConnectorDiscoverView.as_view(),
        name="custom-connector-discover",
    ),
]
