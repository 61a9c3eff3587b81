"""Scanners, one small class per file kind, and the default set in the order they run.

Order matters for YARA, which runs last so it also sees the decoded views (macro source, PDF
JavaScript, command lines) that the other scanners offered through ``ScanContext.add_text``, and
for the URL scanner, which runs after the scanners that place a file's links (its raw strings
scan only adds the URLs they did not find).

Dispatch is the core's (:mod:`~tap_core.attachments.scanners.dispatch`): a default scanner is a
:class:`Deferred` that imports its module, and the library behind it, on the first file of one
of its types; a scan of mail without such attachments never loads pypdf, py7zr or oletools.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tap_core.attachments.context import ScanContext
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.dispatch import dispatch_types

if TYPE_CHECKING:
    import yara

    from tap_core.attachments.antivirus import AntivirusProvider
    from tap_core.attachments.hashsets import HashSet

__all__ = ["Deferred", "Scanner", "default_scanners"]

#: The scanners every file may meet, in the order they run: (name, module, class).
_DEFERRED = (
    ("zip", "zip", "ZipScanner"),
    ("7z", "sevenzip", "SevenZipScanner"),
    ("rar", "rar", "RarScanner"),
    ("tar", "tar", "TarScanner"),
    ("compressed", "compressed", "CompressedScanner"),
    ("cab", "cab", "CabScanner"),
    ("iso", "iso", "IsoScanner"),
    ("unopened", "cab", "UnopenedContainerScanner"),
    ("office_crypto", "office_crypto", "OfficeCryptoScanner"),
    ("ole", "ole", "OleScanner"),
    ("ooxml", "ooxml", "OoxmlScanner"),
    ("vba", "vba", "VbaScanner"),
    ("rtf", "rtf", "RtfScanner"),
    ("onenote", "onenote", "OneNoteScanner"),
    ("pdf", "pdf", "PdfScanner"),
    ("html", "html", "HtmlScanner"),
    ("script", "script", "ScriptScanner"),
    ("lnk", "lnk", "LnkScanner"),
    ("pe", "pe", "PeScanner"),
    ("qr", "qr", "ImageQrScanner"),
    ("eml", "mail", "EmlScanner"),
    ("urls", "urls", "UrlScanner"),
)


class Deferred(Scanner):
    """A scanner loaded on the first file of its types: the engine asks it nothing, and imports
    nothing, for any other file. Loading twice under a race builds two equal scanners (they
    hold no state), so no lock is needed."""

    def __init__(self, name: str, module: str, cls: str) -> None:
        self.name = name
        #: Types it is loaded and asked for (empty: every type); its own ``applies`` then decides.
        self.types = dispatch_types(name)
        self._where = (f"{__name__}.{module}", cls)
        self._scanner: Scanner | None = None

    @property
    def loaded(self) -> bool:
        return self._scanner is not None

    def scanner(self) -> Scanner:
        if self._scanner is None:
            module, cls = self._where
            self._scanner = getattr(importlib.import_module(module), cls)()
        return self._scanner

    def applies(self, ctx: ScanContext) -> bool:
        return super().applies(ctx) and self.scanner().applies(ctx)

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        self.scanner().scan(data, ctx)


def default_scanners(
    hash_sets: Sequence[HashSet] = (),
    yara_rules: yara.Rules | None = None,
    antivirus: AntivirusProvider | None = None,
) -> list[Scanner]:
    """Every scanner, with the packaged YARA rules unless ``yara_rules`` is given."""
    from tap_core.attachments.scanners.antivirus import AntivirusScanner
    from tap_core.attachments.scanners.hashes import HashScanner
    from tap_core.attachments.scanners.yarascan import YaraScanner
    from tap_core.attachments.yara_rules import packaged_rules

    scanners: list[Scanner] = [HashScanner(hash_sets)]
    if antivirus is not None:
        scanners.append(AntivirusScanner(antivirus))
    scanners += [Deferred(name, module, cls) for name, module, cls in _DEFERRED]
    scanners.append(YaraScanner(yara_rules if yara_rules is not None else packaged_rules()))
    return scanners
