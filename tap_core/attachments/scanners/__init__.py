"""Scanners, one small class per file kind, and the default set in the order they run.

Order matters for YARA, which runs last so it also sees the decoded views (macro source, PDF
JavaScript, command lines) that the other scanners offered through ``ScanContext.add_text``, and
for the URL scanner, which runs after the scanners that place a file's links (its raw strings
scan only adds the URLs they did not find).
"""

from __future__ import annotations

from collections.abc import Sequence

import yara

from tap_core.attachments.antivirus import AntivirusProvider
from tap_core.attachments.hashsets import HashSet
from tap_core.attachments.scanners.antivirus import AntivirusScanner
from tap_core.attachments.scanners.base import Scanner
from tap_core.attachments.scanners.cab import CabScanner, UnopenedContainerScanner
from tap_core.attachments.scanners.compressed import CompressedScanner
from tap_core.attachments.scanners.hashes import HashScanner
from tap_core.attachments.scanners.html import HtmlScanner
from tap_core.attachments.scanners.iso import IsoScanner
from tap_core.attachments.scanners.lnk import LnkScanner
from tap_core.attachments.scanners.mail import EmlScanner
from tap_core.attachments.scanners.office_crypto import OfficeCryptoScanner
from tap_core.attachments.scanners.ole import OleScanner
from tap_core.attachments.scanners.onenote import OneNoteScanner
from tap_core.attachments.scanners.ooxml import OoxmlScanner
from tap_core.attachments.scanners.pdf import PdfScanner
from tap_core.attachments.scanners.pe import PeScanner
from tap_core.attachments.scanners.qr import ImageQrScanner
from tap_core.attachments.scanners.rar import RarScanner
from tap_core.attachments.scanners.rtf import RtfScanner
from tap_core.attachments.scanners.script import ScriptScanner
from tap_core.attachments.scanners.sevenzip import SevenZipScanner
from tap_core.attachments.scanners.tar import TarScanner
from tap_core.attachments.scanners.urls import UrlScanner
from tap_core.attachments.scanners.vba import VbaScanner
from tap_core.attachments.scanners.yarascan import YaraScanner
from tap_core.attachments.scanners.zip import ZipScanner
from tap_core.attachments.yara_rules import packaged_rules

__all__ = ["Scanner", "default_scanners"]


def default_scanners(
    hash_sets: Sequence[HashSet] = (),
    yara_rules: yara.Rules | None = None,
    antivirus: AntivirusProvider | None = None,
) -> list[Scanner]:
    """Every scanner, with the packaged YARA rules unless ``yara_rules`` is given."""
    scanners: list[Scanner] = [HashScanner(hash_sets)]
    if antivirus is not None:
        scanners.append(AntivirusScanner(antivirus))
    scanners += [
        ZipScanner(),
        SevenZipScanner(),
        RarScanner(),
        TarScanner(),
        CompressedScanner(),
        CabScanner(),
        IsoScanner(),
        UnopenedContainerScanner(),
        OfficeCryptoScanner(),
        OleScanner(),
        OoxmlScanner(),
        VbaScanner(),
        RtfScanner(),
        OneNoteScanner(),
        PdfScanner(),
        HtmlScanner(),
        ScriptScanner(),
        LnkScanner(),
        PeScanner(),
        ImageQrScanner(),
        EmlScanner(),
        UrlScanner(),
        YaraScanner(yara_rules if yara_rules is not None else packaged_rules()),
    ]
    return scanners
