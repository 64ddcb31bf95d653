"""`POST /custom-connectors/{id}/icon` (upload) and `GET /custom-connector-icons/{sha256}`
(the stored icon, public and cached forever: its URL changes when its content does)."""

from __future__ import annotations

import uuid

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers as drf_serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from connectors.custom import icons, serializers, services
from landed.api import ratelimit
from landed.api.errors import (
    BadRequestError,
    RequestValidationError,
    UnsupportedMediaTypeError,
)
from landed.api.schema import raises
from landed.api.validation import parse_body
from landed.api.views import LandedAPIView

TAGS = ["custom-connectors"]
# What a browser may do with an icon opened directly (an SVG above all): nothing but draw it.
ICON_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
IMMUTABLE = "public, max-age=31536000, immutable"
ICON_MEDIA_TYPES = ("image/png", "image/jpeg", "image/webp", "image/svg+xml")


class IconUploadInputSerializer(drf_serializers.Serializer):
    file = drf_serializers.FileField(
        help_text="PNG, JPEG, WebP or SVG; its type is read from its content, not its name."
    )


class CustomConnectorIconView(LandedAPIView):
    parser_classes = [icons.IconUploadParser]

    @raises(
        (
            UnsupportedMediaTypeError,
            "Unsupported media type: send multipart/form-data with the icon in the field `file`.",
        ),
        (BadRequestError, "Bad request: a malformed multipart body."),
        (
            RequestValidationError,
            "Validation error: the file cannot be an icon; `msg` says why (not an image, an "
            "unsupported type, too large, too many or too few pixels, corrupt, an SVG that "
            "cannot be made safe or declares no size).",
        ),
    )
    @extend_schema(
        operation_id="custom_connectors_icon_upload",
        tags=TAGS,
        summary="Upload a custom connector's icon",
        description=(
            "Multipart upload (field `file`). The type is read from the content: PNG, JPEG "
            "and WebP are decoded and re-encoded (metadata dropped); SVG is rebuilt from an "
            "allow-list of elements and attributes, or refused when it holds scripts, event "
            "handlers, external references or entity declarations. At most ICON_MAX_BYTES "
            "(512 KiB) and ICON_MAX_PIXELS (1024) per side, at least ICON_MIN_PIXELS (16). "
            "A refused file is a 422 whose `msg` says why."
        ),
        request=IconUploadInputSerializer,
        responses={200: serializers.CustomConnectorSerializer},
    )
    def post(self, request: Request, custom_connector_id: uuid.UUID) -> Response:
        account = request.user.account
        custom_connector = services.custom_connector_get(
            account=account, custom_connector_id=custom_connector_id
        )
        if not (request.content_type or "").startswith("multipart/form-data"):
            raise UnsupportedMediaTypeError(
                detail="Send multipart/form-data with the icon in the field 'file'."
            )
        parse_body(IconUploadInputSerializer, request)
        data, filename = icons.uploaded_icon_bytes(request.FILES)
        icons.custom_connector_icon_set(
            custom_connector=custom_connector, data=data, filename=filename
        )
        # Read anew, with what the custom connector's responses show.
        updated = services.custom_connector_get(
            account=account, custom_connector_id=custom_connector_id
        )
        return Response(serializers.CustomConnectorSerializer(updated).data)


def _etag_matches(header: str, etag: str) -> bool:
    candidates = [c.strip().removeprefix("W/") for c in header.split(",")]
    return "*" in candidates or etag in candidates


class CustomConnectorIconFileView(LandedAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    # A page showing many connectors loads many icons at once; browsers cache them after.
    rate_limit_tiers = {"GET": ratelimit.READ_HIGH, "HEAD": ratelimit.READ_HIGH}

    @extend_schema(
        operation_id="custom_connector_icons_get",
        tags=TAGS,
        summary="A custom connector's icon",
        description=(
            "Public and immutable: the URL names the SHA-256 of the content. Served with "
            "`Cache-Control: public, max-age=31536000, immutable`, the hash as ETag (304 on "
            "`If-None-Match`), `X-Content-Type-Options: nosniff` and a sandboxing "
            "Content-Security-Policy."
        ),
        responses={
            **{
                (200, media_type): OpenApiResponse(OpenApiTypes.BINARY, description="The icon.")
                for media_type in ICON_MEDIA_TYPES
            },
            304: OpenApiResponse(description="Not modified: the ETag sent is this icon's."),
        },
        auth=[],
    )
    def get(self, request: Request, sha256: str) -> HttpResponse:
        icon = icons.icon_get(sha256=sha256)
        etag = f'"{icon.sha256}"'
        if _etag_matches(request.headers.get("If-None-Match", ""), etag):
            response = HttpResponse(status=304)
        else:
            response = HttpResponse(bytes(icon.content), content_type=icon.content_type)
            response["Content-Disposition"] = f'inline; filename="{icons.icon_filename(icon)}"'
        response["ETag"] = etag
        response["Cache-Control"] = IMMUTABLE
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = ICON_CSP
        return response
