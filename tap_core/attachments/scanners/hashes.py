"""Known-malware hashes: a hit decides the verdict (MALICIOUS)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from tap_core.attachments.context import ScanContext
from tap_core.attachments.hashsets import HashSet
from tap_core.attachments.scanners.base import Scanner
from tap_core.model.findings import Verdict


class HashScanner(Scanner):
    name = "hashes"
    runs_on_oversize = True

    def __init__(self, hash_sets: Sequence[HashSet]) -> None:
        self.hash_sets = tuple(hash_sets)

    def applies(self, ctx: ScanContext) -> bool:
        return any(len(h) for h in self.hash_sets)

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        digests = (
            hashlib.sha256(data).hexdigest(),
            hashlib.sha1(data, usedforsecurity=False).hexdigest(),
            hashlib.md5(data, usedforsecurity=False).hexdigest(),
        )
        for hash_set in self.hash_sets:
            hit = hash_set.lookup(*digests)
            if hit is not None:
                digest, signature = hit
                label = f" ({signature})" if signature else ""
                ctx.add(
                    "known_malware_hash",
                    f"{digest} {hash_set.source}".strip(),
                    verdict=Verdict.MALICIOUS,
                    source=hash_set.source or "a feed",
                    label=label,
                )
                return
