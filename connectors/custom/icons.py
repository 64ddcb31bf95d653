"""Custom connectors' icons: the upload read with a hard size cap, checked and rewritten
(connectors/custom/icon_files.py for PNG, JPEG and WebP, icon_svg.py for SVG), stored once per
content (keyed by the SHA-256 of the stored bytes) and served at a URL that names that hash.

Limits (settings, from the environment): ICON_MAX_BYTES (512 KiB), ICON_MAX_PIXELS per side
(1024) and ICON_MIN_PIXELS (16). A refused file is a 422 whose `msg` says why, at
`loc: ["body", "file"]`.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile, UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.db import IntegrityError, transaction
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from rest_framework.parsers import DataAndFiles, MultiPartParser
from rest_framework.request import Request

from connectors.custom.icon_files import (
    IconLimits,
    IconRejected,
    ProcessedIcon,
    human_size,
    process_raster,
    sniff_kind,
)
from connectors.custom.icon_svg import sanitise_svg
from connectors.models import CustomConnector, CustomConnectorIcon
from landed.api.errors import BadRequestError, NotFoundError, RequestValidationError
from landed.api.validation import invalid

FIELD = "file"
URL_PREFIX = "/custom-connector-icons/"
# Room for the multipart envelope around the file (boundaries, part headers, a filename)
# when judging a request by its Content-Length before reading it.
_MULTIPART_OVERHEAD = 16 * 1024


def icon_limits() -> IconLimits:
    return IconLimits(
        max_bytes=settings.ICON_MAX_BYTES,
        max_side=settings.ICON_MAX_PIXELS,
        min_side=settings.ICON_MIN_PIXELS,
    )


def icon_url(icon: CustomConnectorIcon | None) -> str | None:
    return f"{URL_PREFIX}{icon.sha256}" if icon is not None else None


def icon_filename(icon: CustomConnectorIcon) -> str:
    extension = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}.get(
        icon.content_type, "svg"
    )
    return f"icon-{icon.sha256[:16]}.{extension}"


def _rejected(message: str, kind: str) -> RequestValidationError:
    return invalid([FIELD], message, kind)


def _too_large(size: int, limit: int) -> RequestValidationError:
    return _rejected(
        f"Too large: the file is {human_size(size)}; icons are at most {human_size(limit)}.",
        "icon_too_large",
    )


# --- Reading the upload ----------------------------------------------------------------------
class CappedUploadHandler(FileUploadHandler):
    """Keeps the `file` part in memory, refusing it as soon as it passes the cap (whatever
    Content-Length said); other file parts are skipped unread."""

    def __init__(self, request: Any = None, *, max_bytes: int) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        self.buffer = io.BytesIO()

    def new_file(self, field_name: str, *args: Any, **kwargs: Any) -> None:
        if field_name != FIELD:
            raise SkipFile()
        super().new_file(field_name, *args, **kwargs)
        self.buffer = io.BytesIO()

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        received = start + len(raw_data)
        if received > self.max_bytes:
            raise _too_large(received, self.max_bytes)
        self.buffer.write(raw_data)

    def file_complete(self, file_size: int) -> UploadedFile:
        self.buffer.seek(0)
        return InMemoryUploadedFile(
            file=self.buffer,
            field_name=self.field_name,
            name=self.file_name,
            content_type=self.content_type,
            size=file_size,
            charset=self.charset,
            content_type_extra=self.content_type_extra,
        )


class IconUploadParser(MultiPartParser):
    """multipart/form-data with the icon's cap: refused from Content-Length before reading,
    and while reading (a body without one, or one that lies)."""

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: Any = None
    ) -> DataAndFiles[Any, Any]:
        request: Request = parser_context["request"]
        limit = settings.ICON_MAX_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit + _MULTIPART_OVERHEAD:
            raise _too_large(declared, limit)
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        handlers = [CappedUploadHandler(request, max_bytes=limit)]
        try:
            data, files = DjangoMultiPartParser(meta, stream, handlers).parse()
        except MultiPartParserError as exc:
            raise BadRequestError("Malformed multipart body", str(exc)) from exc
        return DataAndFiles(data, files)


def uploaded_icon_bytes(files: Any) -> tuple[bytes, str]:
    """The one uploaded `file` (its bytes and the name the client gave it); the request's
    serializer has checked that there is one, and that it is not empty."""
    uploads = files.getlist(FIELD)
    if len(uploads) != 1:
        raise _rejected("Send one file in the field 'file', not several.", "icon_too_many_files")
    upload = uploads[0]
    data: bytes = upload.read()
    return data, str(upload.name or "")


# --- Checking and storing --------------------------------------------------------------------
def icon_process(*, data: bytes, filename: str = "") -> ProcessedIcon:
    """The icon as it will be stored, or the 422 that says why it cannot be one."""
    limits = icon_limits()
    if len(data) > limits.max_bytes:
        raise _too_large(len(data), limits.max_bytes)
    try:
        kind = sniff_kind(data)
        if kind == "svg":
            return sanitise_svg(data, limits)
        return process_raster(data, kind, limits)
    except IconRejected as exc:
        message = exc.message
        if filename and exc.kind == "icon_not_an_image":
            # Say which file: its name may claim a type its content does not have.
            message = f"{filename[:100]!r}: {message}"
        raise _rejected(message, exc.kind) from exc


def icon_store(*, icon: ProcessedIcon) -> CustomConnectorIcon:
    """The stored row for these bytes: one per content, whoever uploaded it."""
    sha256 = hashlib.sha256(icon.content).hexdigest()
    defaults = {
        "content_type": icon.content_type,
        "content": icon.content,
        "width": icon.width,
        "height": icon.height,
    }
    try:
        with transaction.atomic():
            row, _ = CustomConnectorIcon.objects.get_or_create(sha256=sha256, defaults=defaults)
    except IntegrityError:
        # Stored by a concurrent upload of the same bytes between our read and insert.
        row = CustomConnectorIcon.objects.get(sha256=sha256)
    return row


def custom_connector_icon_set(
    *, custom_connector: CustomConnector, data: bytes, filename: str = ""
) -> CustomConnector:
    """Check, store and attach an uploaded icon to the custom connector. The icon it had stays
    stored: its URL may be cached or shared by another custom connector with the same one."""
    processed = icon_process(data=data, filename=filename)
    with transaction.atomic():
        custom_connector.icon = icon_store(icon=processed)
        custom_connector.save(update_fields=["icon", "updated_at"])
    return custom_connector


def icon_get(*, sha256: str) -> CustomConnectorIcon:
    """An icon by the hash in its URL (public: the hash is the capability); 404 otherwise."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise NotFoundError(detail="No such icon.")
    icon = CustomConnectorIcon.objects.filter(sha256=sha256).first()
    if icon is None:
        raise NotFoundError(detail="No such icon.")
    return icon
