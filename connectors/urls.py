from django.urls import include, path

from connectors import views

urlpatterns = [
    path("", include("connectors.custom.urls")),
    path("connectors/catalog", views.ConnectorCatalogView.as_view(), name="connectors-catalog"),
    path(
        "connectors/catalog/<str:type_name>/schema",
        views.ConnectorCatalogSchemaView.as_view(),
        name="connectors-catalog-schema",
    ),
    path("connectors", views.ConnectorListView.as_view(), name="connectors"),
    path("connectors/<uuid:connector_id>", views.ConnectorDetailView.as_view(), name="connector"),
    path(
        "connectors/<uuid:connector_id>/test",
        views.ConnectorTestView.as_view(),
        name="connector-test",
    ),
    path(
        "connectors/<uuid:connector_id>/streams",
        views.ConnectorStreamsView.as_view(),
        name="connector-streams",
    ),
    path(
        "destinations/catalog",
        views.DestinationCatalogView.as_view(),
        name="destinations-catalog",
    ),
    path("destinations/test", views.DestinationTestView.as_view(), name="destinations-test"),
    path("destinations", views.DestinationListView.as_view(), name="destinations"),
    path(
        "destinations/<uuid:destination_id>",
        views.DestinationDetailView.as_view(),
        name="destination",
    ),
    path(
        "destinations/<uuid:destination_id>/test",
        views.DestinationSavedTestView.as_view(),
        name="destination-test",
    ),
]
