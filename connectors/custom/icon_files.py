"""Icon files, checked and rewritten: what a file is (from its bytes, never its name or the
client's Content-Type), and PNG, JPEG and WebP images decoded and re-encoded with Pillow.

Re-encoding keeps only the pixels: metadata (EXIF, comments, ICC profiles, text chunks) and
anything appended after the image's end are gone from what is stored and served. Dimensions
are read from the header and checked before any pixel is decoded, so that a small file that
declares a huge image (a decompression bomb) is refused without being expanded.

Plain Python (no Django): the API turns `IconRejected` into its 422 (connectors/custom/icons.py).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageOps, UnidentifiedImageError

IconKind = Literal["png", "jpeg", "webp", "svg"]

CONTENT_TYPES: dict[IconKind, str] = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "svg": "image/svg+xml",
}
EXTENSIONS: dict[str, str] = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/svg+xml": "svg",
}
_PILLOW_FORMATS: dict[IconKind, str] = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
# Modes each format stores as they are; any other is converted (to RGBA, or RGB for JPEG).
_KEPT_MODES: dict[IconKind, frozenset[str]] = {
    "png": frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I;16"}),
    "jpeg": frozenset({"L", "RGB"}),
    "webp": frozenset({"RGB", "RGBA"}),
}


class IconRejected(Exception):
    """The file cannot be an icon; `message` says why, `kind` names the reason."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


@dataclass(frozen=True)
class IconLimits:
    max_bytes: int
    max_side: int
    min_side: int


@dataclass(frozen=True)
class ProcessedIcon:
    content: bytes
    content_type: str
    width: int
    height: int


def human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB"
    if size >= 1024:
        return f"{size / 1024:.0f} KiB"
    return f"{size} bytes"


# --- What the file is ------------------------------------------------------------------------
# Formats recognised only to say why they are refused: (magic bytes, name).
_UNSUPPORTED_IMAGES = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
)
_NOT_IMAGES = (
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x7fELF", "an executable"),
    (b"MZ", "an executable"),
)
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<iframe", b"<meta")
_SUPPORTED = "PNG, JPEG, WebP or SVG"


def sniff_kind(data: bytes) -> IconKind:
    """The icon's type, from its first bytes; IconRejected for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith(b"\x00\x00\x00") and data[4:12] in (b"ftypavif", b"ftypheic", b"ftypmif1"):
        raise IconRejected(
            f"AVIF/HEIF images are not supported: upload {_SUPPORTED}.", "icon_unsupported_type"
        )
    for magic, name in _UNSUPPORTED_IMAGES:
        if data.startswith(magic):
            raise IconRejected(
                f"{name} images are not supported: upload {_SUPPORTED}.", "icon_unsupported_type"
            )
    for magic, what in _NOT_IMAGES:
        if data.startswith(magic):
            raise IconRejected(f"Not an image: the file is {what}.", "icon_not_an_image")
    text_start = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:512].lower()
    if text_start.startswith(_HTML_STARTS):
        raise IconRejected("Not an image: the file is an HTML document.", "icon_not_an_image")
    if text_start.startswith(b"<"):
        # XML of some kind: icon_svg decides whether it is an SVG it can make safe.
        return "svg"
    raise IconRejected(
        f"Not an image: its content is not {_SUPPORTED} (checked from the file's bytes, "
        "not its name).",
        "icon_not_an_image",
    )


# --- PNG, JPEG, WebP -------------------------------------------------------------------------
def check_dimensions(width: int, height: int, limits: IconLimits, what: str) -> None:
    if width > limits.max_side or height > limits.max_side:
        raise IconRejected(
            f"Too many pixels: the {what} is {width}x{height}; icons are at most "
            f"{limits.max_side}x{limits.max_side}.",
            "icon_too_many_pixels",
        )
    if width < limits.min_side or height < limits.min_side:
        raise IconRejected(
            f"Too small: the {what} is {width}x{height}; icons are at least "
            f"{limits.min_side}x{limits.min_side}.",
            "icon_too_small",
        )


def _corrupt(kind: IconKind, exc: BaseException) -> IconRejected:
    name = _PILLOW_FORMATS[kind]
    reason = str(exc).strip() or type(exc).__name__
    return IconRejected(f"Corrupt {name} image: it cannot be decoded ({reason}).", "icon_corrupt")


def process_raster(data: bytes, kind: IconKind, limits: IconLimits) -> ProcessedIcon:
    """Check a PNG, JPEG or WebP file and re-encode it in the same format."""
    formats = [_PILLOW_FORMATS[kind]]
    # No warnings filter for Pillow's DecompressionBombWarning (the filters are process-wide,
    # shared by the server's threads): an image past MAX_IMAGE_PIXELS is far past our cap per
    # side, refused right after the header is read; past twice that, Pillow refuses it itself.
    try:
        with Image.open(io.BytesIO(data), formats=formats) as probe:
            # The header's dimensions, before any pixel is decoded.
            width, height = probe.size
            check_dimensions(width, height, limits, "image")
            if getattr(probe, "n_frames", 1) > 1:
                raise IconRejected(
                    "Animated images are not supported: upload a single frame.",
                    "icon_unsupported_type",
                )
            probe.verify()
        with Image.open(io.BytesIO(data), formats=formats) as image:
            image.load()
            pixels = _upright(image) if kind == "jpeg" else image.copy()
    except Image.DecompressionBombError as exc:
        raise IconRejected(
            f"Too many pixels: the image declares more than Pillow decodes ({exc}).",
            "icon_too_many_pixels",
        ) from exc
    except UnidentifiedImageError as exc:
        raise IconRejected(
            f"Corrupt {formats[0]} image: its header cannot be read.", "icon_corrupt"
        ) from exc
    except IconRejected:
        raise
    except Exception as exc:
        # Pillow's decoders meet hostile input with many kinds of error (OSError,
        # SyntaxError, ValueError, struct.error, EOFError ...): each means "corrupt".
        raise _corrupt(kind, exc) from exc
    content = _encode(pixels, kind)
    if len(content) > limits.max_bytes:
        raise IconRejected(
            f"Too large: re-encoded, the image is {human_size(len(content))}; icons are at "
            f"most {human_size(limits.max_bytes)}. Upload a smaller or simpler image.",
            "icon_too_large",
        )
    return ProcessedIcon(
        content=content,
        content_type=CONTENT_TYPES[kind],
        width=pixels.width,
        height=pixels.height,
    )


def _upright(image: Image.Image) -> Image.Image:
    """A JPEG's pixels turned as its EXIF orientation says: the EXIF itself is not kept."""
    return ImageOps.exif_transpose(image) or image.copy()


def _encode(image: Image.Image, kind: IconKind) -> bytes:
    transparency = image.info.get("transparency") if kind == "png" else None
    if image.mode not in _KEPT_MODES[kind]:
        image = image.convert("RGB" if kind == "jpeg" else "RGBA")
        transparency = None
    # Only the pixels (and a PNG palette's transparency) travel to the new file.
    image.info = {}
    out = io.BytesIO()
    if kind == "png":
        extra = {"transparency": transparency} if transparency is not None else {}
        image.save(out, format="PNG", compress_level=9, **extra)
    elif kind == "jpeg":
        image.save(out, format="JPEG", quality=90)
    else:
        image.save(out, format="WEBP", quality=90)
    return out.getvalue()
