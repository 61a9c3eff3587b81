"""URLs inside attachments: the engine is the one extractor, each URL with where it was found.

The contexts are the ones URL Protect reports (``attachment:<file>:<context>``): PDF link
annotations and page text, Office relationships and text, HTML links and forms, calendar
properties, shortcuts, text files and the raw strings of other files. Fixtures are built here.
"""

from __future__ import annotations

import io
import random
import zipfile

import pytest
from pypdf import PdfWriter
from pypdf.annotations import Link
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from tap_core.attachments.engine import AttachmentEngine
from tap_core.attachments.model import FileResult, FileUrl, ScanLimits
from tap_core.attachments.policy import AttachmentPolicy
from tap_core.attachments.protect import assess_attachments
from tap_core.model.message import Address, Attachment, Message
from tests.attachments.builders import make_zip


def places(result: FileResult) -> list[tuple[str, str]]:
    """(context, url) of the URLs the file itself carries, in the order found."""
    return [(found.context, found.url) for found in result.urls]


def make_pdf(pages: int = 1, password: str | None = None) -> bytes:
    w = PdfWriter()
    for i in range(pages):
        page = w.add_blank_page(612, 792)
        font = DictionaryObject({
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        })
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): w._add_object(font)})}
        )
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 12 Tf 72 720 Td (Visit https://text{i}.example/login) Tj ET".encode())
        page[NameObject("/Contents")] = w._add_object(stream)
        w.add_annotation(i, Link(rect=(50, 50, 200, 100), url=f"https://annot{i}.example/pay"))
    if password is not None:
        w.encrypt(user_password=password, owner_password="owner-" + password)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


# -- PDF ------------------------------------------------------------------------------------------


def test_pdf_annotations_and_text(engine: AttachmentEngine) -> None:
    result = engine.scan("invoice.pdf", make_pdf())
    assert places(result) == [
        ("pdf_annotation", "https://annot0.example/pay"),
        ("pdf_text", "https://text0.example/login"),
    ]


def test_pdf_page_cap_and_broken_pdf() -> None:
    data = make_pdf(pages=3)
    capped = AttachmentEngine(ScanLimits(max_pdf_pages=2), cache_size=0).scan("x.pdf", data)
    assert places(capped) == [
        ("pdf_annotation", "https://annot0.example/pay"), ("pdf_text", "https://text0.example/login"),
        ("pdf_annotation", "https://annot1.example/pay"), ("pdf_text", "https://text1.example/login"),
        # past the page cap the text is not read; link actions are, by the walk over every object
        ("pdf_action", "https://annot2.example/pay"),
    ]  # fmt: skip
    engine = AttachmentEngine(cache_size=0)
    truncated = engine.scan("x.pdf", data[: len(data) // 3])
    assert isinstance(truncated.urls, list)  # what could be read, never an exception
    garbage = engine.scan("x.pdf", b"%PDF-1.7\n garbage")
    assert garbage.urls == []


def test_encrypted_pdf_opened_with_the_message_password(engine: AttachmentEngine) -> None:
    data = make_pdf(password="4471")
    assert engine.scan("locked.pdf", data).urls == []
    opened = engine.scan("locked.pdf", data, passwords=["4471"])
    assert "decrypted_with_password" in opened.reasons
    assert ("pdf_annotation", "https://annot0.example/pay") in places(opened)


# -- Office and OpenDocument ----------------------------------------------------------------------

CONTENT_TYPES = (
    '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Default Extension="xml" ContentType="application/xml"/></Types>'
)
DOC_RELS = (
    '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
    'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument'
    '/2006/relationships/hyperlink" Target="https://link.example/a?x=1&amp;y=2" TargetMode="Exter'
    'nal"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/rel'
    'ationships/styles" Target="styles.xml"/></Relationships>'
)
SETTINGS_RELS = (
    '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
    'relationships"><Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument'
    '/2006/relationships/attachedTemplate" Target="http://template.example/t.dotm" '
    'TargetMode="External"/></Relationships>'
)
DOCUMENT = (
    '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/'
    '2006/main"><w:body><w:p><w:r><w:t>Pay at www.pay</w:t></w:r><w:r><w:t>.example.com/now'
    '</w:t></w:r></w:p><w:p><w:r><w:instrText> HYPERLINK "https://field.example/f" </w:instrText>'
    "</w:r></w:p></w:body></w:document>"
)


def make_docx(extra: int = 0) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        for i in range(extra):
            z.writestr(f"customXml/item{i}.xml", "<x/>")
        z.writestr("word/document.xml", DOCUMENT)
        z.writestr("word/_rels/document.xml.rels", DOC_RELS)
        z.writestr("word/_rels/settings.xml.rels", SETTINGS_RELS)
    return buf.getvalue()


def test_docx_relationships_and_text(engine: AttachmentEngine) -> None:
    result = engine.scan("a.docx", make_docx())
    assert sorted(places(result)) == [
        ("ooxml_hyperlink", "https://link.example/a?x=1&y=2"),
        ("ooxml_relationship", "http://template.example/t.dotm"),
        ("ooxml_text", "http://www.pay.example.com/now"),
        ("ooxml_text", "https://field.example/f"),
    ]
    assert "external_template" in result.reasons  # the same reading gives the finding


def test_truncated_package_gives_no_urls(engine: AttachmentEngine) -> None:
    data = make_docx(extra=20)
    assert engine.scan("a.docx", data).all_urls()
    assert engine.scan("a.docx", data[:200]).all_urls() == []


def test_opendocument_hyperlinks_and_text(engine: AttachmentEngine) -> None:
    content = (
        '<?xml version="1.0"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:'
        'xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:xlink='
        '"http://www.w3.org/1999/xlink"><office:body><office:text><text:p>Open <text:a xlink:href='
        '"https://odf.example/doc" xlink:type="simple">the file</text:a></text:p><text:p>or visit '
        "portal.example.com/x</text:p></office:text></office:body></office:document-content>"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", content)
    result = engine.scan("letter.odt", buf.getvalue())
    assert result.type == "odf"
    assert places(result) == [
        ("odf_hyperlink", "https://odf.example/doc"),
        ("ooxml_text", "http://portal.example.com/x"),
    ]


# -- HTML, SVG, calendars, shortcuts, text, raw strings ---------------------------------------------


def test_html_and_svg_attachments(engine: AttachmentEngine) -> None:
    page = b'<html><body><form action="https://harvest.example/p"></form></body></html>'
    assert places(engine.scan("login.htm", page)) == [("form_action", "https://harvest.example/p")]
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'
        b'<a xlink:href="https://svg.example/x"><text>Open</text></a></svg>'
    )
    result = engine.scan("fax.svg", svg)
    assert [(f.context, f.url, f.link_text) for f in result.urls] == [("a_href", "https://svg.example/x", "Open")]


def test_ics_properties_and_descriptions(engine: AttachmentEngine) -> None:
    ics = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:1\r\nSUMMARY:Review\r\n"
        b"DESCRIPTION:Join at https://meet.example/j/1\\, or dial in\\nDocs: www.docs.exa\r\n"
        b" mple.com/d\r\nURL:https://event.example/e\r\n"
        b"ORGANIZER:mailto:boss@example.com\r\n"
        b'X-ALT-DESC;FMTTYPE=text/html:<a href="https://alt.example/">x</a>\r\n'
        b"END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    result = engine.scan("invite.ics", ics)
    assert sorted(places(result)) == [
        ("a_href", "https://alt.example/"),
        ("ics", "http://www.docs.example.com/d"),
        ("ics", "https://event.example/e"),
        ("ics", "https://meet.example/j/1"),
    ]


def test_shortcut_text_and_binary_attachments(engine: AttachmentEngine) -> None:
    url_file = b"[InternetShortcut]\r\nURL=https://shortcut.example/x\r\nIconFile=\\\\evil.example\\s\\i.ico\r\n"
    assert places(engine.scan("doc.url", url_file)) == [
        ("url_shortcut", "https://shortcut.example/x"),
        ("url_shortcut", "file://evil.example/s/i.ico"),  # a UNC icon: Windows opens it over SMB
    ]
    webloc = (
        b'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" '
        b'"http://www.apple.com/DTDs/PropertyList-1.0.dtd"><plist version="1.0"><dict><key>URL</key>'
        b"<string>https://webloc.example/y</string></dict></plist>"
    )
    assert places(engine.scan("link.webloc", webloc)) == [("url_shortcut", "https://webloc.example/y")]
    text = "Login: https://portal.example/x or www.portal.example.com".encode("utf-16")
    assert places(engine.scan("notes.txt", text)) == [
        ("attachment_text", "https://portal.example/x"),
        ("attachment_text", "http://www.portal.example.com/"),
    ]
    rtf = rb'{\rtf1 {\field{\*\fldinst HYPERLINK "https://rtf.example/x"}}} http://schemas.microsoft.com/ns'
    assert places(engine.scan("a.rtf", rtf)) == [("attachment_strings", "https://rtf.example/x")]
    # pixels and compressed members have no raw strings worth reading (an image's QR codes do)
    assert engine.scan("p.png", b"\x89PNG\r\n\x1a\n http://x.example/").urls == []
    assert engine.scan("p.zip", make_zip({"a.txt": b"x"}) + b" http://x.example/").urls == []


def test_defanged_urls_keep_their_mark(engine: AttachmentEngine) -> None:
    result = engine.scan("iocs.txt", b"blocked: hxxp://evil[.]example/x\n")
    assert places(result) == [("attachment_text_defanged", "http://evil.example/x")]


def test_attachment_limits() -> None:
    data = " ".join(f"https://h{i}.example/" for i in range(100)).encode()
    assert len(AttachmentEngine(ScanLimits(max_urls=10), cache_size=0).scan("a.txt", data).urls) == 10
    oversize = AttachmentEngine(ScanLimits(max_file_bytes=100), cache_size=0).scan("a.txt", data)
    assert oversize.urls == [] and "limit_file_size" in oversize.reasons


@pytest.mark.parametrize("name", ["x.pdf", "x.docx", "x.ics", "x.html", "x.bin", "x.txt", "x.url"])
def test_malformed_attachments_never_raise(engine: AttachmentEngine, name: str) -> None:
    rng = random.Random(name)  # noqa: S311 - reproducible junk, not security
    for prefix in (b"", b"%PDF-1.4", b"PK\x03\x04", b"BEGIN:VCALENDAR\n"):
        blob = prefix + bytes(rng.randrange(256) for _ in range(2000))
        assert isinstance(engine.scan(name, blob).urls, list)


# -- the whole tree, and the message --------------------------------------------------------------


def test_members_are_path_qualified(engine: AttachmentEngine) -> None:
    data = make_zip({"docs/b.pdf": make_pdf(), "readme.txt": b"see https://readme.example/r\n"})
    result = engine.scan("a.zip", data)
    assert result.urls == []
    assert list(result.url_sources()) == [
        ("a.zip/docs/b.pdf", FileUrl(url="https://annot0.example/pay", context="pdf_annotation")),
        ("a.zip/docs/b.pdf", FileUrl(url="https://text0.example/login", context="pdf_text")),
        ("a.zip/readme.txt", FileUrl(url="https://readme.example/r", context="attachment_text")),
    ]
    assert result.all_urls() == [
        "https://annot0.example/pay", "https://text0.example/login", "https://readme.example/r",
    ]  # fmt: skip


def test_assessment_reports_every_url_with_its_source(engine: AttachmentEngine) -> None:
    inner = Message(
        source="test",
        subject="Fwd",
        attachments=[Attachment("inner.html", "text/html", b'<a href="https://inner.example/">x</a>')],
    )
    message = Message(
        source="test",
        from_address=Address(address="a@sender.example"),
        attachments=[Attachment("a.zip", "application/zip", make_zip({"b.pdf": make_pdf()}))],
        attached_messages=[inner],
    )
    assessed = assess_attachments(message, engine, AttachmentPolicy(mode="monitor"))
    assert [(u.url, u.source) for u in assessed.found_urls] == [
        ("https://annot0.example/pay", "attachment:a.zip/b.pdf:pdf_annotation"),
        ("https://text0.example/login", "attachment:a.zip/b.pdf:pdf_text"),
        ("https://inner.example/", "attachment:Fwd/inner.html:a_href"),
    ]
    assert assessed.found_urls[2].link_text == "x"
    assert assessed.urls == ["https://annot0.example/pay", "https://text0.example/login", "https://inner.example/"]
