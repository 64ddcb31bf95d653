"""The custom connectors' API (`/custom-connectors...`) and their icons."""

from django.urls import URLPattern, path

from connectors.custom import icon_views, views
from connectors.custom.discover_views import CustomConnectorDiscoverView
from connectors.custom.sandbox_views import (
    CustomConnectorGenerateView,
    CustomConnectorGenerationsView,
    CustomConnectorTestView,
)

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
    path(
        "custom-connectors/<uuid:custom_connector_id>/test",
        CustomConnectorTestView.as_view(),
        name="custom-connector-test",
    ),
    path(
        "custom-connectors/<uuid:custom_connector_id>/generate",
        CustomConnectorGenerateView.as_view(),
        name="custom-connector-generate",
    ),
    path(
        "custom-connectors/<uuid:custom_connector_id>/generations",
        CustomConnectorGenerationsView.as_view(),
        name="custom-connector-generations",
    ),
]
