"""Verdicts and findings: every detection is a named symbol with a score and a reason."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Verdict(StrEnum):
    CLEAN = "clean"
    SUSPICIOUS = "suspicious"
    MALICIOUS = "malicious"

    @property
    def rank(self) -> int:
        return _VERDICT_RANK[self]

    @classmethod
    def worst(cls, verdicts: list[Verdict] | tuple[Verdict, ...]) -> Verdict:
        """The most severe of ``verdicts`` (CLEAN when empty)."""
        return max(verdicts, key=lambda v: v.rank, default=cls.CLEAN)


_VERDICT_RANK = {Verdict.CLEAN: 0, Verdict.SUSPICIOUS: 1, Verdict.MALICIOUS: 2}


class Finding(BaseModel):
    """One named detection (rspamd-style symbol), made by a rule of ``tap_core/data``.

    ``score`` is the rule's weight for this occurrence (it adds up towards the thresholds);
    ``reason`` is one human sentence; ``evidence`` is the concrete thing that triggered it (a
    host, a list entry, a string); ``group`` is the rule's group (its cap and highest verdict);
    ``variant`` which of the rule's strengths fired.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    score: float
    reason: str
    evidence: str = ""
    #: When set, the finding decides the verdict on its own (e.g. a threat-feed hit).
    verdict: Verdict | None = None
    group: str = ""
    variant: str = ""


class Assessment(BaseModel):
    """The verdict reached for one object (a URL, a file) and the findings behind it."""

    verdict: Verdict = Verdict.CLEAN
    score: float = 0.0
    findings: list[Finding] = Field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        return [f.name for f in self.findings]
