"""Text of documents for the Safe File text rendering (when no Office converter is available).

Formatting, images and macros are gone on purpose: what is left is the words, in order. Zip
members are read with a size cap (the XML of a hostile document can be a bomb); expat >= 2.4
bounds entity expansion and ElementTree never loads external entities.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator

import olefile  # type: ignore[import-untyped]

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
TEXT_NS = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"


class TextLimitError(Exception):
    """A member is larger than the text budget allows."""


def _member(archive: zipfile.ZipFile, name: str, max_bytes: int) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > max_bytes:
        raise TextLimitError(f"{name} expands to {info.file_size} bytes (limit {max_bytes})")
    with archive.open(info) as handle:
        return handle.read(max_bytes + 1)[:max_bytes]


def _xml(archive: zipfile.ZipFile, name: str, max_bytes: int) -> ET.Element:
    return ET.fromstring(_member(archive, name, max_bytes))  # noqa: S314 - see module import note


def _numbered(names: list[str], pattern: str) -> list[str]:
    found = [(int(m.group(1)), n) for n in names if (m := re.fullmatch(pattern, n))]
    return [n for _, n in sorted(found)]


def docx_text(archive: zipfile.ZipFile, max_bytes: int) -> Iterator[str]:
    root = _xml(archive, "word/document.xml", max_bytes)
    for paragraph in root.iter(f"{W}p"):
        parts: list[str] = []
        for node in paragraph.iter():
            if node.tag == f"{W}t" and node.text:
                parts.append(node.text)
            elif node.tag == f"{W}tab":
                parts.append("\t")
            elif node.tag in (f"{W}br", f"{W}cr"):
                parts.append("\n")
        yield "".join(parts)


def xlsx_text(archive: zipfile.ZipFile, max_bytes: int) -> Iterator[str]:
    names = archive.namelist()
    shared: list[str] = []
    if "xl/sharedStrings.xml" in names:
        root = _xml(archive, "xl/sharedStrings.xml", max_bytes)
        shared = ["".join(t.text or "" for t in si.iter(f"{S}t")) for si in root.iter(f"{S}si")]
    for index, sheet in enumerate(_numbered(names, r"xl/worksheets/sheet(\d+)\.xml"), start=1):
        yield f"--- Sheet {index} ---"
        for row in _xml(archive, sheet, max_bytes).iter(f"{S}row"):
            cells: list[str] = []
            for cell in row.iter(f"{S}c"):
                kind, value = cell.get("t"), cell.find(f"{S}v")
                if kind == "s" and value is not None and (value.text or "").isdigit():
                    number = int(value.text or 0)
                    cells.append(shared[number] if number < len(shared) else "")
                elif kind == "inlineStr":
                    cells.append("".join(t.text or "" for t in cell.iter(f"{S}t")))
                else:
                    cells.append(value.text or "" if value is not None else "")
            yield "\t".join(cells).rstrip()


def pptx_text(archive: zipfile.ZipFile, max_bytes: int) -> Iterator[str]:
    for index, slide in enumerate(_numbered(archive.namelist(), r"ppt/slides/slide(\d+)\.xml"), start=1):
        yield f"--- Slide {index} ---"
        for paragraph in _xml(archive, slide, max_bytes).iter(f"{A}p"):
            yield "".join(t.text or "" for t in paragraph.iter(f"{A}t"))


def odf_text(archive: zipfile.ZipFile, max_bytes: int) -> Iterator[str]:
    root = _xml(archive, "content.xml", max_bytes)
    for node in root.iter():
        if node.tag in (f"{TEXT_NS}p", f"{TEXT_NS}h"):
            yield "".join(node.itertext())


_OOXML = {"docx": docx_text, "docm": docx_text, "xlsx": xlsx_text, "xlsm": xlsx_text, "pptx": pptx_text,
          "pptm": pptx_text, "odf": odf_text}  # fmt: skip
_PRINTABLE_UTF16 = re.compile(rb"(?:[\x20-\x7e\xa0-\xff]\x00|[\r\n\t]\x00){6,}")
_PRINTABLE_ASCII = re.compile(rb"[\x20-\x7e\r\n\t]{8,}")


def ole_text(data: bytes, max_chars: int) -> Iterator[str]:
    """Legacy .doc/.xls/.ppt: printable runs of the main streams (approximate, but never executes)."""
    with olefile.OleFileIO(io.BytesIO(data)) as ole:
        streams = [s for s in ("WordDocument", "Workbook", "Book", "PowerPoint Document") if ole.exists(s)]
        budget = max_chars
        for stream in streams:
            raw = ole.openstream(stream).read(max_chars * 4)
            runs = [m.group().decode("utf-16-le", "replace") for m in _PRINTABLE_UTF16.finditer(raw)]
            if not runs:
                runs = [m.group().decode("latin-1") for m in _PRINTABLE_ASCII.finditer(raw)]
            for run in runs:
                if budget <= 0:
                    return
                budget -= len(run)
                yield run


_RTF_SKIP = re.compile(
    r"\{\\\*[^{}]*\}|\{\\(fonttbl|colortbl|stylesheet|info|pict|object)[^{}]*(\{[^{}]*\}[^{}]*)*\}"
)
_RTF_CONTROL = re.compile(r"\\([a-z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-f]{2})|\\([^a-z])", re.IGNORECASE)


def rtf_text(data: bytes) -> Iterator[str]:
    text = _RTF_SKIP.sub("", data.decode("latin-1"))

    def control(match: re.Match[str]) -> str:
        word, _arg, hexbyte, symbol = match.groups()
        if hexbyte:
            return bytes([int(hexbyte, 16)]).decode("cp1252", "replace")
        if symbol:
            return symbol if symbol in "\\{}" else ""
        return "\n" if word in ("par", "line", "row") else ("\t" if word in ("tab", "cell") else "")

    yield from _RTF_CONTROL.sub(control, text).replace("{", "").replace("}", "").split("\n")


def html_text(data: bytes) -> Iterator[str]:
    from tap_core.parsing.html import parse_html

    tree = parse_html(data.decode("utf-8", "replace")).tree
    for node in tree.css("script, style, noscript, template"):
        node.decompose()
    body = tree.body or tree.root
    yield from (body.text(separator="\n") if body is not None else "").split("\n")


def document_text(kind: str, data: bytes, max_chars: int, max_member_bytes: int) -> tuple[str, bool]:
    """(text, truncated) of a document of content type ``kind``; raises ValueError when unsupported."""
    if kind in _OOXML:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            lines: Iterator[str] = _OOXML[kind](archive, max_member_bytes)
            return _collect(lines, max_chars)
    if kind in ("doc", "xls", "ppt", "ole"):
        return _collect(ole_text(data, max_chars), max_chars)
    if kind == "rtf":
        return _collect(rtf_text(data[: max_chars * 8]), max_chars)
    if kind in ("html", "mhtml", "svg", "xml"):
        return _collect(html_text(data[: max_chars * 8]), max_chars)
    if kind in ("text", "csv", "ics", "empty"):
        return _collect(iter(_decode(data[: max_chars * 4]).split("\n")), max_chars)
    raise ValueError(f"no text rendering for {kind} files")


def _decode(data: bytes) -> str:
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            return data.decode(codec, "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _collect(lines: Iterator[str], max_chars: int) -> tuple[str, bool]:
    out: list[str] = []
    used = 0
    for line in lines:
        if used + len(line) > max_chars:
            out.append(line[: max(max_chars - used, 0)])
            return "\n".join(out), True
        out.append(line)
        used += len(line) + 1
    return "\n".join(out), False
