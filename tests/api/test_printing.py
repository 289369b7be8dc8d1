"""Printing stickers: QR codes scan back to their URL, sheets paginate and scan, NDEF bytes decode."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest
import segno
import zxingcpp
from fpdf import FPDF
from PIL import Image

from sticky.api import printing
from sticky.api.printing import (
    SheetSticker,
    ndef_tlv,
    ndef_uri_record,
    qr_png,
    qr_svg,
    sticker_sheet_pdf,
)

URL = "https://sticky.example/t/Ab3dE9xQ"
URLS = [
    URL,
    "http://localhost:8080/t/x",
    "https://stickers.example.org/t/Zz_9-Qa0?utm_source=print&utm_medium=sticker#top",
    "https://www.example.com/t/" + "AbCdEf0123456789" * 8,  # long-ish: 154 characters
]


def decode(image: Image.Image) -> list[str]:
    return [code.text for code in zxingcpp.read_barcodes(image)]


def tool(name: str) -> str:
    """A poppler command, or skip (locally) / fail (in CI) with the reason."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} (Debian package poppler-utils) is not installed"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must install it to check printed output")
        pytest.skip(f"{reason}; cannot read the PDF back to check it")
    return path


def rasterize(pdf: bytes, page: int, tmp_path: Path, dpi: int = 300) -> Image.Image:
    source = tmp_path / "document.pdf"
    source.write_bytes(pdf)
    prefix = tmp_path / f"page{page}"
    pages = ["-f", str(page), "-l", str(page)]
    subprocess.run(
        [tool("pdftoppm"), "-singlefile", "-png", "-r", str(dpi), *pages, str(source), str(prefix)],
        check=True,
    )
    return Image.open(prefix.with_suffix(".png"))


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    source = tmp_path / "text.pdf"
    source.write_bytes(pdf)
    result = subprocess.run(
        [tool("pdftotext"), "-layout", str(source), "-"], check=True, capture_output=True
    )
    return result.stdout.decode()


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))


def content_streams(pdf: bytes) -> bytes:
    """All page content, inflated: core-font text shows there as (Windows-1252 bytes) Tj."""
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.DOTALL)
    inflated = []
    for stream in streams:
        try:
            inflated.append(zlib.decompress(stream))
        except zlib.error:
            inflated.append(stream)
    return b"\n".join(inflated)


def stickers(count: int) -> list[SheetSticker]:
    return [
        SheetSticker(f"Sticker {n}", f"https://sticky.example/t/Ab{n:06d}")
        for n in range(1, count + 1)
    ]


# --- QR codes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url", URLS)
def test_png_scans_back_to_the_exact_url(url: str) -> None:
    image = Image.open(io.BytesIO(qr_png(url)))

    codes = zxingcpp.read_barcodes(image)

    assert [code.text for code in codes] == [url]
    assert codes[0].format == zxingcpp.BarcodeFormat.QRCode
    assert codes[0].ec_level in {"Q", "H"}  # fit for print: survives a quarter of damage


def test_png_has_a_white_quiet_zone_of_four_modules() -> None:
    modules = len(segno.make_qr(URL, error="q").matrix)
    image = Image.open(io.BytesIO(qr_png(URL, scale=5))).convert("L")

    assert image.size == ((modules + 8) * 5, (modules + 8) * 5)
    ring = image.copy()
    ring.paste(255, (20, 20, image.width - 20, image.height - 20))
    assert ring.getextrema() == (255, 255)  # 4 modules of 5 px, all white
    assert image.getpixel((20, 20)) == 0  # the finder pattern starts right inside


def test_a_sticker_url_keeps_the_symbol_small() -> None:
    """Short ids keep codes at version 4 or lower: big modules on a small sticker."""
    image = Image.open(io.BytesIO(qr_png(URL, scale=1, border=0)))

    assert image.width <= 33  # version 4 is 33 modules wide


def test_border_and_scale_change_the_png_size() -> None:
    modules = len(segno.make_qr(URL, error="q").matrix)

    assert Image.open(io.BytesIO(qr_png(URL, scale=3, border=0))).size == (modules * 3,) * 2
    image = Image.open(io.BytesIO(qr_png(URL, scale=2, border=10)))
    assert image.size == ((modules + 20) * 2,) * 2
    assert decode(image) == [URL]


@pytest.mark.parametrize(("scale", "border"), [(10, 4), (1, 4), (3, 0), (2, 7)])
def test_svg_is_the_same_symbol_with_its_quiet_zone(scale: int, border: int) -> None:
    matrix = segno.make_qr(URL, error="q").matrix
    size = len(matrix) + 2 * border

    root = ET.fromstring(qr_svg(URL, scale=scale, border=border))

    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    assert root.get("width") == root.get("height") == f"{size * scale}px"
    assert root.get("viewBox") == f"0 0 {size * scale} {size * scale}"
    paths = {
        path.get("fill") or path.get("stroke"): path.get("d") for path in root.iter(f"{ns}path")
    }
    assert paths["#fff"] == f"M0 0h{size}v{size}h-{size}z"  # the light background, whole symbol
    dark = _modules_of_svg_path(paths["#000"])
    assert dark == {
        (x + border, y + border) for y, row in enumerate(matrix) for x, bit in enumerate(row) if bit
    }
    assert all(border <= x < size - border and border <= y < size - border for x, y in dark)


def test_svg_renders_and_scans(tmp_path: Path) -> None:
    """fpdf2 draws the SVG into a PDF, poppler rasterizes it, zxing reads it."""
    page = FPDF(unit="mm", format=(80, 80))
    page.add_page()
    page.image(io.BytesIO(qr_svg(URLS[2], scale=3)), x=10, y=10, w=60)

    image = rasterize(bytes(page.output()), 1, tmp_path, dpi=200)

    assert decode(image) == [URLS[2]]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: qr_png(""), "The URL is empty"),
        (lambda: qr_svg(""), "The URL is empty"),
        (lambda: qr_png("sticky.example/t/abc"), "is not a URI: it needs a scheme"),
        (lambda: qr_png("https://sticky.example/t/a b"), "without spaces"),
        (lambda: qr_png("https://stícky.example/t/abc"), "percent-encode"),
        (lambda: qr_png("https://sticky.example/t/abc\n"), "is not a URI"),
        (lambda: qr_png(URL, scale=0), "scale must be a whole number from 1 to 50, not 0"),
        (lambda: qr_svg(URL, scale=51), "scale must be a whole number from 1 to 50, not 51"),
        (lambda: qr_png(URL, scale=True), "scale must be a whole number"),
        (lambda: qr_png(URL, border=-1), "border must be a whole number from 0 to 20, not -1"),
        (lambda: qr_svg(URL, border=21), "border must be a whole number from 0 to 20, not 21"),
        (lambda: qr_png("https://x.example/" + "a" * 1700), "too long for a QR code"),
        (lambda: qr_png("https://x.example/" + "a" * 2100), "at most 2048 fit"),
    ],
)
def test_bad_qr_requests_say_what_is_wrong(call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


# --- The A4 sheet ------------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "pages"), [(1, 1), (20, 1), (21, 2), (1000, 50)])
def test_sheet_has_twenty_stickers_a_page(count: int, pages: int) -> None:
    pdf = sticker_sheet_pdf(stickers(count))

    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert page_count(pdf) == pages
    assert re.search(rb"/MediaBox \[0 0 595\.28 841\.89\]", pdf)  # A4 in points


def test_sheet_prints_names_urls_title_and_page_numbers() -> None:
    sheet = [
        SheetSticker("Café Zürich — front door", "https://sticky.example/t/Cafe01"),
        SheetSticker("  Table\n 7  ", "https://sticky.example/t/Tab007"),
    ]

    text = content_streams(sticker_sheet_pdf(sheet, title="Spring fair “2026”"))

    assert "(Café Zürich — front door)".encode("cp1252") in text
    assert b"(Table 7)" in text  # whitespace folded to one line
    assert b"(sticky.example/t/Cafe01)" in text
    assert "(Spring fair “2026”)".encode("cp1252") in text
    assert b"(Page 1 of 1)" in text


def test_long_names_are_cut_with_an_ellipsis() -> None:
    name = "The very long name of a sticker at the north entrance of the exhibition hall"
    url = "https://sticky.example/t/" + "Q" * 60

    text = content_streams(sticker_sheet_pdf([SheetSticker(name, url)]))

    shown = re.search(rb"\((The very long[^)]*)\) Tj", text)
    assert shown is not None
    assert shown.group(1).endswith(b"\x85")  # "…" in Windows-1252
    assert 10 < len(shown.group(1)) < len(name)
    assert name.encode() not in text
    tail = re.search(rb"\((\x85[^)]*)\) Tj", text)  # the URL keeps its end, where the id is
    assert tail is not None
    assert tail.group(1).endswith(b"QQQQQQQQ")


def test_sheet_qr_codes_scan_to_their_urls(tmp_path: Path) -> None:
    sheet = stickers(21)
    pdf = sticker_sheet_pdf(sheet, title="Scan test")

    first = decode(rasterize(pdf, 1, tmp_path))
    second = decode(rasterize(pdf, 2, tmp_path))

    assert sorted(first) == sorted(s.url for s in sheet[:20])
    assert second == [sheet[20].url]


def test_sheet_qr_code_is_at_least_25_mm(tmp_path: Path) -> None:
    image = rasterize(sticker_sheet_pdf(stickers(1)), 1, tmp_path, dpi=254)  # 10 px per mm

    (code,) = zxingcpp.read_barcodes(image)
    xs = [p.x for p in (code.position.top_left, code.position.bottom_right)]

    assert xs[1] - xs[0] >= 250


def test_unicode_names_print_with_the_unicode_font(tmp_path: Path) -> None:
    if not any((d / "DejaVuSans.ttf").is_file() for d in printing._UNICODE_FONT_DIRS):
        reason = "DejaVu Sans is not installed (Debian package fonts-dejavu-core)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI installs it to check names beyond Latin-1")
        pytest.skip(reason)
    sheet = [
        SheetSticker("Москва ✓", "https://sticky.example/t/Mos01"),
        SheetSticker("Ελληνικά 🎉", "https://sticky.example/t/Ell02"),
        SheetSticker("Plain name", "https://sticky.example/t/Pla03"),
    ]

    pdf = sticker_sheet_pdf(sheet, title="Ünïcödé ✓")
    text = pdf_text(pdf, tmp_path)

    assert "Москва ✓" in text
    assert "Ελληνικά ?" in text  # no emoji in DejaVu Sans: a question mark, not a crash
    assert "Plain name" in text
    assert "Ünïcödé ✓" in text
    assert sorted(decode(rasterize(pdf, 1, tmp_path))) == sorted(s.url for s in sheet)


def test_without_a_unicode_font_unknown_characters_print_as_question_marks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(printing, "_UNICODE_FONT_DIRS", (tmp_path,))

    pdf = sticker_sheet_pdf([SheetSticker("東京 café", "https://sticky.example/t/Tok01")])

    assert "(?? café)".encode("cp1252") in content_streams(pdf)
    assert b"FontFile2" not in pdf  # no TrueType font embedded


@pytest.mark.parametrize(
    ("sheet", "message"),
    [
        ([], "needs at least one sticker"),
        (stickers(1001), "at most 1000 stickers, not 1001"),
        (
            [*stickers(2), SheetSticker("Broken", "")],
            "Sticker 3 ('Broken'): The URL is empty",
        ),
        (
            [SheetSticker("Spaced", "https://sticky.example/t/a b")],
            "Sticker 1 ('Spaced'): 'https://sticky.example/t/a b' is not a URI",
        ),
    ],
)
def test_bad_sheets_say_what_is_wrong(sheet: list[SheetSticker], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        sticker_sheet_pdf(sheet)


# --- NFC ---------------------------------------------------------------------------------------

# NFC Forum URI RTD, table 3 (the codes these tests use), written out independently of the module.
PREFIXES = {
    0x00: "",
    0x01: "http://www.",
    0x02: "https://www.",
    0x03: "http://",
    0x04: "https://",
    0x05: "tel:",
    0x06: "mailto:",
    0x13: "urn:",
    0x1E: "urn:epc:id:",
    0x22: "urn:epc:",
    0x23: "urn:nfc:",
}


def parse_tlv(data: bytes) -> bytes:
    """The NDEF message in a Type 2 Tag's TLV area."""
    assert data[0] == 0x03
    if data[1] == 0xFF:
        length, start = int.from_bytes(data[2:4], "big"), 4
    else:
        length, start = data[1], 2
    assert data[start + length :] == b"\xfe"
    return data[start : start + length]


def parse_uri_message(message: bytes) -> str:
    """The URI of an NDEF message holding exactly one URI record."""
    header = message[0]
    assert header & 0x80 and header & 0x40  # MB and ME: the only record
    assert not header & 0x20 and not header & 0x08  # not chunked, no id
    assert header & 0x07 == 0x01  # TNF well-known
    type_length = message[1]
    if header & 0x10:
        payload_length, start = message[2], 3
    else:
        payload_length, start = int.from_bytes(message[2:6], "big"), 6
    assert message[start : start + type_length] == b"U"
    payload = message[start + type_length :]
    assert len(payload) == payload_length
    return PREFIXES[payload[0]] + payload[1:].decode("utf-8")


def test_ndef_record_bytes_for_a_sticker_url() -> None:
    expected = (
        b"\xd1"  # MB | ME | SR | TNF 0x01
        b"\x01"  # type length
        b"\x1a"  # payload length: 1 + 25
        b"U"
        b"\x04"  # "https://"
        b"sticky.example/t/Ab3dE9xQ"
    )

    assert ndef_uri_record(URL) == expected
    assert ndef_tlv(expected) == b"\x03\x1e" + expected + b"\xfe"
    assert parse_uri_message(parse_tlv(ndef_tlv(expected))) == URL


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://www.example.com/t/a", 0x01),
        ("https://www.example.com/t/a", 0x02),
        ("http://example.com/t/a", 0x03),
        ("https://example.com/t/a", 0x04),
        ("https://www.", 0x02),
        ("tel:+4930123456", 0x05),
        ("mailto:hello@sticky.example", 0x06),
        ("urn:isbn:0451450523", 0x13),
        ("urn:epc:id:sgtin:0614141.107346.2017", 0x1E),
        ("urn:epc:idpat:sgtin:0614141.107346.*", 0x22),
        ("urn:nfc:wkt:U", 0x23),
        ("geo:52.5200,13.4050", 0x00),
        ("sticky:thing/Ab3dE9xQ", 0x00),
        ("HTTPS://STICKY.EXAMPLE/T/AB", 0x00),  # prefixes match byte for byte
    ],
)
def test_ndef_uses_the_longest_prefix_abbreviation(url: str, code: int) -> None:
    message = ndef_uri_record(url)

    assert message[4] == code
    assert message[5:] == url.removeprefix(PREFIXES[code]).encode()
    assert parse_uri_message(message) == url


@pytest.mark.parametrize(("rest", "short"), [(254, True), (255, False), (600, False)])
def test_ndef_payloads_of_256_bytes_and_more_use_the_long_form(rest: int, short: bool) -> None:
    url = "https://sticky.example/t/" + "a" * (rest - len("sticky.example/t/"))
    payload_length = 1 + rest

    message = ndef_uri_record(url)

    if short:
        assert message[:4] == b"\xd1\x01" + bytes([payload_length]) + b"U"
    else:
        assert message[:7] == b"\xc1\x01" + payload_length.to_bytes(4, "big") + b"U"
    assert parse_uri_message(message) == url


@pytest.mark.parametrize(
    ("size", "header"),
    [(0, b"\x03\x00"), (254, b"\x03\xfe"), (255, b"\x03\xff\x00\xff"), (300, b"\x03\xff\x01\x2c")],
)
def test_tlv_uses_one_length_byte_below_255_and_three_from_255(size: int, header: bytes) -> None:
    message = bytes(range(256)) * 2
    message = message[:size]

    tlv = ndef_tlv(message)

    assert tlv == header + message + b"\xfe"
    assert parse_tlv(tlv) == message


def test_a_long_url_round_trips_through_tlv_and_record() -> None:
    url = "https://www.sticky.example/t/" + "x" * 400

    data = ndef_tlv(ndef_uri_record(url))

    assert data[1] == 0xFF
    assert parse_uri_message(parse_tlv(data)) == url


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ndef_uri_record(""), "The URL is empty"),
        (lambda: ndef_uri_record("no scheme here"), "is not a URI"),
        (lambda: ndef_tlv(b"\x00" * 0xFFFF), "at most 65,534 bytes, not 65,535"),
    ],
)
def test_bad_ndef_requests_say_what_is_wrong(call: object, message: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def _modules_of_svg_path(d: str) -> set[tuple[int, int]]:
    """The modules segno's path draws: "M x y h n" then relative "m dx dy h n" strokes, each
    a horizontal line of n modules through the middle of row y - 0.5."""
    modules: set[tuple[int, int]] = set()
    x = y = 0.0
    for command, dx, dy, length in re.findall(r"([Mm])(-?[\d.]+) (-?[\d.]+)h(\d+)", d):
        if command == "M":
            x, y = float(dx), float(dy)
        else:
            x, y = x + float(dx), y + float(dy)
        row = int(y - 0.5)
        modules.update((int(x) + i, row) for i in range(int(length)))
        x += int(length)
    return modules
