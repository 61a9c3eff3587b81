"""The optional antivirus provider interface (ClamAV and the like), injected into the engine.

tap_core does no I/O: an implementation that talks to clamd or runs clamscan lives in
``connectors/clamav.py`` and is handed to :class:`~tap_core.attachments.scanners.antivirus.AntivirusScanner`.
"""

from __future__ import annotations

from typing import Protocol


class AntivirusError(Exception):
    """The provider could not give an answer (not a detection)."""


class AntivirusProvider(Protocol):
    """Scans bytes; returns the names of the signatures that matched (empty when clean)."""

    name: str

    def scan_bytes(self, data: bytes, timeout: float) -> list[str]: ...
