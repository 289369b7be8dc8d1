"""Stickers in the physical world: a sticker's public URL (STICKY_PUBLIC_URL/t/{id}) as a QR code
(SVG, PNG), as a printable A4 sheet of many stickers (PDF), and as the NDEF bytes for an NFC tag.

Pure functions from URLs to bytes; the HTTP routes that serve them live elsewhere. Every bad input
raises `ValueError` with a sentence fit to show the caller.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import segno
from fpdf import FPDF
from fpdf.enums import Align, RenderStyle
from fpdf.fonts import TTFFont

__all__ = [
    "MAX_BORDER",
    "MAX_SCALE",
    "MAX_STICKERS_PER_SHEET",
    "MAX_URL_LENGTH",
    "QUIET_ZONE",
    "SheetSticker",
    "ndef_tlv",
    "ndef_uri_record",
    "qr_png",
    "qr_svg",
    "sticker_sheet_pdf",
]

QUIET_ZONE = 4  # modules of light margin around a QR code: the minimum ISO/IEC 18004 asks for
MAX_SCALE = 50
MAX_BORDER = 20
MAX_URL_LENGTH = 2048
MAX_STICKERS_PER_SHEET = 1000

# Printed stickers get scratched, scuffed and sun-bleached: level Q restores up to ~25% of the
# symbol, and segno's boost_error raises it to H whenever that fits in the same (small) version.
_ERROR_LEVEL = "q"

_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[\x21-\x7e]+")


def _check_url(url: str) -> None:
    if not isinstance(url, str) or not url:
        raise ValueError("The URL is empty; give the sticker's full URL, such as https://…/t/{id}.")
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"The URL is {len(url)} characters long; at most {MAX_URL_LENGTH} fit.")
    if not _URI.fullmatch(url):
        raise ValueError(
            f"{url[:80]!r} is not a URI: it needs a scheme (such as https:) and only printable "
            "ASCII characters without spaces; percent-encode anything else."
        )


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, not {value!r}.")


def _qr(url: str) -> segno.QRCode:
    _check_url(url)
    try:
        # Never a Micro QR code: many phone cameras do not read them.
        return segno.make_qr(url, error=_ERROR_LEVEL, boost_error=True)
    except segno.DataOverflowError as exc:
        raise ValueError(f"The URL is too long for a QR code ({len(url)} characters).") from exc


def _save(url: str, kind: str, scale: int, border: int, **options: object) -> bytes:
    _check_range("scale", scale, 1, MAX_SCALE)
    _check_range("border", border, 0, MAX_BORDER)
    out = io.BytesIO()
    # An explicit white background: the quiet zone must stay light on a dark surface too.
    _qr(url).save(out, kind=kind, scale=scale, border=border, dark="#000", light="#fff", **options)
    return out.getvalue()


def qr_svg(url: str, *, scale: int = 10, border: int = QUIET_ZONE) -> bytes:
    """The QR code of `url` as SVG: `scale` px per module, `border` modules of quiet zone."""
    return _save(url, "svg", scale, border, unit="px", title=url, svgclass=None, lineclass=None)


def qr_png(url: str, *, scale: int = 10, border: int = QUIET_ZONE) -> bytes:
    """The QR code of `url` as PNG: `scale` px per module, `border` modules of quiet zone."""
    return _save(url, "png", scale, border)


# --- The A4 sheet -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SheetSticker:
    """One sticker on a printed sheet: its name and the URL its QR code opens."""

    name: str
    url: str


_PAGE_W, _PAGE_H = 210.0, 297.0  # A4 portrait, in millimetres like everything below
_COLUMNS, _ROWS = 4, 5
_PER_PAGE = _COLUMNS * _ROWS
_MARGIN_X, _MARGIN_TOP, _MARGIN_BOTTOM = 10.0, 16.0, 11.0
_CELL_W = (_PAGE_W - 2 * _MARGIN_X) / _COLUMNS
_CELL_H = (_PAGE_H - _MARGIN_TOP - _MARGIN_BOTTOM) / _ROWS
# The symbol with its quiet zone; the code itself is never under 27 mm (version 1: 21 of 29).
_QR_SIZE = 38.0
_TEXT_W = _CELL_W - 4.0
_ELLIPSIS = "…"  # in Windows-1252 and DejaVu Sans alike

# DejaVu Sans shows the names Helvetica (the PDF core font, Windows-1252 only) cannot; where it
# is not installed, or lacks a glyph, the character prints as "?".
_UNICODE_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/share/fonts/dejavu"),
)
_UNICODE_FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
_UNICODE_FAMILY = "sticky-unicode"


def sticker_sheet_pdf(stickers: Sequence[SheetSticker], *, title: str | None = None) -> bytes:
    """A4 pages of stickers, 4 by 5 a page: each its QR code, name and URL, framed for cutting."""
    if not stickers:
        raise ValueError("A sticker sheet needs at least one sticker.")
    if len(stickers) > MAX_STICKERS_PER_SHEET:
        raise ValueError(
            f"A sticker sheet holds at most {MAX_STICKERS_PER_SHEET} stickers, "
            f"not {len(stickers)}; print them in several sheets."
        )
    for index, sticker in enumerate(stickers):
        try:
            _check_url(sticker.url)
        except ValueError as exc:
            raise ValueError(f"Sticker {index + 1} ({sticker.name[:40]!r}): {exc}") from None

    sheet = _Sheet(title=_one_line(title) if title else None)
    pages = math.ceil(len(stickers) / _PER_PAGE)
    for page in range(pages):
        sheet.start_page(page + 1, pages)
        for slot, sticker in enumerate(stickers[page * _PER_PAGE : (page + 1) * _PER_PAGE]):
            sheet.draw(sticker, column=slot % _COLUMNS, row=slot // _COLUMNS)
    return bytes(sheet.pdf.output())


class _Sheet:
    def __init__(self, title: str | None) -> None:
        self.title = title
        self.pdf = FPDF(orientation="portrait", unit="mm", format="A4")
        self.pdf.core_fonts_encoding = "cp1252"  # what the core fonts' WinAnsiEncoding means
        self.pdf.set_auto_page_break(auto=False)
        self.pdf.set_margins(0, 0, 0)
        self.pdf.c_margin = 0
        self.pdf.set_creator("Sticky")
        self.pdf.set_title(title or "Sticky stickers")
        self._unicode: bool | None = None  # the Unicode font, added on first need

    def start_page(self, number: int, pages: int) -> None:
        pdf = self.pdf
        pdf.add_page()
        pdf.set_text_color(0)
        if self.title:
            text = self._font(self.title, 12, bold=True)
            pdf.set_xy(_MARGIN_X, 5)
            pdf.cell(_PAGE_W - 2 * _MARGIN_X - 30, 7, self._fit(text, _PAGE_W - 2 * _MARGIN_X - 30))
        self._font("", 8)
        pdf.set_text_color(110)
        pdf.set_xy(_PAGE_W - _MARGIN_X - 30, 5)
        pdf.cell(30, 7, f"Page {number} of {pages}", align=Align.R)

    def draw(self, sticker: SheetSticker, *, column: int, row: int) -> None:
        pdf = self.pdf
        x = _MARGIN_X + column * _CELL_W
        y = _MARGIN_TOP + row * _CELL_H
        pdf.set_draw_color(200)
        pdf.set_line_width(0.2)
        pdf.rect(x, y, _CELL_W, _CELL_H)

        self._draw_qr(sticker.url, x + (_CELL_W - _QR_SIZE) / 2, y + 2)

        pdf.set_text_color(0)
        name = self._font(_one_line(sticker.name), 10, bold=True)
        pdf.set_xy(x + 2, y + 2 + _QR_SIZE + 0.5)
        pdf.cell(_TEXT_W, 5, self._fit(name, _TEXT_W), align=Align.C)

        pdf.set_text_color(90)
        self._font("", 6.5)
        pdf.set_xy(x + 2, y + 2 + _QR_SIZE + 6)
        address = sticker.url.split("://", 1)[-1]
        pdf.cell(_TEXT_W, 3.5, self._fit(address, _TEXT_W, keep="end"), align=Align.C)

    def _draw_qr(self, url: str, x: float, y: float) -> None:
        qr = _qr(url)
        size = len(qr.matrix)
        module = _QR_SIZE / (size + 2 * QUIET_ZONE)
        self.pdf.set_fill_color(0)
        # Vector rectangles rather than an embedded bitmap: crisp at any printer resolution.
        for column, row, width, height in _dark_rectangles(qr.matrix):
            self.pdf.rect(
                x + (QUIET_ZONE + column) * module,
                y + (QUIET_ZONE + row) * module,
                width * module,
                height * module,
                style=RenderStyle.F,
            )

    def _font(self, text: str, size: float, *, bold: bool = False) -> str:
        """Select a font that shows `text` and return `text` as it will print."""
        style = "B" if bold else ""
        try:
            text.encode("cp1252")
        except UnicodeEncodeError:
            if self._unicode_font_ready():
                self.pdf.set_font(_UNICODE_FAMILY, style, size)
                return "".join(c if self._can_show(c) else "?" for c in text)
            self.pdf.set_font("helvetica", style, size)
            return text.encode("cp1252", errors="replace").decode("cp1252")
        self.pdf.set_font("helvetica", style, size)
        return text

    def _unicode_font_ready(self) -> bool:
        if self._unicode is None:
            self._unicode = False
            for directory in _UNICODE_FONT_DIRS:
                regular = directory / _UNICODE_FONT_FILES[""]
                if regular.is_file():
                    for style, file in _UNICODE_FONT_FILES.items():
                        font = directory / file
                        self.pdf.add_font(_UNICODE_FAMILY, style, _or(font, regular))
                    self._unicode = True
                    break
        return self._unicode

    def _fit(self, text: str, width: float, *, keep: str = "start") -> str:
        """`text`, shortened with an ellipsis to fit `width` in the current font."""
        fits = self.pdf.get_string_width
        if fits(text) <= width:
            return text
        low, high = 0, len(text)  # the longest part of the text that fits beside the ellipsis
        while low < high:
            middle = (low + high + 1) // 2
            if fits(_shorten(text, middle, keep)) <= width:
                low = middle
            else:
                high = middle - 1
        return _shorten(text, low, keep)

    def _can_show(self, char: str) -> bool:
        font = self.pdf.current_font
        if isinstance(font, TTFFont):
            return ord(char) in font.cmap
        try:
            char.encode("cp1252")
        except UnicodeEncodeError:
            return False
        return True


def _shorten(text: str, length: int, keep: str) -> str:
    if keep == "end":
        return _ELLIPSIS + text[len(text) - length :].lstrip()
    return text[:length].rstrip() + _ELLIPSIS


def _or(path: Path, fallback: Path) -> Path:
    return path if path.is_file() else fallback


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _dark_rectangles(matrix: Sequence[bytearray]) -> Iterator[tuple[int, int, int, int]]:
    """The dark modules as (column, row, width, height) rectangles: runs along each row, merged
    downwards while the rows below repeat them, so there are fewer shapes and seams."""
    open_runs: dict[tuple[int, int], int] = {}  # (column, width) -> first row
    for row, modules in enumerate([*matrix, bytearray()]):
        runs = set(_runs(modules))
        for run in [run for run in open_runs if run not in runs]:
            first = open_runs.pop(run)
            yield run[0], first, run[1], row - first
        for run in runs:
            open_runs.setdefault(run, row)


def _runs(modules: bytearray) -> Iterator[tuple[int, int]]:
    column, size = 0, len(modules)
    while column < size:
        if modules[column]:
            start = column
            while column < size and modules[column]:
                column += 1
            yield start, column - start
        else:
            column += 1


# --- NFC ----------------------------------------------------------------------------------------

# NFC Forum URI Record Type Definition, table 3: the byte that abbreviates a URI's beginning.
_URI_PREFIXES = (
    "",
    "http://www.",
    "https://www.",
    "http://",
    "https://",
    "tel:",
    "mailto:",
    "ftp://anonymous:anonymous@",
    "ftp://ftp.",
    "ftps://",
    "sftp://",
    "smb://",
    "nfs://",
    "ftp://",
    "dav://",
    "news:",
    "telnet://",
    "imap:",
    "rtsp://",
    "urn:",
    "pop:",
    "sip:",
    "sips:",
    "tftp:",
    "btspp://",
    "btl2cap://",
    "btgoep://",
    "tcpobex://",
    "irdaobex://",
    "file://",
    "urn:epc:id:",
    "urn:epc:tag:",
    "urn:epc:pat:",
    "urn:epc:raw:",
    "urn:epc:",
    "urn:nfc:",
)
_MB, _ME, _SR = 0x80, 0x40, 0x10
_TNF_WELL_KNOWN = 0x01
_NDEF_TLV, _TERMINATOR_TLV = 0x03, 0xFE


def ndef_uri_record(url: str) -> bytes:
    """An NDEF message of one URI record ("U") for `url`, with the RTD's prefix abbreviation."""
    _check_url(url)
    code = max(
        (code for code, prefix in enumerate(_URI_PREFIXES) if url.startswith(prefix)),
        key=lambda code: len(_URI_PREFIXES[code]),
    )
    payload = bytes([code]) + url[len(_URI_PREFIXES[code]) :].encode("utf-8")
    flags = _MB | _ME | _TNF_WELL_KNOWN
    if len(payload) < 256:
        length = bytes([len(payload)])
        flags |= _SR
    else:
        length = len(payload).to_bytes(4, "big")
    return bytes([flags, len(b"U")]) + length + b"U" + payload


def ndef_tlv(message: bytes) -> bytes:
    """`message` in a Type 2 Tag NDEF TLV and a terminator: what to write from an NTAG's page 4."""
    size = len(message)
    if size > 0xFFFE:
        raise ValueError(f"An NDEF TLV holds at most 65,534 bytes, not {size:,}.")
    length = bytes([size]) if size < 0xFF else b"\xff" + size.to_bytes(2, "big")
    return bytes([_NDEF_TLV]) + length + message + bytes([_TERMINATOR_TLV])
