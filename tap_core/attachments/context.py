"""What a scanner sees while it looks at one file: the budget, the passwords, where findings go.

Scanners never recurse themselves: they hand extracted bytes to :meth:`ScanContext.add_child`
and the engine scans those afterwards, within the limits kept here. They record findings by
rule name; names, scores and reasons are data (``tap_core/data/attachments/scanner_rules.toml``).
They record the URLs they find with where they found them (:meth:`ScanContext.add_url`): the
engine is the one extractor of URLs from attachments.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tap_core.attachments.filetype import FileKind
from tap_core.attachments.model import FileUrl, ScanLimits
from tap_core.detect.rules import Rule, family_rules, rulebook
from tap_core.model.findings import Finding, Verdict

_RULES_FILE = ("attachments", "scanner_rules.toml")


class UnknownRule(LookupError):
    """A scanner named a finding (or a variant) that ``scanner_rules.toml`` does not define."""


def scanner_rules() -> dict[str, Rule]:
    """The findings scanners record by name, with their scores and reasons (limits included)."""
    return family_rules(*_RULES_FILE)


def scanner_rule(name: str, variant: str = "") -> Rule:
    """The rule ``name``; :class:`UnknownRule` when it, or its ``variant``, is undefined."""
    rule = scanner_rules().get(name)
    if rule is None:
        raise UnknownRule(f"no finding {name!r} in tap_core/data/attachments/scanner_rules.toml")
    if variant and not rule.has_variant(variant):
        raise UnknownRule(f"finding {name!r} has no variant {variant!r} in scanner_rules.toml")
    return rule


class ScanTimeout(Exception):
    """The attachment's wall-time budget ran out (raised from inside a scanner)."""


class Unparseable(Exception):
    """The file is not a valid instance of its identified type (becomes ``unparseable_<type>``)."""


@dataclass(slots=True)
class Budget:
    """What is left for one attachment, shared by the whole tree of files."""

    limits: ScanLimits
    deadline: float
    files_left: int
    bytes_left: int

    @classmethod
    def start(cls, limits: ScanLimits) -> Budget:
        return cls(
            limits, time.monotonic() + limits.max_seconds, limits.max_files - 1, limits.max_total_bytes
        )

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def seconds_left(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


@dataclass(slots=True)
class Child:
    name: str
    data: bytes
    decrypted: bool = False


@dataclass
class ScanContext:
    """One file under analysis: scanners read ``name``/``kind`` and write findings, urls, children."""

    name: str
    kind: FileKind
    depth: int
    budget: Budget
    passwords: tuple[str, ...] = ()
    #: True when this file (or an ancestor) was opened with a password or decrypted.
    decrypted: bool = False
    findings: list[Finding] = field(default_factory=list)
    urls: list[FileUrl] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    children: list[Child] = field(default_factory=list)
    #: Decoded views of the content (VBA source, PDF JavaScript, command lines...) for YARA.
    texts: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def limits(self) -> ScanLimits:
        return self.budget.limits

    def add(
        self,
        name: str,
        evidence: str = "",
        *,
        variant: str = "",
        score: float | None = None,
        verdict: Verdict | None = None,
        **fields: Any,
    ) -> None:
        """Record the finding of rule ``name`` (``scanner_rules.toml``), its reason filled from
        ``fields``; ``variant`` picks one of the rule's scores or wordings. ``score`` replaces the
        rule's only for scores computed at run time. An undefined name raises :class:`UnknownRule`."""
        rule = scanner_rule(name, variant)
        self._record(rule.finding(evidence, variant, weight=score, verdict=verdict, **fields))

    def add_external(
        self,
        family: str,
        member: str,
        evidence: str = "",
        *,
        score: float | None = None,
        reason: str = "",
        verdict: Verdict | None = None,
        **fields: Any,
    ) -> None:
        """Record the finding ``<family>_<member>`` of a prefix rule of ``scanner_rules.toml``
        (``yara`` + the YARA rule, ``unparseable`` + the file type), merged like :meth:`add`.
        ``score`` and ``reason`` replace the family's only when outside data gives them (a YARA
        rule's meta); ``fields`` fill the family's wording."""
        rule = scanner_rules().get(family)
        if rule is None or not rule.prefix:
            raise UnknownRule(f"no rule family {family!r} in tap_core/data/attachments/scanner_rules.toml")
        finding = rule.finding(
            evidence, named=f"{family}_{member}", weight=score, reason=reason, verdict=verdict, **fields
        )
        self._record(finding)

    def _record(self, finding: Finding) -> None:
        """A name counts once per file: later evidence is appended, the stronger weight and the
        worst verdict kept (the merged finding is made by the same rule)."""
        for index, found in enumerate(self.findings):
            if found.name != finding.name:
                continue
            evidence, verdict = finding.evidence, finding.verdict
            if evidence and evidence not in found.evidence and len(found.evidence) < 300:
                rule = rulebook()[found.name]
                worst = Verdict.worst([v for v in (found.verdict, verdict) if v is not None])
                self.findings[index] = rule.finding(
                    f"{found.evidence}; {evidence}" if found.evidence else evidence,
                    found.variant,
                    named=found.name if rule.prefix else "",
                    weight=max(found.score, finding.score),
                    reason=found.reason,
                    verdict=worst if (found.verdict or verdict) else None,
                )
            return
        self.findings.append(finding)

    def has(self, name: str) -> bool:
        return any(f.name == name for f in self.findings)

    def add_url(self, url: str, context: str, *, if_new: bool = False, link_text: str | None = None) -> None:
        """Record ``url`` found in this file at ``context`` (``pdf_annotation``, ``a_href``...).

        Each (url, context) pair counts once; ``if_new`` records it only when no other place of
        the file gave the same URL (the raw strings scans, which would otherwise relabel links
        the file's structure placed). ``link_text``: what a reader sees of the link (an anchor's
        text). At most ``max_urls`` distinct URLs per file."""
        url = url.strip()[:4096]
        if not url:
            return
        places = [found.context for found in self.urls if found.url == url]
        if places and (if_new or context in places):
            return
        if places or self.urls_left():
            self.urls.append(FileUrl(url=url, context=context, link_text=link_text))

    def urls_left(self) -> int:
        """How many more distinct URLs this file may record."""
        return max(0, self.limits.max_urls - len({found.url for found in self.urls}))

    def add_text(self, label: str, text: str | bytes) -> None:
        """Offer a decoded view of the content to the pattern scanners (bounded)."""
        raw = text.encode("utf-8", "replace") if isinstance(text, str) else text
        if raw and len(self.texts) < 64:
            self.texts.append((label, raw[: 4 * 1024 * 1024]))

    def limit(self, name: str, evidence: str = "", *, variant: str = "", **fields: Any) -> None:
        """Record a limit hit, a ``limit_*`` rule (once per limit per file)."""
        if not self.has(name):
            self.add(name, evidence, variant=variant, **fields)

    def check_time(self) -> None:
        """Raise :class:`ScanTimeout` once the wall-time budget is spent."""
        if self.budget.expired():
            raise ScanTimeout

    def seconds_left(self) -> float:
        return self.budget.seconds_left()

    @property
    def extract_cap(self) -> int:
        """The most bytes one extracted member may have (per-file and total budgets)."""
        return max(0, min(self.limits.max_file_bytes, self.budget.bytes_left))

    def can_extract(self, member: str, size: int | None = None, packed: int | None = None) -> bool:
        """Whether ``member`` (declared ``size``, ``packed`` bytes in the container) may be extracted.

        Checked before decompressing, so a bomb is refused from its header; scanners still read
        through :func:`read_capped` because headers lie.
        """
        limits = self.limits
        if self.depth + 1 > limits.max_depth:
            self.limit("limit_depth", member, limit=limits.max_depth)
            return False
        if self.budget.files_left <= 0:
            self.limit("limit_files", member, limit=limits.max_files)
            return False
        if size is not None and packed is not None and packed > 0 and size >= limits.ratio_min_bytes:
            if size / packed > limits.max_ratio:
                self.limit("limit_ratio", f"{member}: {packed} -> {size} bytes", ratio=size // packed)
                return False
        if size is not None and size > limits.max_file_bytes:
            self.limit("limit_file_size", f"{member}: {size} bytes", limit=limits.max_file_bytes)
            return False
        if size is not None and size > self.budget.bytes_left:
            self.limit("limit_total_bytes", member, limit=limits.max_total_bytes)
            return False
        return True

    def add_child(
        self, member: str, data: bytes, *, decrypted: bool = False, packed: int | None = None
    ) -> bool:
        """Queue extracted bytes for scanning; False (with a limit finding) when over budget."""
        if not self.can_extract(member, len(data), packed):
            return False
        self.budget.files_left -= 1
        self.budget.bytes_left -= len(data)
        self.children.append(Child(member, data, decrypted or self.decrypted))
        return True


def read_capped(
    stream: object, cap: int, ctx: ScanContext, member: str, packed: int | None = None
) -> bytes | None:
    """Read at most ``cap`` bytes from a file-like ``stream`` in chunks, checking time and ratio.

    Returns None (with the limit finding) when the member is bigger than the cap or its real
    expansion ratio makes it a bomb.
    """
    read = stream.read  # type: ignore[attr-defined]
    chunks: list[bytes] = []
    total = 0
    while True:
        ctx.check_time()
        chunk = read(min(1024 * 1024, cap + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        limits = ctx.limits
        if packed and total >= limits.ratio_min_bytes and total / packed > limits.max_ratio:
            ctx.limit(
                "limit_ratio",
                f"{member}: {packed} -> >{total} bytes",
                variant="over",
                ratio=int(limits.max_ratio),
            )
            return None
        if total > cap:
            if cap >= ctx.limits.max_file_bytes:
                ctx.limit("limit_file_size", member, variant="left", cap=cap)
            else:
                ctx.limit("limit_total_bytes", member, variant="left", cap=cap)
            return None
