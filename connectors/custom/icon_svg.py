"""SVG icons, made safe or refused.

An SVG is a document that can run scripts and load other resources. The file is parsed with
defusedxml (no entity declarations: no billion laughs, no external entities reading files or
URLs), then rebuilt from an allow-list of SVG elements and attributes:

- active content is refused with a 422 that names it: <script>, <foreignObject> (HTML inside
  SVG), <iframe>/<embed>/<object>, <image>/<feImage> (embedded or linked images), event-handler
  attributes (`on*`), links other than to a `#fragment` of the same file (`javascript:`,
  `data:`, `http:` ...), and CSS that can load anything (`url()` other than `url(#id)`,
  `@import`, `image-set()` ..., or CSS escapes that could spell them);
- anything else not on the list (editor metadata, comments, processing instructions, unknown
  elements and attributes, a DOCTYPE) is dropped;
- the result is serialised anew, so nothing the parser ignored survives.

Its rendered size (width/height, else the viewBox's) is checked against the largest side
allowed. Plain Python (no Django).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape, quoteattr

# No type stubs are installed for defusedxml (types-defusedxml is not a dependency).
from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import fromstring  # type: ignore[import-untyped]

from connectors.custom.icon_files import IconLimits, IconRejected, ProcessedIcon

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
XML_NS = "http://www.w3.org/XML/1998/namespace"
XHTML_NS = "http://www.w3.org/1999/xhtml"

_FILTER_PRIMITIVES = frozenset(
    {
        "feBlend", "feColorMatrix", "feComponentTransfer", "feComposite", "feConvolveMatrix",
        "feDiffuseLighting", "feDisplacementMap", "feDistantLight", "feDropShadow", "feFlood",
        "feFuncA", "feFuncB", "feFuncG", "feFuncR", "feGaussianBlur", "feMerge", "feMergeNode",
        "feMorphology", "feOffset", "fePointLight", "feSpecularLighting", "feSpotLight",
        "feTile", "feTurbulence",
    }
)  # fmt: skip
ALLOWED_ELEMENTS = frozenset(
    {
        "svg", "g", "defs", "title", "desc", "symbol", "use", "a", "style",
        "path", "rect", "circle", "ellipse", "line", "polyline", "polygon",
        "text", "tspan", "textPath",
        "linearGradient", "radialGradient", "stop", "clipPath", "mask", "pattern", "marker",
        "filter",
    }
    | _FILTER_PRIMITIVES
)  # fmt: skip
# Refused rather than dropped: what makes an SVG active or makes it load something.
REFUSED_ELEMENTS: dict[str, str] = {
    "script": "a <script> element (scripts are not allowed in icons)",
    "foreignObject": "a <foreignObject> element (HTML inside SVG is not allowed in icons)",
    "iframe": "an <iframe> element",
    "embed": "an <embed> element",
    "object": "an <object> element",
    "image": "an <image> element (embedded or linked images: upload a PNG, JPEG or WebP instead)",
    "feImage": "an <feImage> element (filters that load images)",
    "handler": "a <handler> element (scripts are not allowed in icons)",
    "listener": "a <listener> element (event handlers are not allowed in icons)",
}
ALLOWED_ATTRIBUTES = frozenset(
    {
        "id", "class", "style", "transform", "viewBox", "preserveAspectRatio", "version",
        "width", "height", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry",
        "fx", "fy", "fr", "d", "points", "pathLength",
        "fill", "fill-opacity", "fill-rule", "stroke", "stroke-width", "stroke-linecap",
        "stroke-linejoin", "stroke-miterlimit", "stroke-dasharray", "stroke-dashoffset",
        "stroke-opacity", "opacity", "color", "display", "visibility", "overflow",
        "clip-path", "clip-rule", "clipPathUnits", "mask", "maskUnits", "maskContentUnits",
        "filter", "filterUnits", "primitiveUnits", "gradientUnits", "gradientTransform",
        "spreadMethod", "offset", "stop-color", "stop-opacity", "patternUnits",
        "patternContentUnits", "patternTransform", "marker-start", "marker-mid", "marker-end",
        "markerWidth", "markerHeight", "markerUnits", "refX", "refY", "orient",
        "font-family", "font-size", "font-weight", "font-style", "font-variant",
        "text-anchor", "dominant-baseline", "alignment-baseline", "baseline-shift",
        "letter-spacing", "word-spacing", "text-decoration", "dx", "dy", "rotate",
        "textLength", "lengthAdjust", "startOffset", "method", "spacing", "side",
        "in", "in2", "result", "stdDeviation", "mode", "type", "values", "operator",
        "k1", "k2", "k3", "k4", "flood-color", "flood-opacity", "lighting-color", "radius",
        "scale", "xChannelSelector", "yChannelSelector", "baseFrequency", "numOctaves",
        "seed", "stitchTiles", "tableValues", "slope", "intercept", "amplitude", "exponent",
        "surfaceScale", "diffuseConstant", "specularConstant", "specularExponent",
        "kernelMatrix", "kernelUnitLength", "order", "divisor", "bias", "targetX", "targetY",
        "edgeMode", "preserveAlpha", "azimuth", "elevation", "pointsAtX", "pointsAtY",
        "pointsAtZ", "limitingConeAngle", "z", "color-interpolation",
        "color-interpolation-filters", "shape-rendering", "text-rendering", "vector-effect",
        "paint-order", "isolation", "mix-blend-mode", "media",
    }
)  # fmt: skip
_HREFS = {"href", f"{{{XLINK_NS}}}href"}
# CSS that loads something: url() other than to a fragment of this file, @import, functions
# that take an image URL as a string, Internet Explorer's expression() and bindings.
_CSS_EXTERNAL_URL = re.compile(r"url\s*\(\s*(?![\s'\"]*#)", re.IGNORECASE)
_CSS_LOADERS = re.compile(
    r"@import|(?:image-set|image|cross-fade|src|expression|element)\s*\(|-moz-binding|behavior\s*:",
    re.IGNORECASE,
)
_SCRIPT_SCHEMES = re.compile(r"(?:java|vb)script\s*:", re.IGNORECASE)
# Far above any real icon; a flat cap against files that make renderers work for minutes.
MAX_ELEMENTS = 5_000
MAX_USES = 200
MAX_DEPTH = 64
# Elements drawn once every <use> is expanded: nested <use>s of groups of <use>s multiply
# (200 of them can draw 10^9 elements and freeze the browser that shows the icon).
MAX_DRAWN_ELEMENTS = 20_000
_LENGTH = re.compile(r"^\s*([+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(px|pt|pc|mm|cm|in)?\s*$")
_PX_PER_UNIT = {None: 1.0, "px": 1.0, "pt": 4 / 3, "pc": 16.0, "mm": 96 / 25.4, "cm": 96 / 2.54,
                "in": 96.0}  # fmt: skip


@dataclass
class _Walk:
    elements: int = 0
    uses: int = 0
    depth: int = 0


def _refuse(reason: str) -> IconRejected:
    return IconRejected(f"Unsafe SVG: it contains {reason}.", "icon_unsafe_svg")


def sanitise_svg(data: bytes, limits: IconLimits) -> ProcessedIcon:
    """The SVG rebuilt from the allow-list, or IconRejected saying what cannot be made safe."""
    try:
        # No entity declarations (internal, external or parameter ones): billion laughs and
        # XXE stop here. A bare DOCTYPE (as illustration tools write) is allowed and dropped.
        root = fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise IconRejected(
            "Unsafe SVG: it declares XML entities (<!ENTITY ...>), which can expand without "
            f"limit or read other files; they are not allowed ({type(exc).__name__}).",
            "icon_unsafe_svg",
        ) from exc
    except ParseError as exc:
        raise IconRejected(
            f"Not an image: the file looks like XML but cannot be parsed ({exc}).",
            "icon_not_an_image",
        ) from exc
    namespaced = root.tag.startswith(f"{{{SVG_NS}}}")
    if _local_name(root.tag, namespaced) != "svg":
        raise IconRejected(
            f"Not an image: an XML document whose root element is <{_plain(root.tag)}>, not <svg>.",
            "icon_not_an_image",
        )
    width, height = _rendered_size(root)
    if width > limits.max_side or height > limits.max_side:
        raise IconRejected(
            f"Too many pixels: the SVG's size is {width}x{height}; icons are at most "
            f"{limits.max_side}x{limits.max_side}.",
            "icon_too_many_pixels",
        )
    walk = _Walk()
    body = _serialise(root, namespaced, walk, is_root=True)
    _check_use_expansion(root)
    content = ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode()
    if len(content) > limits.max_bytes:
        raise IconRejected(
            f"Too large: the SVG is {len(content)} bytes; icons are at most "
            f"{limits.max_bytes} bytes.",
            "icon_too_large",
        )
    return ProcessedIcon(content=content, content_type="image/svg+xml", width=width, height=height)


def _plain(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _local_name(tag: str, namespaced: bool) -> str | None:
    """An SVG element's name; None for an element of another namespace. A document without
    the SVG namespace has its unprefixed elements read as SVG (and gets the namespace)."""
    if tag.startswith(f"{{{SVG_NS}}}"):
        return tag[len(SVG_NS) + 2 :]
    if not namespaced and not tag.startswith("{"):
        return tag
    return None


def _serialise(element: Element, namespaced: bool, walk: _Walk, *, is_root: bool) -> str:
    tag = element.tag if isinstance(element.tag, str) else ""
    name = _local_name(tag, namespaced)
    if name is None:
        if tag.startswith(f"{{{XHTML_NS}}}"):
            raise _refuse(f"an HTML <{_plain(tag)}> element")
        return ""  # another vocabulary (editor metadata, RDF): dropped with its content
    if name in REFUSED_ELEMENTS:
        raise _refuse(REFUSED_ELEMENTS[name])
    if name not in ALLOWED_ELEMENTS:
        return ""
    walk.elements += 1
    walk.uses += name == "use"
    if walk.elements > MAX_ELEMENTS or walk.uses > MAX_USES or walk.depth >= MAX_DEPTH:
        raise IconRejected(
            f"Unsafe SVG: more than {MAX_ELEMENTS} elements, {MAX_USES} <use> references or "
            f"{MAX_DEPTH} levels of nesting; icons are simpler than that.",
            "icon_unsafe_svg",
        )
    attributes = _attributes(element, name)
    if is_root:
        attributes = [("xmlns", SVG_NS), ("xmlns:xlink", XLINK_NS), *attributes]
    text = element.text or ""
    if name == "style":
        # Its CSS is all its text: also what follows a child element (kept or dropped).
        _check_css("".join(element.itertext()), "a <style> element")
    parts = [escape(text)]
    walk.depth += 1
    for child in element:
        parts.append(_serialise(child, namespaced, walk, is_root=False))
        # Text after a child belongs to this element, whatever became of the child.
        parts.append(escape(child.tail or ""))
    walk.depth -= 1
    inner = "".join(parts)
    opening = name + "".join(f" {key}={quoteattr(value)}" for key, value in attributes)
    return f"<{opening}>{inner}</{name}>" if inner else f"<{opening}/>"


def _check_use_expansion(root: Element) -> None:
    """Refuse a <use> that draws itself (directly or through what it references), and
    references that multiply into more than MAX_DRAWN_ELEMENTS drawn elements."""
    by_id = {element.get("id"): element for element in root.iter() if element.get("id")}
    drawn: dict[int, int] = {}
    drawing: set[int] = set()

    def count(element: Element) -> int:
        key = id(element)
        if key in drawn:
            return drawn[key]
        if key in drawing:
            raise _refuse("a <use> that references itself or an element that contains it")
        drawing.add(key)
        total = 1 + sum(count(child) for child in element)
        for href in _HREFS:
            target = by_id.get((element.get(href) or "").strip().removeprefix("#"))
            if _plain(str(element.tag)) == "use" and target is not None:
                total += count(target)
        drawing.discard(key)
        if total > MAX_DRAWN_ELEMENTS:
            raise IconRejected(
                f"Unsafe SVG: its <use> references draw more than {MAX_DRAWN_ELEMENTS} "
                "elements; icons are simpler than that.",
                "icon_unsafe_svg",
            )
        drawn[key] = total
        return total

    count(root)


def _attributes(element: Element, element_name: str) -> list[tuple[str, str]]:
    kept: list[tuple[str, str]] = []
    for key, value in element.attrib.items():
        local = _plain(key)
        if local.lower().startswith("on"):
            raise _refuse(f"an event handler attribute {local}= on <{element_name}>")
        if _SCRIPT_SCHEMES.search(value):
            raise _refuse(f"a script URL in {local}= on <{element_name}>")
        if key in _HREFS:
            if not value.strip().startswith("#"):
                raise _refuse(
                    f"a link to {value.strip()[:80]!r} on <{element_name}> (only links to a "
                    "#fragment of the same file are allowed)"
                )
            kept.append(("href" if key == "href" else "xlink:href", value))
            continue
        if key == f"{{{XML_NS}}}space":
            kept.append(("xml:space", value))
            continue
        if key.startswith("{") or key not in ALLOWED_ATTRIBUTES:
            continue
        _check_css(value, f"the {key}= attribute of <{element_name}>")
        kept.append((key, value))
    return kept


def _check_css(css: str, where: str) -> None:
    if "\\" in css:
        raise _refuse(f"CSS escapes in {where} (they can spell what is refused)")
    if _CSS_EXTERNAL_URL.search(css):
        raise _refuse(f"a reference to an external resource (url(...)) in {where}")
    loader = _CSS_LOADERS.search(css)
    if loader:
        raise _refuse(f"CSS that loads resources ({loader.group(0)}) in {where}")


def _rendered_size(root: Element) -> tuple[int, int]:
    """The size the SVG renders at when nothing else says: width/height in absolute units,
    else (for a missing side, or a relative one) what the viewBox gives."""
    view_box = _view_box(root.get("viewBox"))
    width, height = _length(root.get("width")), _length(root.get("height"))
    if view_box is not None:
        box_width, box_height = view_box
        if width is None and height is None:
            width, height = box_width, box_height
        elif width is None and height is not None:
            width = height * box_width / box_height
        elif height is None and width is not None:
            height = width * box_height / box_width
    if width is None or height is None:
        raise IconRejected(
            "The SVG declares no size: give its <svg> a viewBox (or width and height).",
            "icon_no_size",
        )
    if not (math.isfinite(width) and math.isfinite(height)):
        # One side from the other through a viewBox of extreme proportions.
        raise IconRejected(
            "Too many pixels: the SVG's viewBox makes its size too large to compute.",
            "icon_too_many_pixels",
        )
    return max(1, math.ceil(width)), max(1, math.ceil(height))


def _view_box(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        numbers = [float(n) for n in value.replace(",", " ").split()]
    except ValueError:
        numbers = []
    if len(numbers) != 4 or not all(map(math.isfinite, numbers)):
        raise IconRejected(f"The SVG's viewBox {value[:60]!r} is not four numbers.", "icon_no_size")
    if numbers[2] <= 0 or numbers[3] <= 0:
        raise IconRejected(f"The SVG's viewBox {value[:60]!r} has no area.", "icon_no_size")
    return numbers[2], numbers[3]


def _length(value: str | None) -> float | None:
    if value is None:
        return None
    match = _LENGTH.match(value)
    if match is None:
        return None  # relative (%, em): the viewBox decides
    size = float(match.group(1)) * _PX_PER_UNIT[match.group(2)]
    return size if math.isfinite(size) and size > 0 else None
