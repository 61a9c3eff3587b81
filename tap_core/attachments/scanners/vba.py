"""VBA and Excel 4 (XLM) macros through olevba: presence, auto-execution, suspicious keywords, IOCs."""

from __future__ import annotations

import logging
import re
import warnings

with warnings.catch_warnings():
    # olevba builds its parsers at import with pyparsing names deprecated upstream: not our concern.
    warnings.simplefilter("ignore", DeprecationWarning)
    from oletools import olevba

from tap_core.attachments.context import ScanContext, scanner_rules
from tap_core.attachments.scanners._urls import add_reference
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import SCANNER_TYPES

# olevba logs hostile-input problems at error level; the engine reports them itself.
logging.getLogger("olevba").setLevel(logging.CRITICAL)

_OPEN_CLOSE = re.compile(r"open|close|activate|auto_?exec|autonew|_layout|_resize|_change", re.I)
_ENCRYPTION_FINDINGS = frozenset({"office_default_password", "decrypted_with_password", "encrypted_document"})
_URL = re.compile(r"^(https?|ftp)://", re.I)


class VbaScanner(Scanner):
    name = "vba"
    types = SCANNER_TYPES[name]

    def applies(self, ctx: ScanContext) -> bool:
        # An encrypted document is analysed through its decrypted child (olevba would decrypt too).
        return super().applies(ctx) and not any(f.name in _ENCRYPTION_FINDINGS for f in ctx.findings)

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        parser = olevba.VBA_Parser(ctx.name or "file", data=data)
        try:
            if parser.type == olevba.TYPE_TEXT:
                return  # olevba's fallback reads any text as VBA source: not a document with macros
            has_vba = parser.detect_vba_macros()
            has_xlm = parser.detect_xlm_macros()
            if not (has_vba or has_xlm):
                return
            modules = 0
            for _filename, stream, _vba_name, code in parser.extract_all_macros():
                ctx.check_time()
                modules += 1
                text = code if isinstance(code, str) else bytes(code).decode("latin-1")
                ctx.add_text(f"macro {stream}", text)
            if has_vba:
                ctx.add("vba_macros", f"{modules} modules")
            if has_xlm:
                ctx.add("xlm_macros", "xlm")
            self._analysis(parser.analyze_macros() or [], ctx)
        finally:
            parser.close()

    @staticmethod
    def _analysis(results: list[tuple[str, str, str]], ctx: ScanContext) -> None:
        auto_strong = sorted({kw for kind, kw, _ in results if kind == "AutoExec" and _OPEN_CLOSE.search(kw)})
        auto_event = sorted({kw for kind, kw, _ in results if kind == "AutoExec"} - set(auto_strong))
        suspicious = sorted({kw for kind, kw, _ in results if kind == "Suspicious"})
        iocs = sorted({kw for kind, kw, _ in results if kind == "IOC"})
        if auto_strong:
            ctx.add("vba_autoexec", ", ".join(auto_strong[:5]))
        elif auto_event:
            ctx.add("vba_event_macro", ", ".join(auto_event[:5]))
        if suspicious:
            # Computed: the rule's score per keyword found, capped at 6.0.
            per_keyword = scanner_rules()["vba_suspicious"].weight
            ctx.add(
                "vba_suspicious", ", ".join(suspicious[:8]), score=min(6.0, per_keyword * len(suspicious))
            )
        if iocs:
            ctx.add("vba_iocs", ", ".join(iocs[:5]))
            for ioc in iocs:
                if _URL.match(ioc):
                    add_reference(ctx, ioc, "vba_ioc")
