"""The custom connectors' API (`/custom-connectors...`) and their icons."""

from django.urls import URLPattern, path

from connectors.custom import icon_views, views
from connectors.custom.discover_views import CustomConnectorDiscoverView

urlpatterns: list[URLPattern] = [
    path("custom-connectors", views.CustomConnectorListView.as_view(), name="custom-connectors"),
    path(
        "custom-connectors/<uuid:custom_connector_id>",
        views.CustomConnectorDetailView.as_view(),
        name="custom-connector",
    ),
    path(
        "custom-connectors/<uuid:custom_connector_id>/icon",
        icon_views.CustomConnectorIconView.as_view(),
        name="custom-connector-icon",
    ),
    path(
        "custom-connector-icons/<str:sha256>",
        icon_views.CustomConnectorIconFileView.as_view(),
        name="custom-connector-icon-file",
    ),
    path(
        "custom-connectors/<uuid:custom_connector_id>/discover",
        CustomConnectorDiscoverView.as_view(),
        name="custom-connector-discover",
    ),
]
