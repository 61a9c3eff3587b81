"""Known-malware hash sets parsed from bytes (the connectors fetch and read the files).

Two formats: plain lists (one md5, sha1 or sha256 per line, optionally followed by a name, ``#``
comments) and MalwareBazaar CSV exports (``# `` comment lines, then quoted CSV rows
``first_seen_utc,sha256_hash,md5_hash,sha1_hash,reporter,file_name,file_type_guess,mime_type,
signature,...``). The format is detected from the content.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_HEX = re.compile(r"[0-9a-f]+")
_LENGTHS = {32: "md5", 40: "sha1", 64: "sha256"}
_BAZAAR_COLUMNS = ("sha256_hash", "md5_hash", "sha1_hash")


@dataclass
class HashSet:
    """Hashes of known malware, with the family/signature when the source names one."""

    source: str = ""
    #: hash (lowercase hex) -> signature or "" when unnamed.
    entries: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, digest: str, signature: str = "") -> bool:
        digest = digest.strip().lower()
        if len(digest) not in _LENGTHS or not _HEX.fullmatch(digest):
            return False
        self.entries[digest] = signature.strip() or self.entries.get(digest, "")
        return True

    def lookup(self, *digests: str) -> tuple[str, str] | None:
        """(matching hash, signature) for the first of ``digests`` in the set."""
        for digest in digests:
            signature = self.entries.get(digest.lower())
            if signature is not None:
                return digest.lower(), signature
        return None

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "") -> HashSet:
        """Parse a plain list or a MalwareBazaar CSV (auto-detected). Bad lines are skipped."""
        text = data.decode("utf-8", "replace")
        if _looks_like_bazaar(text):
            return cls.from_malwarebazaar_csv(text, source)
        hashes = cls(source=source)
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            digest, _, rest = line.replace(",", " ").replace(";", " ").partition(" ")
            hashes.add(digest.strip('"'), rest.strip().strip('"'))
        return hashes

    @classmethod
    def from_malwarebazaar_csv(cls, text: str, source: str = "") -> HashSet:
        hashes = cls(source=source)
        header: list[str] | None = None
        rows: list[str] = []
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("#"):
                # The column names come as a comment line in MalwareBazaar exports.
                candidate = [c.strip().strip('"') for c in stripped.lstrip("# ").split(",")]
                if "sha256_hash" in candidate:
                    header = candidate
                continue
            if stripped:
                rows.append(line)
        for row in csv.reader(io.StringIO("\n".join(rows)), skipinitialspace=True):
            if header is None:
                if "sha256_hash" in row:
                    header = [c.strip() for c in row]
                    continue
                header = [
                    "first_seen_utc",
                    "sha256_hash",
                    "md5_hash",
                    "sha1_hash",
                    "reporter",
                    "file_name",
                    "file_type_guess",
                    "mime_type",
                    "signature",
                ]
            record = dict(zip(header, (c.strip() for c in row), strict=False))
            signature = record.get("signature", "")
            signature = "" if signature in ("n/a", "") else signature
            for column in _BAZAAR_COLUMNS:
                hashes.add(record.get(column, ""), signature)
        return hashes

    @classmethod
    def merged(cls, sets: Iterable[HashSet], source: str = "merged") -> HashSet:
        merged = cls(source=source)
        for one in sets:
            for digest, signature in one.entries.items():
                merged.add(digest, signature)
        return merged


def _looks_like_bazaar(text: str) -> bool:
    head = text[:4096].lower()
    return "sha256_hash" in head or "first_seen_utc" in head
