"""Data models of Attachment Protect static analysis: limits, thresholds and per-file results."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from tap_core.detect.scoring import Thresholds
from tap_core.model.findings import Finding, Verdict

#: Scores at which a file becomes SUSPICIOUS / MALICIOUS unless the policy says otherwise.
FILE_THRESHOLDS = Thresholds(suspicious=5.0, malicious=15.0)


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
    #: Characters of one text (a file's text, a PDF page, a document part) searched for URLs.
    max_text_chars: int = Field(default=2_000_000, ge=0)
    #: PDF pages whose links and text are read for URLs.
    max_pdf_pages: int = Field(default=50, ge=0)
    #: PDF pages whose images are searched for QR codes.
    max_qr_pages: int = Field(default=3, ge=0)
    #: Pixels an image may have to be decoded for QR codes (decompression bombs).
    max_image_pixels: int = Field(default=40_000_000, ge=1)
    #: PDF objects visited.
    max_pdf_objects: int = Field(default=50_000, ge=1)


class FileUrl(BaseModel):
    """A URL found in a file and where in it: ``context`` names the place as URL Protect reports it
    (``pdf_annotation``, ``ooxml_hyperlink``, ``a_href``, ``ics``, ``attachment_strings``...;
    ``_defanged`` appended when it was written defanged)."""

    model_config = ConfigDict(frozen=True)

    url: str
    context: str
    #: The visible text of the link, when the file shows one (an HTML anchor's text).
    link_text: str | None = None


class FileResult(BaseModel):
    """What static analysis found in one file and, recursively, in the files it contains.

    ``score`` is the file's own findings (scored by :func:`tap_core.detect.scoring.score`) plus the
    highest child score; ``verdict`` is the worst of the thresholded score, any deciding finding and
    the children's verdicts.
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
    #: URLs found in this file (not its children), first seen first, with where they were found.
    urls: list[FileUrl] = Field(default_factory=list)
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
        return list(dict.fromkeys(found.url for node in self.walk() for found in node.urls))

    def url_sources(self) -> Iterator[tuple[str, FileUrl]]:
        """(path-qualified file name, URL) for every URL of the tree, depth first: a member's name
        follows its container's (``a.zip/docs/b.pdf``)."""
        yield from self._url_sources("")

    def _url_sources(self, parent: str) -> Iterator[tuple[str, FileUrl]]:
        path = f"{parent}/{self.name}" if parent else self.name
        for found in self.urls:
            yield path, found
        for child in self.children:
            yield from child._url_sources(path)

    def all_findings(self) -> list[Finding]:
        return [finding for node in self.walk() for finding in node.findings]
