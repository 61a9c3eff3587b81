from __future__ import annotations

import gzip
import io
import tarfile

import pytest

from tap_core.attachments.filetype import identify, name_findings
from tests.attachments.builders import FIXTURES, WORD_XML, make_7z, make_lnk, make_ooxml, make_zip, minimal_pe


def _tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("a.txt")
        info.size = 5
        archive.addfile(info, io.BytesIO(b"hello"))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (minimal_pe(), "exe"),
        (minimal_pe(dll=True), "dll"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 60, "elf"),
        (b"\xcf\xfa\xed\xfe" + b"\0" * 60, "macho"),
        (b"%PDF-1.7\n%\xe2\xe3\n1 0 obj", "pdf"),
        (b"{\\rtf1\\ansi hello}", "rtf"),
        (make_lnk("cmd.exe", "/c echo"), "lnk"),
        (make_zip({"a.txt": b"hi"}), "zip"),
        (make_zip({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0", "A.class": b"\xca\xfe"}), "jar"),
        (make_ooxml(WORD_XML.format(body="hi", fields="")), "docx"),
        (make_ooxml(WORD_XML.format(body="hi", fields=""), extra={"word/vbaProject.bin": b"x"}), "docm"),
        (make_7z({"a.txt": b"hi"}), "7z"),
        (gzip.compress(b"hello"), "gz"),
        (_tar(), "tar"),
        (b"Rar!\x1a\x07\x01\x00" + b"\0" * 20, "rar"),
        (b"MSCF\0\0\0\0" + b"\0" * 40, "cab"),
        (b"\0" * 0x8001 + b"CD001" + b"\0" * 100, "iso"),
        (bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3") + b"\0" * 64, "one"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 20, "png"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "html"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "svg"),
        (b'<html><head><HTA:APPLICATION ID="x"></head></html>', "hta"),
        (b'<?xml version="1.0"?><note><to>x</to></note>', "xml"),
        (b'<package><job id="a"><script language="JScript">WScript.Echo(1)</script></job></package>', "wsf"),
        (b"@echo off\r\nset /a x=1\r\ngoto :end\r\n:end\r\n", "bat"),
        (b"$wc = New-Object System.Net.WebClient\n$env:TEMP\nInvoke-Expression $x\n", "ps1"),
        (b'Dim s\nSet s = CreateObject("WScript.Shell")\nOn Error Resume Next\n', "vbs"),
        (b'var sh = new ActiveXObject("WScript.Shell");\nfunction f(a) { return a; }\n', "js"),
        (b"Dear customer, please find the invoice attached.\n", "text"),
        (b"[InternetShortcut]\r\nURL=http://example.test/\r\n", "url_shortcut"),
        (b"", "empty"),
    ],
)
def test_identify_by_content(data: bytes, expected: str) -> None:
    assert identify(data).type == expected


def test_identify_fixture_office_files() -> None:
    assert identify((FIXTURES / "oleform-PR314.docm").read_bytes()).type == "docm"
    assert (
        identify((FIXTURES / "autostart-encrypt-standardpassword.xlsm").read_bytes()).type
        == "office_encrypted"
    )
    assert identify((FIXTURES / "excel4_sample_macro.slk").read_bytes()).type == "slk"


def _names(name: str, data: bytes) -> dict[str, str]:
    return {f.name: f.evidence for f in name_findings(name, identify(data))}


def test_executable_named_pdf_is_a_mismatch_and_dangerous() -> None:
    found = _names("invoice.pdf", minimal_pe())
    assert "extension_mismatch" in found
    assert "dangerous_type" in found


def test_double_extension_and_rtlo() -> None:
    assert "double_extension" in _names("invoice.pdf.exe", minimal_pe())
    assert "double_extension" in _names("scan.pdf        .js", b"var a = 1;")
    assert "rtlo_filename" in _names("invoice\u202efdp.exe", minimal_pe())


def test_dangerous_extension_when_content_is_plain() -> None:
    found = _names("readme.js", b"Dear customer, please find the invoice attached.\n")
    assert "dangerous_extension" in found
    assert "dangerous_type" not in found


def test_plain_document_raises_nothing() -> None:
    assert _names("report.pdf", b"%PDF-1.4\n") == {}
    assert _names("notes.txt", b"hello there\n") == {}


def test_name_findings_are_rules_of_the_file_table() -> None:
    from tap_core.attachments.filetype import file_rules, is_dangerous_type

    found = {f.name: f for f in name_findings("invoice.pdf", identify(minimal_pe()))}
    assert (found["dangerous_type"].score, found["dangerous_type"].reason) == (6.0, "Content is a Windows executable")
    assert (found["extension_mismatch"].score, found["extension_mismatch"].variant) == (8.0, "runnable")
    assert {f.group for f in found.values()} == {"file_name"}
    plain = {f.name: f for f in name_findings("readme.lnk", identify(b"hello there\n"))}
    assert (plain["dangerous_extension"].score, plain["dangerous_extension"].reason) == (
        5.0,
        "Windows runs .lnk files (shortcut)",
    )
    spaces = {f.name: f for f in name_findings("scan        .js", identify(b"var a = 1;"))}
    assert spaces["double_extension"].reason == file_rules()["double_extension"].reasons["spaces"]
    assert is_dangerous_type("hta") and not is_dangerous_type("pdf")
