"""The Connectors and Destinations endpoints of the API reference."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from connectors import selectors, serializers, services
from connectors.framework.selection import assign_tables
from landed.api import ratelimit
from landed.api.errors import BadRequestError, ConflictError, NotFoundError, UpstreamError
from landed.api.pagination import PageQuerySerializer, page_serializer, paginate
from landed.api.schema import raises
from landed.api.validation import invalid, parse_body
from landed.api.views import LandedAPIView
from syncs import services as sync_services

TAG_CONNECTORS = ["connectors"]
TAG_DESTINATIONS = ["destinations"]


def _connector_out(request: Request, connector_id: Any) -> dict:
    connector = selectors.connector_get(account=request.user.account, connector_id=connector_id)
    return serializers.ConnectorSerializer(connector).data


def _streams_out(connector, selections) -> dict:
    tables = assign_tables(connector.stream_tables, [s.stream.name for s in selections])
    return {"streams": [_stream_out(s, tables[s.stream.name]) for s in selections]}


def _stream_out(selection, table: str) -> dict:
    stream = selection.stream
    return {
        **selection.as_dict(),
        "destination_table": table,
        "kind": stream.kind,
        "columns": [c.as_dict() for c in stream.columns],
        "source_primary_key": list(stream.primary_key),
        "cursor_candidates": list(stream.cursor_candidates),
        "supports_incremental": stream.supports_incremental,
    }


# --- Catalog -------------------------------------------------------------------------------
class ConnectorCatalogView(LandedAPIView):
    # Auth optional: the catalog is public, but a signed-in caller is still recognised.
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="connectors_catalog",
        tags=TAG_CONNECTORS,
        summary="Connector types with their config fields",
        description="Signed in, the account's custom connectors with a definition are listed "
        "too, as types `custom:<id>` at their current version; anonymous callers see the "
        "built-in types only.",
        responses={200: serializers.CatalogSerializer},
        auth=[],
    )
    def get(self, request: Request) -> Response:
        # A signed-in caller sees its own custom types too.
        account = request.user.account if request.user.is_authenticated else None
        return Response(selectors.source_catalog(account=account))


class ConnectorCatalogSchemaView(LandedAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="connectors_catalog_schema",
        tags=TAG_CONNECTORS,
        summary="The fixed stream schema of a connector type (where it has one)",
        responses={200: serializers.CatalogSchemaSerializer},
        auth=[],
    )
    def get(self, request: Request, type_name: str) -> Response:
        return Response(selectors.source_static_schema(type_name=type_name))


class DestinationCatalogView(LandedAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="destinations_catalog",
        tags=TAG_DESTINATIONS,
        summary="Destination types with their config fields",
        responses={200: serializers.CatalogSerializer},
        auth=[],
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.destination_catalog())


# --- Connectors ----------------------------------------------------------------------------
class ConnectorListView(LandedAPIView):
    @extend_schema(
        operation_id="connectors_list",
        tags=TAG_CONNECTORS,
        summary="List configured connectors",
        parameters=[PageQuerySerializer],
        responses={
            200: page_serializer(serializers.ConnectorSerializer),
        },
    )
    def get(self, request: Request) -> Response:
        connectors = selectors.connector_list(account=request.user.account)
        return Response(paginate(request, connectors, serializers.ConnectorSerializer))

    @raises(
        (
            ConflictError,
            "Conflict: another connector already has this name, or loads into this "
            "schema of the destination.",
        ),
    )
    @extend_schema(
        operation_id="connectors_create",
        tags=TAG_CONNECTORS,
        summary="Create a connector",
        description="Config is checked against the type's fields; secret fields are "
        "encrypted at rest and never returned (`secrets_set` names those that are set).",
        request=serializers.ConnectorCreateInputSerializer,
        responses={
            201: serializers.ConnectorSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        data = parse_body(serializers.ConnectorCreateInputSerializer, request).validated_data
        destination = _destination_for_input(request, data["destination_id"])
        connector = services.connector_create(
            account=request.user.account,
            name=data["name"],
            type=data["type"],
            config=data["config"],
            destination=destination,
            sync_frequency_minutes=data["sync_frequency_minutes"],
            paused=data["paused"],
            destination_schema=data.get("destination_schema"),
        )
        return Response(_connector_out(request, connector.id), status=status.HTTP_201_CREATED)


def _destination_for_input(request: Request, destination_id: Any):
    """The caller's destination named in a body: one that is not theirs is a 422 on the field
    (the body is wrong), not a 404 (the URL is fine)."""
    try:
        return selectors.destination_get(
            account=request.user.account, destination_id=destination_id
        )
    except NotFoundError as exc:
        raise invalid(
            ["destination_id"], "Destination not found.", "destination_not_found"
        ) from exc


class ConnectorDetailView(LandedAPIView):
    rate_limit_tiers = {"GET": ratelimit.READ_HIGH}

    @extend_schema(
        operation_id="connectors_get",
        tags=TAG_CONNECTORS,
        summary="Get a connector",
        responses={200: serializers.ConnectorSerializer},
    )
    def get(self, request: Request, connector_id: Any) -> Response:
        return Response(_connector_out(request, connector_id))

    @raises(
        (
            ConflictError,
            "Conflict: a duplicate name or destination schema, or the config or "
            "destination changed while a sync is pending or running.",
        ),
    )
    @extend_schema(
        operation_id="connectors_update",
        tags=TAG_CONNECTORS,
        summary="Update a connector (partial)",
        description="Config fields merge into the saved config; secret fields left out keep "
        "their values. Config and destination cannot change while a sync is pending or "
        "running (409).",
        request=serializers.ConnectorUpdateInputSerializer,
        responses={
            200: serializers.ConnectorSerializer,
        },
    )
    def patch(self, request: Request, connector_id: Any) -> Response:
        connector = selectors.connector_get(account=request.user.account, connector_id=connector_id)
        data = dict(parse_body(serializers.ConnectorUpdateInputSerializer, request).validated_data)
        if "destination_id" in data:
            data["destination"] = _destination_for_input(request, data.pop("destination_id"))
        sync_services.connector_update(connector=connector, data=data)
        return Response(_connector_out(request, connector.id))

    @extend_schema(
        operation_id="connectors_delete",
        tags=TAG_CONNECTORS,
        summary="Delete a connector with its jobs, history and state",
        description="The destination's tables are left in place.",
        responses={204: OpenApiResponse(description="Deleted.")},
    )
    def delete(self, request: Request, connector_id: Any) -> Response:
        connector = selectors.connector_get(account=request.user.account, connector_id=connector_id)
        sync_services.connector_delete(connector=connector)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConnectorTestView(LandedAPIView):
    rate_limit_tiers = {"POST": ratelimit.SENSITIVE}

    @extend_schema(
        operation_id="connectors_test",
        tags=TAG_CONNECTORS,
        summary="Test the connector's credentials (nothing is written)",
        description="200 with the outcome, step by step; a failed test is `status: failed`.",
        request=None,
        responses={200: serializers.TestResultSerializer},
    )
    def post(self, request: Request, connector_id: Any) -> Response:
        connector = selectors.connector_get(account=request.user.account, connector_id=connector_id)
        return Response(services.connector_test(connector=connector))


class ConnectorStreamsView(LandedAPIView):
    @raises(
        (
            BadRequestError,
            "Bad request: the source refused the credentials or config, or the saved "
            "stream settings cannot be read.",
        ),
        (
            UpstreamError,
            "Upstream provider unavailable: stream discovery could not reach the source.",
        ),
    )
    @extend_schema(
        operation_id="connectors_streams_get",
        tags=TAG_CONNECTORS,
        summary="Streams found by live discovery, with the saved selection",
        responses={
            200: serializers.StreamListSerializer,
        },
    )
    def get(self, request: Request, connector_id: Any) -> Response:
        connector = selectors.connector_get(account=request.user.account, connector_id=connector_id)
        selections = services.connector_streams(connector=connector)
        return Response(_streams_out(connector, selections))

    @raises(
        (
            BadRequestError,
            "Bad request: the source refused the credentials or config, or the saved "
            "stream settings cannot be read.",
        ),
        (ConflictError, "Conflict: a sync of the connector is pending or running."),
        (
            UpstreamError,
            "Upstream provider unavailable: stream discovery could not reach the source.",
        ),
    )
    @extend_schema(
        operation_id="connectors_streams_update",
        tags=TAG_CONNECTORS,
        summary="Enable or disable streams and set their sync and load modes",
        description="Each entry needs `name`, `enabled`, `sync_mode` and `load_mode`; "
        "`cursor_field` with an incremental sync, `primary_key` for a merge (or an appended "
        "full refresh) when the source has no key. Listed streams are replaced whole, others "
        "keep their settings. Checked against live discovery: an unknown stream or column, or "
        "merge without a primary key, is a 422. 409 while a sync is pending or running.",
        request=serializers.StreamsInputSerializer,
        responses={
            200: serializers.StreamListSerializer,
        },
    )
    def put(self, request: Request, connector_id: Any) -> Response:
        connector = selectors.connector_get(account=request.user.account, connector_id=connector_id)
        data = parse_body(serializers.StreamsInputSerializer, request).validated_data
        selections = sync_services.connector_streams_update(
            connector=connector, entries=[dict(entry) for entry in data["streams"]]
        )
        return Response(_streams_out(connector, selections))


# --- Destinations --------------------------------------------------------------------------
class DestinationListView(LandedAPIView):
    @extend_schema(
        operation_id="destinations_list",
        tags=TAG_DESTINATIONS,
        summary="List configured destinations",
        parameters=[PageQuerySerializer],
        responses={
            200: page_serializer(serializers.DestinationSerializer),
        },
    )
    def get(self, request: Request) -> Response:
        destinations = selectors.destination_list(account=request.user.account)
        return Response(paginate(request, destinations, serializers.DestinationSerializer))

    @raises((ConflictError, "Conflict: a destination with this name already exists."))
    @extend_schema(
        operation_id="destinations_create",
        tags=TAG_DESTINATIONS,
        summary="Create a destination",
        request=serializers.DestinationInputSerializer,
        responses={
            201: serializers.DestinationSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        data = parse_body(serializers.DestinationInputSerializer, request).validated_data
        destination = services.destination_create(account=request.user.account, **data)
        return Response(
            serializers.DestinationSerializer(destination).data, status=status.HTTP_201_CREATED
        )


class DestinationDetailView(LandedAPIView):
    rate_limit_tiers = {"GET": ratelimit.READ_HIGH}

    def _get(self, request: Request, destination_id: Any):
        return selectors.destination_get(
            account=request.user.account, destination_id=destination_id
        )

    @extend_schema(
        operation_id="destinations_get",
        tags=TAG_DESTINATIONS,
        summary="Get a destination",
        responses={200: serializers.DestinationSerializer},
    )
    def get(self, request: Request, destination_id: Any) -> Response:
        return Response(serializers.DestinationSerializer(self._get(request, destination_id)).data)

    @raises((ConflictError, "Conflict: a destination with this name already exists."))
    @extend_schema(
        operation_id="destinations_update",
        tags=TAG_DESTINATIONS,
        summary="Update a destination (full body; the type cannot change)",
        description="Secret fields left out of `config` keep their saved values.",
        request=serializers.DestinationInputSerializer,
        responses={
            200: serializers.DestinationSerializer,
        },
    )
    def patch(self, request: Request, destination_id: Any) -> Response:
        destination = self._get(request, destination_id)
        data = parse_body(serializers.DestinationInputSerializer, request).validated_data
        destination = services.destination_update(destination=destination, **data)
        return Response(serializers.DestinationSerializer(destination).data)

    @raises((ConflictError, "Conflict: the destination is used by connectors."))
    @extend_schema(
        operation_id="destinations_delete",
        tags=TAG_DESTINATIONS,
        summary="Delete a destination",
        description="409 while connectors load into it. Its tables are left in place.",
        responses={
            204: OpenApiResponse(description="Deleted."),
        },
    )
    def delete(self, request: Request, destination_id: Any) -> Response:
        services.destination_delete(destination=self._get(request, destination_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DestinationTestView(LandedAPIView):
    rate_limit_tiers = {"POST": ratelimit.SENSITIVE}

    @extend_schema(
        operation_id="destinations_test",
        tags=TAG_DESTINATIONS,
        summary="Test a destination's connectivity without saving it",
        request=serializers.DestinationTestInputSerializer,
        responses={
            200: serializers.TestResultSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        data = parse_body(serializers.DestinationTestInputSerializer, request).validated_data
        return Response(
            services.destination_test(
                account=request.user.account, type=data["type"], config=data["config"]
            )
        )


class DestinationSavedTestView(LandedAPIView):
    rate_limit_tiers = {"POST": ratelimit.SENSITIVE}

    @extend_schema(
        operation_id="destinations_test_saved",
        tags=TAG_DESTINATIONS,
        summary="Test a saved destination's connectivity",
        request=None,
        responses={200: serializers.TestResultSerializer},
    )
    def post(self, request: Request, destination_id: Any) -> Response:
        destination = selectors.destination_get(
            account=request.user.account, destination_id=destination_id
        )
        return Response(services.destination_test_saved(destination=destination))
