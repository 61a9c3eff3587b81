"""An injected antivirus engine (e.g. ClamAV through connectors.clamav)."""

from __future__ import annotations

from tap_core.attachments.antivirus import AntivirusProvider
from tap_core.attachments.context import ScanContext
from tap_core.attachments.scanners.base import Scanner
from tap_core.model.findings import Verdict


class AntivirusScanner(Scanner):
    """Runs on the attachment itself and on decrypted content (the AV cannot open those).

    Antivirus engines unpack archives themselves, so extracted children are not sent again
    unless ``all_depths``.
    """

    name = "antivirus"
    runs_on_oversize = True

    def __init__(self, provider: AntivirusProvider, *, all_depths: bool = False) -> None:
        self.provider = provider
        self.all_depths = all_depths

    def applies(self, ctx: ScanContext) -> bool:
        return self.all_depths or ctx.depth == 0 or ctx.decrypted

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        for signature in self.provider.scan_bytes(data, timeout=max(1.0, ctx.seconds_left())):
            ctx.add(
                "antivirus_detection",
                f"{self.provider.name}: {signature}",
                verdict=Verdict.MALICIOUS,
                engine=self.provider.name,
                signature=signature,
            )
