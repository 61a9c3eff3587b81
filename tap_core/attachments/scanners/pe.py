"""Windows executables (pefile): signature, packing, telling imports. Informational: the sandbox decides."""

from __future__ import annotations

import pefile

from tap_core.attachments.context import ScanContext, Unparseable
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import SCANNER_TYPES

_INJECTION = {
    "virtualallocex",
    "writeprocessmemory",
    "createremotethread",
    "ntunmapviewofsection",
    "queueuserapc",
    "setthreadcontext",
}
_DOWNLOAD = {
    "urldownloadtofilea",
    "urldownloadtofilew",
    "internetopenurla",
    "internetopenurlw",
    "winhttpopen",
    "internetreadfile",
}
_PACKER_SECTIONS = {b"upx0", b"upx1", b".aspack", b".mpress1", b".themida", b".vmp0", b".petite", b"nsp0"}


class PeScanner(Scanner):
    name = "pe"
    types = SCANNER_TYPES[name]

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        try:
            pe = pefile.PE(data=data, fast_load=True)
        except pefile.PEFormatError as exc:
            raise Unparseable(str(exc)) from exc
        try:
            security = pe.OPTIONAL_HEADER.DATA_DIRECTORY[
                pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]
            ]
            if not security.VirtualAddress or not security.Size:
                ctx.add("pe_unsigned", ctx.kind.detail)
            packed = [
                s.Name.rstrip(b"\x00").decode("latin-1")
                for s in pe.sections
                if s.Name.rstrip(b"\x00").lower() in _PACKER_SECTIONS
                or (s.get_entropy() > 7.2 and s.SizeOfRawData > 4096)
            ]
            if packed:
                ctx.add("pe_packed", ", ".join(packed[:5]))
            ctx.check_time()
            pe.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"]])
            imports = {
                imp.name.decode("latin-1").lower()
                for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])
                for imp in entry.imports
                if imp.name
            }
            telling = sorted((imports & _INJECTION) if len(imports & _INJECTION) >= 2 else set())
            telling += sorted(imports & _DOWNLOAD)
            if telling:
                ctx.add("pe_suspicious_imports", ", ".join(telling[:6]))
        finally:
            pe.close()
