"""Safe File output is a valid PDF with no active content, for hostile PDFs, images with EXIF,
Office documents (text rendering, and LibreOffice when installed) and plain text."""

from __future__ import annotations

import importlib.util
import io
import os
import zipfile

import pytest
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, NumberObject, TextStringObject

from tap_core.attachments.safefile import (
    ACTIVE_KEYS,
    SafeFileError,
    SafeFileLimits,
    SafeFileResult,
    active_content,
    safe_file,
)

HAS_PDFIUM = importlib.util.find_spec("pypdfium2") is not None


def need_pdfium() -> None:
    if HAS_PDFIUM:
        return
    if os.environ.get("CI"):
        pytest.fail("pypdfium2 missing (CI must install pypdfium2==5.15.2)")
    pytest.skip("pypdfium2 not installed: pip install pypdfium2==5.15.2")


def assert_inert(result: SafeFileResult) -> PdfReader:
    """A valid PDF that pypdf reads, with none of the active-content names anywhere in the file."""
    assert result.pdf.startswith(b"%PDF-") and result.pdf.rstrip().endswith(b"%%EOF")
    reader = PdfReader(io.BytesIO(result.pdf), strict=True)
    assert len(reader.pages) == result.pages >= 1
    assert active_content(result.pdf) == []
    for key in ("/JavaScript", "/OpenAction", "/Launch", "/EmbeddedFile", "/URI", "/AcroForm", "/Annots"):
        assert key.encode() not in result.pdf
    assert reader.trailer["/Root"].keys() <= {"/Type", "/Pages"}
    return reader


def hostile_pdf() -> bytes:
    """One page, /OpenAction JavaScript, an embedded file, a form field and a link."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=300, height=200)
    js = DictionaryObject({NameObject("/S"): NameObject("/JavaScript"),
                           NameObject("/JS"): TextStringObject("app.alert('pwned');")})  # fmt: skip
    writer._root_object[NameObject("/OpenAction")] = writer._add_object(js)
    page[NameObject("/AA")] = DictionaryObject({NameObject("/O"): writer._add_object(js)})
    writer.add_attachment("payload.exe", b"MZ fake")
    link = DictionaryObject({
        NameObject("/Type"): NameObject("/Annot"),
        NameObject("/Subtype"): NameObject("/Link"),
        NameObject("/Rect"): ArrayObject([NumberObject(10), NumberObject(10), NumberObject(100), NumberObject(40)]),
        NameObject("/A"): DictionaryObject({NameObject("/S"): NameObject("/URI"),
                                            NameObject("/URI"): TextStringObject("https://phish.test/login")}),
    })  # fmt: skip
    page[NameObject("/Annots")] = ArrayObject([writer._add_object(link)])
    writer._root_object[NameObject("/AcroForm")] = DictionaryObject({NameObject("/Fields"): ArrayObject()})
    buffer = io.BytesIO()
    writer.write(buffer)
    data = buffer.getvalue()
    assert set(active_content(data)) >= {"/JS", "/JavaScript", "/OpenAction", "/AA", "/EmbeddedFiles", "/URI",
                                         "/AcroForm"}  # fmt: skip
    return data


def test_pdf_with_openaction_javascript() -> None:
    need_pdfium()
    original = hostile_pdf()
    result = safe_file("invoice.pdf", original)
    reader = assert_inert(result)
    assert result.method == "pdf_raster" and result.name == "invoice.pdf"
    assert result.original == original and result.original_name == "invoice.pdf"
    assert result.links == ["https://phish.test/login"]
    # page 1 is the picture of the page; the last page lists the link as plain text
    assert "/XObject" in reader.pages[0]["/Resources"]
    assert "https://phish.test/login" in reader.pages[-1].extract_text()


def test_page_limit_truncates_and_says_so() -> None:
    need_pdfium()
    writer = PdfWriter()
    for _ in range(5):
        writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    result = safe_file("long.pdf", buffer.getvalue(), limits=SafeFileLimits(max_pages=2))
    reader = assert_inert(result)
    assert result.truncated and result.pages == 3  # 2 pages + the notice
    assert "INCOMPLETE" in reader.pages[-1].extract_text()


def test_time_limit() -> None:
    need_pdfium()
    ticks = iter(range(0, 1000, 50))
    result = safe_file(
        "a.pdf", hostile_pdf(), limits=SafeFileLimits(max_seconds=10), clock=lambda: next(ticks)
    )
    assert result.truncated and any("time limit" in note for note in result.notes)


def test_encrypted_pdf_is_refused() -> None:
    need_pdfium()
    writer = PdfWriter()
    writer.add_blank_page(width=100, height=100)
    writer.encrypt(user_password="secret", algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    with pytest.raises(SafeFileError, match="encrypted"):
        safe_file("locked.pdf", buffer.getvalue())


def test_image_with_exif_is_reencoded_without_metadata() -> None:
    image = Image.new("RGB", (120, 60), "navy")
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Inc."  # Make
    exif[0x0112] = 6  # Orientation: rotate 90 degrees on display
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes(), comment=b"secret comment")
    result = safe_file("photo.jpg", buffer.getvalue())
    reader = assert_inert(result)
    assert result.method == "image"
    assert b"SpyCam" not in result.pdf and b"secret comment" not in result.pdf and b"Exif" not in result.pdf
    xobject = reader.pages[0]["/Resources"]["/XObject"]["/Im0"].get_object()
    assert (xobject["/Width"], xobject["/Height"]) == (60, 120)  # orientation applied, then dropped
    page_box = reader.pages[0].mediabox
    assert page_box.height > page_box.width


def test_png_with_alpha_and_oversized_image() -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (40, 40), (255, 0, 0, 128)).save(buffer, "PNG")
    assert_inert(safe_file("logo.png", buffer.getvalue()))
    buffer = io.BytesIO()
    Image.new("L", (101, 100)).save(buffer, "PNG")
    with pytest.raises(SafeFileError, match="over the limit"):
        safe_file("huge.png", buffer.getvalue(), limits=SafeFileLimits(max_image_pixels=10_000))


def make_docx(paragraphs: list[str]) -> bytes:
    body = "".join(f"<w:p><w:r><w:t>{p}</w:t></w:r></w:p>" for p in paragraphs)
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body>{body}</w:body></w:document>"
    )
    content_types = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'wordprocessingml.document.main+xml"/></Types>'
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'officeDocument" Target="word/document.xml"/></Relationships>'
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("_rels/.rels", rels)
        archive.writestr("word/document.xml", document)
    return buffer.getvalue()


def test_docx_text_fallback() -> None:
    docx = make_docx(["Quarterly results", "Please review the attached figures (Q3) \\ thanks."])
    result = safe_file("report.docx", docx)
    reader = assert_inert(result)
    assert result.method == "text" and result.source_type == "docx" and result.name == "report.pdf"
    text = reader.pages[0].extract_text()
    assert "Quarterly results" in text and "(Q3) \\ thanks." in text


def test_office_converter_failure_falls_back_to_text() -> None:
    class Broken:
        def to_pdf(self, name: str, data: bytes, timeout_seconds: float) -> bytes:
            raise RuntimeError("soffice crashed")

    result = safe_file("report.docx", make_docx(["Hello"]), office=Broken())
    assert result.method == "text" and "Office rendering failed" in result.notes[0]
    assert_inert(result)


def test_plain_text_and_unsupported() -> None:
    result = safe_file("notes.txt", "line one\n\tcafé\n".encode() * 500)
    reader = assert_inert(result)
    assert result.pages > 1 and "café" in reader.pages[0].extract_text()
    with pytest.raises(SafeFileError, match="no Safe File conversion for exe"):
        safe_file("setup.exe", b"MZ" + b"\0" * 200)


def test_libreoffice_path() -> None:
    need_pdfium()
    from connectors.sandbox.libreoffice import LibreOfficeConverter, find_soffice

    if not find_soffice():
        pytest.skip(
            "LibreOffice not installed (apt-get install libreoffice-writer-nogui): text fallback is tested"
        )
    result = safe_file("report.docx", make_docx(["Rendered by LibreOffice"]), office=LibreOfficeConverter())
    reader = assert_inert(result)
    assert result.method == "office_raster"
    assert "/XObject" in reader.pages[0]["/Resources"]


def test_active_keys_cover_the_brief() -> None:
    assert {
        "/JS",
        "/JavaScript",
        "/OpenAction",
        "/AA",
        "/Launch",
        "/EmbeddedFile",
        "/URI",
        "/AcroForm",
    } <= set(ACTIVE_KEYS)


def test_palette_gif_keeps_its_colours() -> None:
    frame = Image.new("P", (30, 30))
    frame.putpalette([255, 0, 0] * 256)
    buffer = io.BytesIO()
    frame.save(buffer, "GIF")
    result = safe_file("anim.gif", buffer.getvalue())
    reader = assert_inert(result)
    jpeg = reader.pages[0]["/Resources"]["/XObject"]["/Im0"].get_object().get_data()
    red, green, blue = Image.open(io.BytesIO(jpeg)).convert("RGB").getpixel((15, 15))
    assert red > 200 and green < 60 and blue < 60
