"""A minimal PDF writer for Safe File output: pages are either one JPEG image or plain text.

Writing the output ourselves (instead of editing the input) is the point: the file can only hold
what this module emits (pages, one image XObject or a Courier text stream each, an Info
dictionary) and never actions, annotations, forms, scripts or attachments.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

#: Text pages: A4 portrait, Courier 9 pt (fixed width makes wrapping exact).
PAGE_WIDTH, PAGE_HEIGHT = 595, 842
MARGIN = 48
FONT_SIZE = 9
LEADING = 11
CHARS_PER_LINE = int((PAGE_WIDTH - 2 * MARGIN) / (FONT_SIZE * 0.6))
LINES_PER_PAGE = int((PAGE_HEIGHT - 2 * MARGIN) / LEADING)


@dataclass(frozen=True, slots=True)
class ImagePage:
    jpeg: bytes
    width_px: int
    height_px: int
    #: Page size in points (the image fills the page).
    width_pt: float
    height_pt: float
    grey: bool = False


@dataclass(frozen=True, slots=True)
class TextPage:
    lines: tuple[str, ...]


Page = ImagePage | TextPage


def wrap_text(text: str, width: int = CHARS_PER_LINE) -> list[str]:
    """Hard-wrap ``text`` to ``width`` columns (tabs to 4 spaces, control characters dropped)."""
    lines: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = "".join(ch for ch in raw.replace("\t", "    ") if ch >= " " or ch == "\t").rstrip()
        while len(line) > width:
            cut = line.rfind(" ", width // 2, width)
            cut = cut if cut > 0 else width
            lines.append(line[:cut].rstrip())
            line = line[cut:].lstrip()
        lines.append(line)
    return lines


def text_pages(lines: list[str]) -> list[TextPage]:
    return [
        TextPage(tuple(lines[i : i + LINES_PER_PAGE])) for i in range(0, max(len(lines), 1), LINES_PER_PAGE)
    ]


def _pdf_string(text: str) -> bytes:
    data = text.encode("cp1252", "replace")
    return b"(" + data.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def build_pdf(pages: list[Page], title: str = "Safe File") -> bytes:
    """Serialise ``pages`` to PDF 1.4 bytes with a correct cross-reference table."""
    objects: list[bytes] = []  # object n is objects[n - 1]

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # placeholders filled once the page ids are known
    pages_id = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>")
    kids: list[int] = []
    for page in pages:
        if isinstance(page, ImagePage):
            colour = b"/DeviceGray" if page.grey else b"/DeviceRGB"
            image = add(
                b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace %s /BitsPerComponent 8"
                b" /Filter /DCTDecode /Length %d >>\nstream\n"
                % (page.width_px, page.height_px, colour, len(page.jpeg))
                + page.jpeg
                + b"\nendstream"
            )
            content = b"q %.2f 0 0 %.2f 0 0 cm /Im0 Do Q" % (page.width_pt, page.height_pt)
            resources = b"<< /XObject << /Im0 %d 0 R >> >>" % image
            size = (page.width_pt, page.height_pt)
        else:
            ops = [
                b"BT /F1 %d Tf %d TL %d %d Td"
                % (FONT_SIZE, LEADING, MARGIN, PAGE_HEIGHT - MARGIN - FONT_SIZE)
            ]
            ops += [_pdf_string(line) + b" Tj T*" for line in page.lines]
            ops.append(b"ET")
            content = b"\n".join(ops)
            resources = b"<< /Font << /F1 %d 0 R >> >>" % font
            size = (PAGE_WIDTH, PAGE_HEIGHT)
        packed = zlib.compress(content)
        stream = add(
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed + b"\nendstream"
        )
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.2f %.2f] /Resources %s /Contents %d 0 R >>"
                % (pages_id, size[0], size[1], resources, stream)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id
    objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    info = add(b"<< /Producer (tap365 Safe File) /Title " + _pdf_string(title[:200]) + b" >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog,
        info,
        xref,
    )
    return bytes(out)
