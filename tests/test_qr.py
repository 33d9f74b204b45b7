"""sharing.qr: the share link's QR code. The SVG that qr_svg returns is turned back into pixels here
(its path drawn module by module with Pillow) and decoded with zxing-cpp, an independent decoder;
so is segno's PNG of the same symbol. Both must give back the exact URL."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

import pytest
import zxingcpp
from PIL import Image, ImageDraw

from credshare.foundation.errors import InputError
from credshare.sharing.qr import QUIET_ZONE, qr_code, qr_svg

TOKEN = "q3V_x-9LmZp0a7TfR2kYw8sN4bC1dE6gH5jK-Uo_iQe"  # 43 characters of base64url: 32 random bytes
assert len(TOKEN) == 43 and re.fullmatch(r"[A-Za-z0-9_-]+", TOKEN)

URLS = [
    "https://credshare.example/s/abc",
    f"https://credshare.example.org/s/{TOKEN}",
    f"https://verify.credentialing.hospital-network.example.org:8443/credshare/s/{TOKEN}?lang=en",
    f"HTTP://127.0.0.1:8080/S/{TOKEN.upper()}",
]
_PATH_COMMAND = re.compile(r"([MmHhVvZz])([^MmHhVvZz]*)")


def _numbers(text: str) -> list[float]:
    return [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", text)]


def _walk(d: str) -> list[tuple[str, float, float, float, float]]:
    """The segments a path's ``d`` draws, as (command, x0, y0, x1, y1); only the commands segno
    writes (M m H h V v Z z) are understood, anything else fails the test."""
    x = y = start_x = start_y = 0.0
    segments = []
    consumed = "".join(m.group(0) for m in _PATH_COMMAND.finditer(d))
    assert consumed.replace(" ", "") == d.replace(" ", ""), f"unexpected path syntax: {d[:80]}"
    for command, args in _PATH_COMMAND.findall(d):
        nums = _numbers(args)
        if command in "Mm":
            assert len(nums) == 2, d
            x, y = (nums[0], nums[1]) if command == "M" else (x + nums[0], y + nums[1])
            start_x, start_y = x, y
            continue
        if command in "Zz":
            segments.append(("z", x, y, start_x, start_y))
            x, y = start_x, start_y
            continue
        assert len(nums) == 1, d
        if command in "Hh":
            nx, ny = (nums[0] if command == "H" else x + nums[0]), y
        else:
            nx, ny = x, (nums[0] if command == "V" else y + nums[0])
        segments.append((command.lower(), x, y, nx, ny))
        x, y = nx, ny
    return segments


def svg_modules(svg: str, scale: int) -> list[list[bool]]:
    """The module grid (quiet zone included, True = dark) that the SVG draws."""
    root = ET.fromstring(svg)
    assert root.tag == "svg"
    width_px = int(root.get("width", "").removesuffix("px"))
    assert root.get("height") == root.get("width")
    assert root.get("viewBox") == f"0 0 {width_px} {width_px}"
    assert width_px % scale == 0
    size = width_px // scale
    groups = root.findall("g")
    if scale == 1:  # segno leaves out the scaling group
        assert groups == []
        drawing = root
    else:
        assert len(groups) == 1 and groups[0].get("transform") == f"scale({scale})", ET.tostring(root)[:200]
        drawing = groups[0]
    paths = drawing.findall("path")
    fills = [p for p in paths if p.get("fill")]
    strokes = [p for p in paths if p.get("stroke")]
    assert len(fills) == 1 and len(strokes) == 1 and len(paths) == 2
    assert fills[0].get("fill") == "#fff" and strokes[0].get("stroke") == "#000"

    background = _walk(fills[0].get("d", ""))
    xs = {v for seg in background for v in (seg[1], seg[3])}
    ys = {v for seg in background for v in (seg[2], seg[4])}
    assert (min(xs), max(xs), min(ys), max(ys)) == (0, size, 0, size), "background must cover the quiet zone"

    grid = [[False] * size for _ in range(size)]
    for command, x0, y0, x1, _y1 in _walk(strokes[0].get("d", "")):
        assert command == "h", f"dark modules drawn with {command!r}"
        assert y0 % 1 == 0.5 and x0 % 1 == 0 and x1 % 1 == 0, (x0, y0, x1)
        for column in range(int(min(x0, x1)), int(max(x0, x1))):
            assert not grid[int(y0)][column], "module drawn twice"
            grid[int(y0)][column] = True
    return grid


def grid_image(grid: list[list[bool]], pixels: int = 4) -> Image.Image:
    image = Image.new("L", (len(grid) * pixels, len(grid) * pixels), 255)
    draw = ImageDraw.Draw(image)
    for row, cells in enumerate(grid):
        for column, dark in enumerate(cells):
            if dark:
                draw.rectangle([column * pixels, row * pixels, (column + 1) * pixels - 1, (row + 1) * pixels - 1], fill=0)
    return image


def decode(image: Image.Image) -> list[zxingcpp.Barcode]:
    return zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)


@pytest.mark.parametrize("url", URLS)
def test_svg_decodes_to_the_url(url: str) -> None:
    svg = qr_svg(url)
    found = decode(grid_image(svg_modules(svg, 4)))
    assert [b.text for b in found] == [url]
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    assert found[0].ec_level in ("M", "Q", "H")


@pytest.mark.parametrize("url", URLS)
def test_segno_png_of_the_same_symbol_decodes_to_the_url(url: str) -> None:
    png = io.BytesIO()
    qr_code(url).save(png, kind="png", scale=3, border=QUIET_ZONE)
    png.seek(0)
    found = decode(Image.open(png))
    assert [b.text for b in found] == [url]
    assert found[0].ec_level in ("M", "Q", "H")


def test_svg_draws_the_symbol_inside_a_four_module_quiet_zone() -> None:
    url = URLS[1]
    symbol = qr_code(url)
    assert symbol.error in ("M", "Q", "H") and not symbol.is_micro
    grid = svg_modules(qr_svg(url), 4)
    inner = [row[QUIET_ZONE:-QUIET_ZONE] for row in grid[QUIET_ZONE:-QUIET_ZONE]]
    assert inner == [[bool(m) for m in row] for row in symbol.matrix]
    ring = grid[:QUIET_ZONE] + grid[-QUIET_ZONE:] + [row[:QUIET_ZONE] + row[-QUIET_ZONE:] for row in grid]
    assert not any(any(row) for row in ring)
    # a 43-character token fits in a small symbol that phones read easily
    assert symbol.version <= 5


@pytest.mark.parametrize("scale", [1, 2, 8])
def test_scale_sets_pixels_per_module(scale: int) -> None:
    url = URLS[1]
    svg = qr_svg(url, scale=scale)
    modules = qr_code(url).symbol_size(scale=1, border=QUIET_ZONE)[0]
    assert f'width="{modules * scale}px"' in svg
    assert [b.text for b in decode(grid_image(svg_modules(svg, scale)))] == [url]


@pytest.mark.parametrize("scale", [0, -1, 33, 2.5, True, "4"])
def test_bad_scale_is_refused(scale: object) -> None:
    with pytest.raises(ValueError):
        qr_svg(URLS[0], scale=scale)  # type: ignore[arg-type]


def test_text_too_long_for_a_qr_code_is_refused_with_a_code() -> None:
    with pytest.raises(InputError) as caught:
        qr_svg("https://credshare.example/s/" + "x" * 3000)
    assert caught.value.code == "qr_too_long"
    with pytest.raises(ValueError):
        qr_svg("")


def test_blank_picture_decodes_to_nothing() -> None:
    """The decoder is not fooled: with the dark modules left out there is no code to read."""
    grid = svg_modules(qr_svg(URLS[1]), 4)
    assert decode(grid_image([[False] * len(grid) for _ in grid])) == []
    damaged = [row[:] for row in grid]
    for row in range(QUIET_ZONE, QUIET_ZONE + 7):  # erase one finder pattern
        for column in range(QUIET_ZONE, QUIET_ZONE + 7):
            damaged[row][column] = False
    assert [b.text for b in decode(grid_image(damaged))] != [URLS[1]]


SAFE_TAGS = {"svg", "title", "g", "path"}


def _assert_inert(svg: str) -> ET.Element:
    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    assert "<?xml" not in svg and "<!" not in svg  # no declaration, doctype, entity or CDATA
    root = ET.fromstring(svg)
    for element in root.iter():
        assert element.tag in SAFE_TAGS, element.tag
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), name
            assert "href" not in name.lower(), name
            assert "url(" not in value and "javascript:" not in value.lower(), (name, value)
    lowered = svg.lower()
    for forbidden in ("<script", "<style", "<image", "<use", "<foreignobject", "href", "http:", "https:"):
        assert forbidden not in lowered, forbidden
    return root


def test_svg_is_inert_and_accessible() -> None:
    url = URLS[2]
    svg = qr_svg(url)
    root = _assert_inert(svg)
    assert root.get("role") == "img"
    assert root.get("aria-label") == "QR code of the link"
    assert root.findtext("title") == "QR code of the link"
    assert TOKEN not in svg  # the link's secret stays out of the markup around the picture


def test_label_is_escaped_into_attribute_and_title() -> None:
    label = 'Scan me" onload="alert(1)"><script>alert(2)</script> & done'
    svg = qr_svg(URLS[1], label=label)
    root = _assert_inert(svg)
    assert root.get("aria-label") == label
    assert root.findtext("title") == label
    assert [b.text for b in decode(grid_image(svg_modules(svg, 4)))] == [URLS[1]]


def test_svg_embeds_in_a_jinja_template_with_safe() -> None:
    from jinja2 import Environment

    svg = qr_svg(URLS[1])
    html = Environment(autoescape=True).from_string("<figure>{{ qr|safe }}</figure>").render(qr=svg)
    assert html == f"<figure>{svg}</figure>"
