"""``tap365 scan`` loads only what the scan uses: without feeds, not the intelligence loader and
the blob storage SDK it brings (a third of a short scan's start); without an attachment of a
kind, not the scanner of that kind and its library (the engine dispatches, then imports). Run in
a fresh interpreter; the start's time is measured by bench/pipeline_vs_spamassassin.py, never
asserted here."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from pypdf import PdfWriter
from pypdf.generic import DictionaryObject, NameObject, TextStringObject

ROOT = Path(__file__).resolve().parent.parent
MAIL = ROOT / "tests" / "fixtures" / "mail" / "02-paypal-lookalike-phish.eml"
PLAIN_TEXT_MAIL = ROOT / "tests" / "fixtures" / "mail" / "03-ip-literal-credential.eml"
#: Needed by the service and by ``--intel``, not by a scan of mail alone.
NOT_FOR_A_SCAN = ("connectors.intel_feeds", "connectors.storage.intel", "azure.storage.blob")
#: The libraries of the attachment scanners: loaded only when a file of their kind is met (not
#: olefile: file identification reads OLE directories with it, and it costs a millisecond).
SCANNER_LIBRARIES = ("pypdf", "py7zr", "oletools", "icalendar", "rarfile", "pyzipper", "pycdlib", "LnkParse3",
                     "pefile", "msoffcrypto", "zxingcpp")


def _scan(mail: Path, state: Path) -> tuple[dict[str, Any], list[str]]:
    """``tap365 scan --json`` of one mail in a fresh interpreter: its record and the modules it
    loaded."""
    probe = (
        "import contextlib, io, json, sys\n"
        "from connectors.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    code = main(['scan', {str(mail)!r}, '--json', '--no-progress'])\n"
        "print(json.dumps({'code': code, 'record': json.loads(out.getvalue().splitlines()[0]),"
        " 'modules': sorted(sys.modules)}))\n"
    )
    env = {**os.environ, "TAP365_STATE_DIR": str(state), "TAP365_INTEL_FEEDS": ""}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.splitlines()[-1])
    assert answer["code"] == 0 and answer["record"]["error"] is None
    return answer["record"], answer["modules"]


def _top_level(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return sorted({m.split(".")[0] for m in modules} & set(names))


def test_a_scan_without_feeds_does_not_load_the_intelligence_loader(tmp_path: Path) -> None:
    record, modules = _scan(MAIL, tmp_path)
    assert record["verdict"] in ("suspicious", "malicious")
    loaded = [m for m in modules if m in NOT_FOR_A_SCAN]
    assert loaded == []


def test_a_plain_text_mail_loads_no_scanner_library(tmp_path: Path) -> None:
    record, modules = _scan(PLAIN_TEXT_MAIL, tmp_path)
    assert record["verdict"] in ("suspicious", "malicious") and record["attachments"] == []
    assert _top_level(modules, SCANNER_LIBRARIES) == []
    assert "yaml" not in modules  # read for a policy document or an attachment's file type only


def test_a_mail_with_a_pdf_loads_the_pdf_scanner_and_only_it(tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(612, 792)
    action = DictionaryObject({NameObject("/S"): NameObject("/JavaScript"),
                               NameObject("/JS"): TextStringObject("app.alert('hello');")})
    writer._root_object[NameObject("/OpenAction")] = writer._add_object(action)  # the PDF scanner's finding
    pdf = io.BytesIO()
    writer.write(pdf)
    message = EmailMessage()
    message["From"] = "Billing <billing@example.net>"
    message["To"] = "someone@example.com"
    message["Subject"] = "Your invoice"
    message["Date"] = "Mon, 07 Dec 2026 10:00:00 +0000"
    message["Message-ID"] = "<invoice-1@example.net>"
    message.set_content("The invoice is attached.")
    message.add_attachment(pdf.getvalue(), maintype="application", subtype="pdf", filename="invoice.pdf")
    mail = tmp_path / "invoice.eml"
    mail.write_bytes(message.as_bytes())
    record, modules = _scan(mail, tmp_path / "state")
    (attachment,) = record["attachments"]
    assert attachment["type"] == "pdf"
    assert "pdf_javascript" in attachment["reasons"], attachment
    # The PDF scanner's libraries: pypdf, and zxing-cpp for the QR codes of its pages' images.
    assert _top_level(modules, SCANNER_LIBRARIES) == ["pypdf", "zxingcpp"]
