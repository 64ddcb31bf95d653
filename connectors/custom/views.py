"""The Custom Connectors endpoints of the API reference: definitions an account writes (or
generates) for an API Landed has no connector for."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from connectors.custom import selectors, serializers, services
from landed.api.errors import ConflictError
from landed.api.pagination import PageQuerySerializer, page_serializer, paginate
from landed.api.schema import raises
from landed.api.validation import parse_body
from landed.api.views import LandedAPIView

TAG = ["custom-connectors"]


def _out(request: Request, custom_connector_id: Any) -> dict:
    custom = services.custom_connector_get(
        account=request.user.account, custom_connector_id=custom_connector_id
    )
    return serializers.CustomConnectorSerializer(custom).data


class CustomConnectorListView(LandedAPIView):
    @extend_schema(
        operation_id="custom_connectors_list",
        tags=TAG,
        summary="List custom connector definitions",
        parameters=[PageQuerySerializer],
        responses={200: page_serializer(serializers.CustomConnectorSerializer)},
    )
    def get(self, request: Request) -> Response:
        customs = selectors.custom_connector_list(account=request.user.account)
        return Response(paginate(request, customs, serializers.CustomConnectorSerializer))

    @raises((ConflictError, "Conflict: a custom connector with this name already exists."))
    @extend_schema(
        operation_id="custom_connectors_create",
        tags=TAG,
        summary="Create a custom connector definition",
        description="With a definition, it is version 1 (its base_url defaults to the "
        "connector's); a definition that does not pass the schema is a 422 locating each "
        'problem under `["body", "definition", ...]`.',
        request=serializers.CustomConnectorCreateInputSerializer,
        responses={201: serializers.CustomConnectorSerializer},
    )
    def post(self, request: Request) -> Response:
        data = parse_body(serializers.CustomConnectorCreateInputSerializer, request).validated_data
        custom = services.custom_connector_create(account=request.user.account, data=data)
        return Response(_out(request, custom.id), status=status.HTTP_201_CREATED)


class CustomConnectorDetailView(LandedAPIView):
    @extend_schema(
        operation_id="custom_connectors_get",
        tags=TAG,
        summary="Get custom connector definition",
        responses={200: serializers.CustomConnectorSerializer},
    )
    def get(self, request: Request, custom_connector_id: Any) -> Response:
        return Response(_out(request, custom_connector_id))

    @raises((ConflictError, "Conflict: a custom connector with this name already exists."))
    @extend_schema(
        operation_id="custom_connectors_update",
        tags=TAG,
        summary="Update custom connector definition (partial)",
        description="A definition makes a new version, the current one: new connectors pin "
        "it; existing connectors keep reading with theirs until re-pinned "
        "(`PATCH /connectors/{id}` with `custom_version`).",
        request=serializers.CustomConnectorUpdateInputSerializer,
        responses={200: serializers.CustomConnectorSerializer},
    )
    def patch(self, request: Request, custom_connector_id: Any) -> Response:
        custom = services.custom_connector_get(
            account=request.user.account, custom_connector_id=custom_connector_id
        )
        data = parse_body(serializers.CustomConnectorUpdateInputSerializer, request).validated_data
        services.custom_connector_update(custom_connector=custom, data=data)
        return Response(_out(request, custom.id))

    @raises((ConflictError, "Conflict: connectors of its type exist (the detail names them)."))
    @extend_schema(
        operation_id="custom_connectors_delete",
        tags=TAG,
        summary="Delete custom connector definition",
        description="With all its versions. Refused (409) while connectors of its type exist.",
        responses={204: OpenApiResponse(description="Deleted.")},
    )
    def delete(self, request: Request, custom_connector_id: Any) -> Response:
        custom = services.custom_connector_get(
            account=request.user.account, custom_connector_id=custom_connector_id
        )
        services.custom_connector_delete(custom_connector=custom)
        return Response(status=status.HTTP_204_NO_CONTENT)
