"""The static analysis engine: identification, scanners, recursion, limits, verdicts and a cache.

The engine owns everything the scanners must not decide alone: the recursion into extracted
children, the limits (depth, file count, bytes, per-file size, expansion ratio, wall time), the
capture of scanner exceptions (``scanner_error``, ``unparseable_<type>``) and the verdict
(:func:`tap_core.detect.scoring.score` over each file's findings, its worst child's score added).
It is also the one extractor of URLs from attachments: every scanner records the URLs it finds
with where it found them (:attr:`FileResult.urls`, :meth:`FileResult.url_sources`).

Caching: results are kept in an in-memory LRU keyed by the attachment's sha256 (plus the
candidate passwords when the result depended on them, i.e. something in the tree was encrypted).
The same invoice sent to 500 mailboxes is analysed once per process. Name-dependent findings
(the rules of the name-dependent groups: extension checks) are recomputed for every name.
Results cut short by the time limit are not cached, and :meth:`AttachmentEngine.clear_cache`
must be called when hash sets or rules change (or build a new engine).
"""

from __future__ import annotations

import hashlib
import threading
import traceback
from collections import OrderedDict
from collections.abc import Sequence

import yara

from tap_core.attachments.antivirus import AntivirusProvider
from tap_core.attachments.context import Budget, Child, ScanContext, ScanTimeout, Unparseable, scanner_rules
from tap_core.attachments.filetype import FileKind, identify, name_findings
from tap_core.attachments.hashsets import HashSet
from tap_core.attachments.model import FILE_THRESHOLDS, FileResult, ScanLimits
from tap_core.attachments.scanners.base import Scanner
from tap_core.detect.groups import group_names
from tap_core.detect.scoring import Thresholds, score, verdict_for
from tap_core.model.findings import Verdict

#: Findings that mean the result depended on the candidate passwords.
PASSWORD_FINDINGS = frozenset({"encrypted_archive", "encrypted_document", "decrypted_with_password"})
_CONTAINER_FAMILIES = frozenset({"archive", "disk_image"})
_RUNNABLE_FAMILIES = frozenset({"executable", "script", "shortcut"})


class AttachmentEngine:
    """Scans attachments statically. Thread-safe; reuse one engine (rules compile once)."""

    def __init__(
        self,
        limits: ScanLimits | None = None,
        scanners: Sequence[Scanner] | None = None,
        thresholds: Thresholds | None = None,
        cache_size: int = 1024,
        *,
        hash_sets: Sequence[HashSet] = (),
        yara_rules: yara.Rules | None = None,
        antivirus: AntivirusProvider | None = None,
    ) -> None:
        """``scanners`` replaces the default set; otherwise it is built with ``hash_sets``,
        ``yara_rules`` (default: the packaged rules) and the optional ``antivirus`` provider."""
        if scanners is None:
            from tap_core.attachments.scanners import default_scanners

            scanners = default_scanners(hash_sets=hash_sets, yara_rules=yara_rules, antivirus=antivirus)
        self.limits = limits or ScanLimits()
        self.thresholds = thresholds or FILE_THRESHOLDS
        self.scanners: tuple[Scanner, ...] = tuple(scanners)
        self._cache: OrderedDict[tuple[str, tuple[str, ...] | None], FileResult] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    # --- public ------------------------------------------------------------------------------

    def scan(self, name: str, data: bytes, *, passwords: Sequence[str] = ()) -> FileResult:
        """Analyse one attachment (and what it contains). Never raises on hostile input."""
        pw = tuple(dict.fromkeys(p for p in passwords if p))[: self.limits.max_passwords]
        sha256 = hashlib.sha256(data).hexdigest()
        cached = self._cache_get(sha256, pw)
        if cached is not None:
            return self._rename(cached, name)
        budget = Budget.start(self.limits)
        result = self._scan_node(name, data, 0, budget, pw, decrypted=False)
        self._cache_put(sha256, pw, result)
        return result

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    # --- recursion -------------------------------------------------------------------------------

    def _scan_node(
        self, name: str, data: bytes, depth: int, budget: Budget, passwords: tuple[str, ...], decrypted: bool
    ) -> FileResult:
        kind = identify(data)
        ctx = ScanContext(
            name=name, kind=kind, depth=depth, budget=budget, passwords=passwords, decrypted=decrypted
        )
        oversize = len(data) > self.limits.max_file_bytes
        if oversize:
            ctx.limit(
                "limit_file_size", f"{len(data)} bytes", variant="oversize", limit=self.limits.max_file_bytes
            )
        self._run_scanners(data, ctx, oversize)
        children: list[FileResult] = []
        for child in ctx.children:
            if budget.expired():
                ctx.limit("limit_time", child.name, seconds=self.limits.max_seconds)
                break
            children.append(self._scan_child(child, depth + 1, budget, passwords))
        ctx.children.clear()  # drop the extracted bytes early
        _container_findings(ctx, kind, children)
        result = FileResult(
            name=name,
            type=kind.type,
            family=kind.family,
            detail=kind.detail,
            size=len(data),
            md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
            sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest(),
            sha256=hashlib.sha256(data).hexdigest(),
            findings=[*name_findings(name, kind), *ctx.findings],
            children=children,
            urls=ctx.urls,
            errors=ctx.errors,
            decrypted=decrypted,
        )
        return self._decide(result)

    def _scan_child(self, child: Child, depth: int, budget: Budget, passwords: tuple[str, ...]) -> FileResult:
        return self._scan_node(child.name, child.data, depth, budget, passwords, child.decrypted)

    def _run_scanners(self, data: bytes, ctx: ScanContext, oversize: bool) -> None:
        for scanner in self.scanners:
            if ctx.budget.expired():
                ctx.limit("limit_time", scanner.name, seconds=self.limits.max_seconds)
                return
            if oversize and not scanner.runs_on_oversize:
                continue
            try:
                if not scanner.applies(ctx):
                    continue
                scanner.scan(data, ctx)
            except ScanTimeout:
                ctx.limit("limit_time", scanner.name, seconds=self.limits.max_seconds)
                return
            except Unparseable as exc:
                # One name per file type: unparseable_<type>.
                ctx.add_external("unparseable", ctx.kind.type, f"{scanner.name}: {exc}", type=ctx.kind.type)
            except Exception as exc:  # a scanner bug or a hostile file: record it, go on
                ctx.add("scanner_error", f"{scanner.name}: {type(exc).__name__}", scanner=scanner.name)
                last = traceback.format_exception_only(exc)[-1].strip()
                ctx.errors.append(f"{scanner.name}: {last}"[:500])

    # --- verdicts --------------------------------------------------------------------------------

    def _decide(self, result: FileResult) -> FileResult:
        return _decide(result, self.thresholds)

    def _rename(self, cached: FileResult, name: str) -> FileResult:
        kind = FileKind(cached.type, cached.detail)
        name_groups = group_names(name_dependent=True)  # findings that depend on the declared name
        findings = [f for f in cached.findings if f.group not in name_groups]
        result = cached.model_copy(update={"findings": [*name_findings(name, kind), *findings]})
        result.name = name
        return self._decide(result)

    # --- cache -----------------------------------------------------------------------------------

    def _cache_get(self, sha256: str, passwords: tuple[str, ...]) -> FileResult | None:
        if self._cache_size <= 0:
            return None
        with self._lock:
            for key in ((sha256, None), (sha256, passwords)):
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    return hit
        return None

    def _cache_put(self, sha256: str, passwords: tuple[str, ...], result: FileResult) -> None:
        if self._cache_size <= 0:
            return
        names = {f.name for node in result.walk() for f in node.findings}
        if "limit_time" in names:
            return  # a later, less loaded run may see everything
        key = (sha256, passwords if names & PASSWORD_FINDINGS else None)
        with self._lock:
            self._cache[key] = result
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)


def _decide(result: FileResult, thresholds: Thresholds) -> FileResult:
    """Set ``result``'s score and verdict: its own findings scored against ``thresholds`` with the
    highest (already decided) child score as bias; the verdict is the worst of that and the
    children's verdicts.

    Static file findings raise a verdict at most to SUSPICIOUS (their groups' ceiling: the
    sandbox, or an admin, decides the rest); a score past the file malicious threshold is the
    engine's own judgement, recorded as the deciding finding ``static_malicious``."""
    own = [f for f in result.findings if f.name != _STATIC_VERDICT]
    scored = score(own, thresholds, bias=max((c.score for c in result.children), default=0.0))
    by_score, _ = verdict_for(scored.score, thresholds)
    if by_score is Verdict.MALICIOUS and scored.verdict is not Verdict.MALICIOUS:
        rule = scanner_rules()[_STATIC_VERDICT]
        evidence = f"score {scored.score:g}"
        own.append(rule.finding(evidence, score=scored.score, threshold=thresholds.malicious))
        scored = score(own, thresholds, bias=max((c.score for c in result.children), default=0.0))
    result.findings = own
    result.score = round(scored.score, 2)
    result.verdict = Verdict.worst([scored.verdict, *(c.verdict for c in result.children)])
    return result


_STATIC_VERDICT = "static_malicious"


def rescore(result: FileResult, thresholds: Thresholds) -> FileResult:
    """A copy of ``result`` with every verdict recomputed under other ``thresholds`` (policy)."""
    children = [rescore(child, thresholds) for child in result.children]
    return _decide(result.model_copy(update={"children": children}), thresholds)


def _container_findings(ctx: ScanContext, kind: FileKind, children: list[FileResult]) -> None:
    """Parent-level evidence: an archive or disk image whose direct content runs code."""
    if kind.family not in _CONTAINER_FAMILIES:
        return
    runnable = [c for c in children if c.family in _RUNNABLE_FAMILIES]
    if runnable:
        names = ", ".join(c.name for c in runnable[:5])
        ctx.add("container_with_executable", names, kind=kind.type, count=len(runnable))
