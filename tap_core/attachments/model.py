"""Data models of Attachment Protect static analysis: limits, thresholds and per-file results."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from tap_core.model.findings import Finding, Verdict


class ScanLimits(BaseModel):
    """Bounds on what one attachment may make the engine do (hostile input is the norm).

    Hitting one never crashes the scan: it adds a named finding (``limit_depth``, ``limit_files``,
    ``limit_total_bytes``, ``limit_file_size``, ``limit_ratio``, ``limit_time``) and the policy
    decides what that means.
    """

    model_config = ConfigDict(extra="forbid")

    #: Nesting depth of extracted children (the attachment itself is depth 0).
    max_depth: int = Field(default=6, ge=0, le=32)
    #: Files scanned for one attachment, itself and every extracted child.
    max_files: int = Field(default=300, ge=1, le=100_000)
    #: Bytes extracted (decompressed, decrypted, decoded) for one attachment in total.
    max_total_bytes: int = Field(default=256 * 1024 * 1024, ge=1)
    #: Largest single file analysed in depth; bigger children are not extracted.
    max_file_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    #: Declared or actual expansion ratio above which a member is treated as a bomb...
    max_ratio: float = Field(default=100.0, gt=1)
    #: ...once it would also expand past this many bytes (small highly compressible files are common).
    ratio_min_bytes: int = Field(default=1024 * 1024, ge=0)
    #: Wall time for one attachment including children, checked between and inside scanners.
    max_seconds: float = Field(default=30.0, gt=0)
    #: Candidate passwords tried per encrypted file.
    max_passwords: int = Field(default=12, ge=0, le=100)
    #: URLs kept per file.
    max_urls: int = Field(default=200, ge=0)
    #: PDF pages whose images are searched for QR codes.
    max_qr_pages: int = Field(default=3, ge=0)
    #: Pixels an image may have to be decoded for QR codes (decompression bombs).
    max_image_pixels: int = Field(default=40_000_000, ge=1)
    #: PDF objects visited.
    max_pdf_objects: int = Field(default=50_000, ge=1)


class AttachmentThresholds(BaseModel):
    """Score thresholds turning a file's summed finding scores into a verdict."""

    model_config = ConfigDict(extra="forbid")

    suspicious: float = 5.0
    malicious: float = 15.0

    def verdict(self, score: float) -> Verdict:
        if score >= self.malicious:
            return Verdict.MALICIOUS
        if score >= self.suspicious:
            return Verdict.SUSPICIOUS
        return Verdict.CLEAN


class FileResult(BaseModel):
    """What static analysis found in one file and, recursively, in the files it contains.

    ``score`` is the file's own findings plus the highest child score; ``verdict`` is the worst of
    the thresholded score, any deciding finding and the children's verdicts.
    """

    name: str
    type: str
    family: str = "unknown"
    detail: str = ""
    size: int = 0
    md5: str = ""
    sha1: str = ""
    sha256: str = ""
    verdict: Verdict = Verdict.CLEAN
    score: float = 0.0
    findings: list[Finding] = Field(default_factory=list)
    children: list[FileResult] = Field(default_factory=list)
    urls: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    #: True when the content was opened with a password or decrypted (changes what a cache may reuse).
    decrypted: bool = False

    @property
    def reasons(self) -> list[str]:
        return [f.name for f in self.findings]

    def walk(self) -> Iterator[FileResult]:
        """This file and every descendant, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    def all_urls(self) -> list[str]:
        """URLs of this file and its descendants, first seen first, without duplicates."""
        return list(dict.fromkeys(url for node in self.walk() for url in node.urls))

    def all_findings(self) -> list[Finding]:
        return [finding for node in self.walk() for finding in node.findings]
