"""YARA on the file and on the decoded views other scanners produced (runs last)."""

from __future__ import annotations

import re

import yara

from tap_core.attachments.context import ScanContext, ScanTimeout
from tap_core.attachments.scanners.base import Scanner
from tap_core.model.findings import Verdict

_NAME_CLEAN = re.compile(r"[^a-z0-9_]+")
_DEFAULT_SCORE = 5.0


class YaraScanner(Scanner):
    name = "yara"

    def __init__(self, rules: yara.Rules) -> None:
        self.rules = rules

    def scan(self, data: bytes, ctx: ScanContext) -> None:
        views = [("content", data), *ctx.texts]
        for label, view in views:
            ctx.check_time()
            try:
                matches = self.rules.match(data=view, timeout=max(1, int(ctx.seconds_left())))
            except yara.TimeoutError as exc:
                raise ScanTimeout from exc
            for match in matches:
                self._record(match, label, ctx)

    @staticmethod
    def _record(match: yara.Match, label: str, ctx: ScanContext) -> None:
        meta = match.meta
        try:
            score = float(meta.get("score", _DEFAULT_SCORE))
        except (TypeError, ValueError):
            score = _DEFAULT_SCORE
        verdict = None
        if str(meta.get("verdict", "")).lower() == "malicious" or "malware" in match.tags:
            verdict = Verdict.MALICIOUS
        member = _NAME_CLEAN.sub("_", match.rule.lower()).strip("_")
        if ctx.has(f"yara_{member}"):
            return
        strings = sorted({s.identifier for s in match.strings})[:5]
        where = "" if label == "content" else f" in {label}"
        evidence = f"{match.namespace}:{match.rule}{where} {' '.join(strings)}".strip()
        # yara_<rule>: weighed and worded by the rule's meta, not by scanner_rules.toml.
        description = str(meta.get("description", f"YARA rule {match.rule}"))
        ctx.add_external("yara", member, evidence, score=score, reason=description, verdict=verdict)
