"""The text rendering of Office and web documents (no LibreOffice): the words survive, in order."""

from __future__ import annotations

import io
import zipfile

import pytest
from pypdf import PdfReader

from tap_core.attachments.safefile import SafeFileError, SafeFileLimits, active_content, safe_file

CT = '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">{}</Types>'


def ooxml(main: str, parts: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CT.format(f'<Override PartName="/{main}" ContentType="x"/>'))
        for name, text in parts.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def rendered_text(name: str, data: bytes, **kwargs: object) -> str:
    result = safe_file(name, data, **kwargs)  # type: ignore[arg-type]
    assert result.method == "text" and active_content(result.pdf) == []
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(result.pdf)).pages)


def test_xlsx_cells_and_shared_strings() -> None:
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    data = ooxml("xl/workbook.xml", {
        "xl/workbook.xml": f"<workbook {ns}/>",
        "xl/sharedStrings.xml": f"<sst {ns}><si><t>Invoice</t></si><si><t>Total</t></si></sst>",
        "xl/worksheets/sheet1.xml": f'<worksheet {ns}><sheetData><row><c t="s"><v>0</v></c><c><v>42</v></c></row>'
                                    f'<row><c t="s"><v>1</v></c><c t="inlineStr"><is><t>due</t></is></c></row>'
                                    f"</sheetData></worksheet>",
    })  # fmt: skip
    text = rendered_text("book.xlsx", data)
    assert "Sheet 1" in text and "Invoice" in text and "42" in text and "Total" in text and "due" in text


def test_pptx_slides_in_order() -> None:
    a = 'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"'
    parts = {f"ppt/slides/slide{n}.xml": f"<sld {a}><a:p><a:r><a:t>Slide text {n}</a:t></a:r></a:p></sld>"
             for n in (2, 10, 1)}  # fmt: skip
    parts["ppt/presentation.xml"] = "<presentation/>"
    text = rendered_text("deck.pptx", ooxml("ppt/presentation.xml", parts))
    assert text.index("Slide text 1") < text.index("Slide text 2") < text.index("Slide text 10")


def test_rtf_and_html() -> None:
    rtf = rb"{\rtf1\ansi{\fonttbl{\f0 Arial;}}\f0 Dear customer,\par Your account \'e9tait locked.\par}"
    text = rendered_text("letter.rtf", rtf)
    assert "Dear customer," in text and "était locked." in text and "Arial" not in text
    html = b"<html><body><h1>Payment due</h1><script>alert(1)</script><p>Click <a href='https://x.test'>here</a></p>"
    text = rendered_text("page.html", html)
    assert "Payment due" in text and "here" in text and "alert" not in text


def test_text_limit_truncates() -> None:
    result = safe_file("big.txt", b"word " * 10_000, limits=SafeFileLimits(max_text_chars=1000))
    assert result.truncated and "INCOMPLETE" in PdfReader(io.BytesIO(result.pdf)).pages[-1].extract_text()


def test_zip_member_over_limit_is_refused() -> None:
    ns = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    huge = (
        f"<w:document {ns}><w:body><w:p><w:r><w:t>{'A' * 3_000_000}</w:t></w:r></w:p></w:body></w:document>"
    )
    data = ooxml("word/document.xml", {"word/document.xml": huge})
    with pytest.raises(SafeFileError, match="expands to"):
        safe_file("bomb.docx", data, limits=SafeFileLimits(max_member_bytes=1024 * 1024))
