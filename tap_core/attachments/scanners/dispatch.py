"""Which file types each scanner reads: the engine's dispatch table (Strelka style).

The core, not the scanner, decides which files a scanner sees, so a scanner's module and its
library (pypdf, py7zr, oletools, icalendar...) are imported only when a file of one of its types
is met (:class:`~tap_core.attachments.scanners.Deferred`): most mail carries no attachment of
most kinds. Each scanner class reads its ``types`` from here; this module imports nothing.
"""

from __future__ import annotations

#: Scanner name -> the file types (:func:`tap_core.attachments.filetype.identify`) it reads.
SCANNER_TYPES: dict[str, frozenset[str]] = {
    "zip": frozenset({"zip"}),
    "7z": frozenset({"7z"}),
    "rar": frozenset({"rar"}),
    "tar": frozenset({"tar"}),
    "compressed": frozenset({"gz", "bz2", "xz"}),
    "cab": frozenset({"cab"}),
    "iso": frozenset({"iso", "udf"}),
    "unopened": frozenset({"img", "vhd", "vhdx", "zstd"}),
    "office_crypto": frozenset({"office_encrypted", "doc", "xls", "ppt"}),
    "ole": frozenset({"doc", "xls", "ppt", "ole", "msg"}),
    "ooxml": frozenset({"docx", "docm", "xlsx", "xlsm", "xlsb", "pptx", "pptm", "odf"}),
    "vba": frozenset(
        {
            "doc",
            "xls",
            "ppt",
            "ole",
            "docm",
            "xlsm",
            "xlsb",
            "pptm",
            "xlsx",
            "docx",
            "pptx",
            "office_xml",
            "mhtml",
            "slk",
        }
    ),
    "rtf": frozenset({"rtf"}),
    "onenote": frozenset({"one"}),
    "pdf": frozenset({"pdf"}),
    "html": frozenset({"html", "hta", "svg", "mhtml"}),
    "script": frozenset({"js", "vbs", "wsf", "hta", "ps1", "bat"}),
    "lnk": frozenset({"lnk"}),
    "pe": frozenset({"exe", "dll"}),
    "qr": frozenset({"png", "jpeg", "gif", "bmp", "webp", "tiff"}),
    "eml": frozenset({"eml"}),
}

#: Types a scanner may also accept after a closer look (its ``applies``), so the engine loads it
#: for them too: Windows runs a ``.ps1`` that reads as plain text.
ALSO_ASKED: dict[str, frozenset[str]] = {"script": frozenset({"text"})}


def dispatch_types(name: str) -> frozenset[str]:
    """The file types for which the engine loads scanner ``name`` and asks it; empty: every type."""
    return SCANNER_TYPES.get(name, frozenset()) | ALSO_ASKED.get(name, frozenset())
