"""Custom connector icons: `POST /custom-connectors/{id}/icon` and
`GET /custom-connector-icons/{sha256}`.

Every file is made here with Pillow (or written out, for the SVGs and the files that lie):
the type is read from the bytes, PNG/JPEG/WebP are re-encoded (metadata and trailers gone),
SVGs are rebuilt from an allow-list or refused with a 422 that says why.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from typing import Any

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from connectors.models import CustomConnector, CustomConnectorIcon
from landed.accounts.services import api_key_create
from tests.accounts.factories import UserFactory
from tests.clients import client_for
from tests.landed.test_slow_clients import started_server

pytestmark = pytest.mark.django_db


# --- Files -----------------------------------------------------------------------------------
def image_bytes(
    fmt: str, size: tuple[int, int] = (64, 48), mode: str = "RGB", **save: Any
) -> bytes:
    image = Image.new(mode, size, (200, 30, 30) if mode == "RGB" else None)
    out = io.BytesIO()
    image.save(out, format=fmt, **save)
    return out.getvalue()


def noise_png(side: int) -> bytes:
    """A PNG that does not compress (random pixels): its size grows with its area."""
    pixels = hashlib.shake_256(b"noise").digest(side * side * 3)
    image = Image.frombytes("RGB", (side, side), pixels)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def exif_with_camera() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"  # Make
    exif[0x0112] = 6  # Orientation: rotated 90 degrees
    return exif.tobytes()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG header that declares `width` x `height` pixels: a
    decompression bomb's (its few compressed bytes would expand to gigabytes)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", pixels)
        + png_chunk(b"IEND", b"")
    )


CLEAN_SVG = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<!-- exported by an editor -->
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape"
     viewBox="0 0 24 24" width="48" height="48" inkscape:version="1.3" data-tracking="1">
  <metadata><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></metadata>
  <title>Pets</title>
  <defs><linearGradient id="g"><stop offset="0" stop-color="#f80"/></linearGradient></defs>
  <g id="shape"><path d="M2 2h20v20H2z" fill="url(#g)" inkscape:label="square"/></g>
  <use xlink:href="#shape" x="1"/>
  <style>path { stroke: black; }</style>
</svg>
"""
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
    ' viewBox="0 0 24 24">{}</svg>'
)
UNSAFE_SVGS = {
    "script": (SVG.format("<script>alert(document.cookie)</script>"), "<script>"),
    "onload": (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" onload="alert(1)"/>',
        "onload=",
    ),
    "javascript href": (SVG.format('<a href="javascript:alert(1)"><rect/></a>'), "script URL"),
    "external href": (
        SVG.format('<use xlink:href="https://evil.example/sprite.svg#a"/>'),
        "https://evil.example",
    ),
    "data href": (SVG.format('<use href="data:image/svg+xml;base64,PHN2Zy8+"/>'), "data:"),
    "foreignObject": (
        SVG.format(
            '<foreignObject><body xmlns="http://www.w3.org/1999/xhtml">hi</body></foreignObject>'
        ),
        "<foreignObject>",
    ),
    "external url() in style": (
        SVG.format('<rect width="5" height="5" style="fill: url(https://evil.example/x)"/>'),
        "external resource",
    ),
    "@import in a style element": (
        SVG.format("<style>@import 'https://evil.example/x.css';</style>"),
        "@import",
    ),
    # The CSS of a <style> is all its text, also the text after a child element.
    "@import after a child of a style element": (
        SVG.format("<style>a{}<desc/>@import '//evil.example/x.css';</style>"),
        "@import",
    ),
    "url() split by a child of a style element": (
        SVG.format("<style>rect{fill:u<g/>rl(https://evil.example/x)}</style>"),
        "external resource",
    ),
    "image": (SVG.format('<image href="https://evil.example/pixel.png"/>'), "<image>"),
    "XXE entity": (
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        + SVG.format("<text>&xxe;</text>"),
        "entities",
    ),
    "billion laughs": (
        '<?xml version="1.0"?><!DOCTYPE svg ['
        '<!ENTITY lol "lol">'
        + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 or "")) * 10}">' for i in range(1, 10))
        + "]>"
        + SVG.format("<text>&lol9;</text>"),
        "entities",
    ),
}


# --- Fixtures --------------------------------------------------------------------------------
@pytest.fixture
def custom_connector(user) -> CustomConnector:
    return CustomConnector.objects.create(
        account=user.account, name="Petstore", base_url="https://petstore.example/v2"
    )


def upload(client, custom_connector, data: bytes, name="icon.png", content_type="image/png"):
    return client.post(
        f"/custom-connectors/{custom_connector.id}/icon",
        {"file": SimpleUploadedFile(name, data, content_type=content_type)},
        format="multipart",
    )


def assert_refused(response, kind: str, *words: str) -> dict[str, Any]:
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["error"] == "Validation error"
    [problem] = body["detail"]
    assert problem["loc"] == ["body", "file"]
    assert problem["type"] == kind, problem
    for word in words:
        assert word in problem["msg"], problem
    return problem


def stored(client, response) -> tuple[Any, bytes]:
    icon_url = response.json()["icon_url"]
    served = client.get(icon_url)
    assert served.status_code == 200
    return served, served.content


# --- Raster images ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")],
)
def test_an_image_is_re_encoded_without_its_metadata_or_trailer(
    client, custom_connector, fmt, content_type
):
    original = image_bytes(fmt, exif=exif_with_camera()) + b"<script>appended()</script>"

    response = upload(client, custom_connector, original, name=f"logo.{fmt.lower()}")

    assert response.status_code == 200, response.content
    served, content = stored(client, response)
    sha = hashlib.sha256(content).hexdigest()
    # The custom connector, as its own endpoints answer it.
    body = response.json()
    assert body["id"] == str(custom_connector.id)
    assert body["type"] == f"custom:{custom_connector.id}"
    assert body["icon_url"] == f"/custom-connector-icons/{sha}"
    assert served["Content-Type"] == content_type
    assert b"SecretCameraMaker" not in content
    assert b"appended" not in content
    with Image.open(io.BytesIO(content)) as image:
        assert image.format == fmt
        # A JPEG is turned upright by its EXIF orientation before the EXIF goes.
        assert image.size == ((48, 64) if fmt == "JPEG" else (64, 48))
        assert not image.getexif()
    custom_connector.refresh_from_db()
    assert custom_connector.icon_id == sha
    assert (custom_connector.icon.width, custom_connector.icon.height) == image.size


def test_a_png_name_with_jpeg_bytes_is_stored_as_the_jpeg_it_is(client, custom_connector):
    response = upload(client, custom_connector, image_bytes("JPEG"), name="logo.png")

    assert response.status_code == 200, response.content
    served, content = stored(client, response)
    assert served["Content-Type"] == "image/jpeg"
    assert served["Content-Disposition"].endswith('.jpg"')
    assert content.startswith(b"\xff\xd8\xff")


def test_html_named_png_is_not_an_image(client, custom_connector):
    html = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"

    response = upload(client, custom_connector, html, name="logo.png", content_type="image/png")

    assert_refused(response, "icon_not_an_image", "'logo.png'", "HTML")
    assert CustomConnectorIcon.objects.count() == 0


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (image_bytes("GIF", mode="P"), ["GIF", "not supported"]),
        (image_bytes("BMP"), ["BMP", "not supported"]),
    ],
)
def test_other_image_formats_are_refused_as_unsupported(client, custom_connector, data, words):
    assert_refused(upload(client, custom_connector, data), "icon_unsupported_type", *words)


def test_text_is_not_an_image(client, custom_connector):
    response = upload(client, custom_connector, b"just some words", name="icon.webp")
    assert_refused(response, "icon_not_an_image", "not PNG, JPEG, WebP or SVG")


@pytest.mark.parametrize(("fmt", "name"), [("PNG", "PNG"), ("JPEG", "JPEG"), ("WEBP", "WEBP")])
def test_a_truncated_image_is_corrupt(client, custom_connector, fmt, name):
    noise = Image.open(io.BytesIO(noise_png(64))).convert("RGB")
    out = io.BytesIO()
    noise.save(out, format=fmt)
    whole = out.getvalue()

    response = upload(client, custom_connector, whole[: len(whole) // 2])

    assert_refused(response, "icon_corrupt", f"Corrupt {name}")


def test_a_decompression_bomb_is_refused_from_its_header(client, custom_connector):
    bomb = png_declaring(100_000, 100_000)
    assert len(bomb) < 200

    assert_refused(upload(client, custom_connector, bomb), "icon_too_many_pixels")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_bomb_pillow_only_warns_about_is_refused_by_the_cap(client, custom_connector):
    # Between MAX_IMAGE_PIXELS and twice that, Pillow opens it with a warning.
    response = upload(client, custom_connector, png_declaring(10_000, 10_000))

    assert_refused(response, "icon_too_many_pixels", "10000x10000")


def test_an_animated_image_is_refused(client, custom_connector):
    frames = [Image.new("RGB", (32, 32), color) for color in ("red", "blue")]
    out = io.BytesIO()
    frames[0].save(out, format="PNG", save_all=True, append_images=frames[1:])

    response = upload(client, custom_connector, out.getvalue())

    assert_refused(response, "icon_unsupported_type", "Animated")


def test_dimensions_past_the_cap_are_refused_before_decoding(client, custom_connector):
    # Well within Pillow's own bomb limit, past ours; decoding would succeed.
    response = upload(client, custom_connector, png_declaring(2048, 600))

    assert_refused(response, "icon_too_many_pixels", "2048x600", "1024x1024")


def test_an_image_too_small_is_refused(client, custom_connector):
    response = upload(client, custom_connector, image_bytes("PNG", size=(8, 8)))
    assert_refused(response, "icon_too_small", "8x8", "16x16")


def test_a_file_over_the_cap_is_refused_while_it_is_read(client, custom_connector, settings):
    settings.ICON_MAX_BYTES = 4096
    big = noise_png(64)  # ~12 KiB: under the Content-Length allowance, over the cap
    assert 4096 < len(big) < 4096 + 16 * 1024

    response = upload(client, custom_connector, big)

    assert_refused(response, "icon_too_large", "4 KiB")
    assert CustomConnectorIcon.objects.count() == 0


def test_a_body_declared_too_large_is_refused_before_it_is_read(client, custom_connector):
    small = image_bytes("PNG")
    boundary = "BoUnDaRy"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + small
        + f"\r\n--{boundary}--\r\n".encode()
    )

    response = client.generic(
        "POST",
        f"/custom-connectors/{custom_connector.id}/icon",
        body,
        content_type=f"multipart/form-data; boundary={boundary}",
        CONTENT_LENGTH=str(50 * 1024 * 1024),
    )

    assert_refused(response, "icon_too_large", "50.0 MiB")


def test_a_file_too_large_once_re_encoded_is_refused(client, custom_connector, settings):
    # Noise at a JPEG quality of 5 is small; re-encoded at 90 it doubles.
    settings.ICON_MAX_BYTES = 16 * 1024
    noise = Image.open(io.BytesIO(noise_png(400))).convert("RGB")
    out = io.BytesIO()
    noise.save(out, format="JPEG", quality=5)
    assert len(out.getvalue()) < 16 * 1024

    assert_refused(upload(client, custom_connector, out.getvalue()), "icon_too_large", "re-encoded")


# --- SVG -------------------------------------------------------------------------------------
def test_a_clean_svg_is_rebuilt_from_the_allow_list(client, custom_connector):
    response = upload(client, custom_connector, CLEAN_SVG, name="logo.svg")

    assert response.status_code == 200, response.content
    served, content = stored(client, response)
    assert served["Content-Type"] == "image/svg+xml"
    text = content.decode()
    for kept in ('viewBox="0 0 24 24"', "<path", 'fill="url(#g)"', 'xlink:href="#shape"',
                 "<title>Pets</title>", "stroke: black"):  # fmt: skip
        assert kept in text, kept
    for dropped in ("DOCTYPE", "<!--", "inkscape", "metadata", "rdf", "data-tracking"):
        assert dropped not in text, dropped
    icon = CustomConnectorIcon.objects.get()
    assert (icon.width, icon.height) == (48, 48)


@pytest.mark.parametrize("case", list(UNSAFE_SVGS))
def test_an_unsafe_svg_is_refused_saying_why(client, custom_connector, case):
    svg, reason = UNSAFE_SVGS[case]

    response = upload(client, custom_connector, svg.encode(), name="logo.svg")

    assert_refused(response, "icon_unsafe_svg", reason)
    assert CustomConnectorIcon.objects.count() == 0
    custom_connector.refresh_from_db()
    assert custom_connector.icon is None


def test_an_svg_nested_too_deep_is_refused(client, custom_connector):
    nested = "<g>" * 5000 + "</g>" * 5000
    response = upload(client, custom_connector, SVG.format(nested).encode())
    assert_refused(response, "icon_unsafe_svg", "levels of nesting")


def test_an_svg_whose_use_references_loop_is_refused(client, custom_connector):
    itself = SVG.format('<g id="x"><rect width="1" height="1"/><use href="#x"/></g>')
    assert_refused(upload(client, custom_connector, itself.encode()), "icon_unsafe_svg", "itself")
    through = SVG.format('<g id="a"><use xlink:href=" #b"/></g><g id="b"><use href="#a"/></g>')
    assert_refused(upload(client, custom_connector, through.encode()), "icon_unsafe_svg", "itself")


def test_an_svg_whose_use_references_multiply_is_refused(client, custom_connector):
    # Nine levels of ten <use>s each (90 in all): 10^9 rectangles drawn.
    levels = ['<rect id="l0" width="1" height="1"/>'] + [
        f'<g id="l{level}">' + f'<use href="#l{level - 1}"/>' * 10 + "</g>"
        for level in range(1, 10)
    ]
    svg = SVG.format("<defs>" + "".join(levels) + '</defs><use href="#l9"/>')
    assert_refused(upload(client, custom_connector, svg.encode()), "icon_unsafe_svg", "draw more")

    # A sprite used a few times is an icon like any other.
    sprite = SVG.format('<defs><path id="p" d="M0 0h4v4z"/></defs>' + '<use href="#p"/>' * 4)
    assert upload(client, custom_connector, sprite.encode()).status_code == 200


def test_an_svg_without_its_namespace_gets_it(client, custom_connector):
    svg = b'<svg viewBox="0 0 32 16"><path d="M0 0h32v16z"/><script>x()</script></svg>'
    assert_refused(upload(client, custom_connector, svg), "icon_unsafe_svg", "<script>")

    response = upload(client, custom_connector, svg.replace(b"<script>x()</script>", b""))

    assert response.status_code == 200, response.content
    _, content = stored(client, response)
    assert b'<svg xmlns="http://www.w3.org/2000/svg"' in content
    assert b'<path d="M0 0h32v16z"/>' in content


def test_an_svg_without_a_size_is_refused(client, custom_connector):
    response = upload(client, custom_connector, b'<svg xmlns="http://www.w3.org/2000/svg"/>')
    assert_refused(response, "icon_no_size", "viewBox")


def test_an_svg_drawn_too_large_is_refused(client, custom_connector):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 9 9" width="4000px" height="40"/>'
    assert_refused(upload(client, custom_connector, svg), "icon_too_many_pixels", "4000x40")


@pytest.mark.parametrize(
    "size", ['width="10" viewBox="0 0 1e-300 1e300"', 'height="10" viewBox="0 0 1e300 1e-300"']
)
def test_an_svg_whose_viewbox_makes_its_size_infinite_is_refused(client, custom_connector, size):
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" {size}/>'.encode()
    assert_refused(upload(client, custom_connector, svg), "icon_too_many_pixels", "too large")


def test_xml_that_is_not_svg_is_not_an_image(client, custom_connector):
    response = upload(client, custom_connector, b"<?xml version='1.0'?><feed><entry/></feed>")
    assert_refused(response, "icon_not_an_image", "<feed>")


# --- The upload's request --------------------------------------------------------------------
def test_the_same_bytes_are_stored_once(client, custom_connector, user):
    other = CustomConnector.objects.create(
        account=user.account, name="Other", base_url="https://o.example"
    )
    png = image_bytes("PNG")

    first = upload(client, custom_connector, png)
    second = upload(client, other, png, name="copy.png")

    assert first.json()["icon_url"] == second.json()["icon_url"]
    assert CustomConnectorIcon.objects.count() == 1


def test_a_new_upload_replaces_the_icon(client, custom_connector):
    upload(client, custom_connector, image_bytes("PNG"))
    response = upload(client, custom_connector, image_bytes("WEBP"))

    custom_connector.refresh_from_db()
    assert response.json()["icon_url"] == f"/custom-connector-icons/{custom_connector.icon_id}"
    assert custom_connector.icon.content_type == "image/webp"
    # GET /custom-connectors/{id} shows it too.
    shown = client.get(f"/custom-connectors/{custom_connector.id}").json()
    assert shown["icon_url"] == response.json()["icon_url"]


def test_without_a_file_the_field_is_required(client, custom_connector):
    response = client.post(
        f"/custom-connectors/{custom_connector.id}/icon", {"other": "x"}, format="multipart"
    )
    assert_refused(response, "missing")


def test_an_empty_file_is_refused(client, custom_connector):
    assert_refused(upload(client, custom_connector, b""), "too_short", "empty")


def test_one_file_at_a_time(client, custom_connector):
    files = [SimpleUploadedFile(n, image_bytes("PNG")) for n in ("a.png", "b.png")]
    response = client.post(
        f"/custom-connectors/{custom_connector.id}/icon", {"file": files}, format="multipart"
    )
    assert_refused(response, "icon_too_many_files", "one file")


def test_a_json_body_is_an_unsupported_media_type(client, custom_connector):
    response = client.post(
        f"/custom-connectors/{custom_connector.id}/icon", {"file": "x"}, format="json"
    )

    assert response.status_code == 415
    assert response.json() == {
        "error": "Unsupported media type",
        "detail": "Send multipart/form-data with the icon in the field 'file'.",
    }


def test_another_accounts_custom_connector_is_not_found(custom_connector):
    stranger = client_for(UserFactory())

    response = upload(stranger, custom_connector, image_bytes("PNG"))

    assert response.status_code == 404
    assert response.json()["error"] == "Custom connector not found"
    assert CustomConnectorIcon.objects.count() == 0


def test_an_unknown_custom_connector_is_not_found(client):
    response = client.post(
        "/custom-connectors/00000000-0000-0000-0000-000000000000/icon",
        {"file": SimpleUploadedFile("a.png", image_bytes("PNG"))},
        format="multipart",
    )
    assert response.status_code == 404


def test_uploading_needs_a_signed_in_caller(api, custom_connector):
    response = upload(api, custom_connector, image_bytes("PNG"))
    assert response.status_code == 401


# --- Serving ---------------------------------------------------------------------------------
def test_an_icon_is_served_public_immutable_and_sandboxed(client, api, custom_connector):
    response = upload(client, custom_connector, CLEAN_SVG, name="logo.svg")
    url = response.json()["icon_url"]
    sha = url.rsplit("/", 1)[1]

    served = api.get(url)  # anonymous

    assert served.status_code == 200
    assert hashlib.sha256(served.content).hexdigest() == sha
    assert served["Content-Type"] == "image/svg+xml"
    assert served["Cache-Control"] == "public, max-age=31536000, immutable"
    assert served["ETag"] == f'"{sha}"'
    assert served["X-Content-Type-Options"] == "nosniff"
    csp = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    assert served["Content-Security-Policy"] == csp
    assert served["Content-Disposition"] == f'inline; filename="icon-{sha[:16]}.svg"'


def test_an_icon_the_client_has_is_not_modified(client, api, custom_connector):
    url = upload(client, custom_connector, image_bytes("PNG")).json()["icon_url"]
    sha = url.rsplit("/", 1)[1]

    again = api.get(url, HTTP_IF_NONE_MATCH=f'W/"other", "{sha}"')
    changed = api.get(url, HTTP_IF_NONE_MATCH='"something-else"')

    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == f'"{sha}"'
    assert again["Cache-Control"] == "public, max-age=31536000, immutable"
    assert changed.status_code == 200


@pytest.mark.parametrize("sha", ["0" * 64, "not-a-hash", "A" * 64])
def test_an_unknown_icon_is_not_found(api, sha):
    response = api.get(f"/custom-connector-icons/{sha}")

    assert response.status_code == 404
    assert response.json() == {"error": "Not found", "detail": "No such icon."}


# --- Through the real server -----------------------------------------------------------------
@pytest.fixture(scope="module")
def asgi_server(django_db_setup, tmp_path_factory):
    with started_server(tmp_path_factory.mktemp("icons"), ICON_MAX_BYTES="65536") as server:
        yield server


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_upload_through_the_asgi_server(asgi_server):
    user = UserFactory()
    _, raw_key = api_key_create(user=user, name="icons")
    custom = CustomConnector.objects.create(
        account=user.account, name="Pets", base_url="https://p.example"
    )
    url = f"{asgi_server.url}/custom-connectors/{custom.id}/icon"
    auth = {"Authorization": f"Bearer {raw_key}"}

    jpeg = image_bytes("JPEG", exif=exif_with_camera())
    accepted = requests.post(
        url, headers=auth, files={"file": ("logo.png", jpeg, "image/png")}, timeout=10
    )
    unsafe = requests.post(
        url, headers=auth, files={"file": ("x.svg", UNSAFE_SVGS["onload"][0])}, timeout=10
    )
    too_large = requests.post(
        url, headers=auth, files={"file": ("big.png", noise_png(200))}, timeout=10
    )

    assert accepted.status_code == 200, accepted.text
    served = requests.get(f"{asgi_server.url}{accepted.json()['icon_url']}", timeout=10)
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/jpeg"
    assert served.headers["Content-Security-Policy"].endswith("sandbox")
    assert b"SecretCameraMaker" not in served.content
    assert unsafe.status_code == 422
    assert unsafe.json()["detail"][0]["type"] == "icon_unsafe_svg"
    assert too_large.status_code == 422
    assert too_large.json()["detail"][0]["type"] == "icon_too_large"
