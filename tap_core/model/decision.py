"""One Decision per message: the verdict, the action and everything that led to them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from tap_core.model.findings import Finding, Verdict


class Action(StrEnum):
    """What happens to the message, from least to most severe: the one vocabulary of every
    pipeline, the policies, the service and the reports.

    DELIVER and LOG deliver untouched (LOG records that something was seen: Impersonation
    Protect's below-threshold hits); REWRITE delivers with links through the redirector; TAG
    delivers with a warning banner and category; HOLD moves the message to the hidden hold folder
    until analysis or an admin releases it; QUARANTINE to the hidden quarantine folder."""

    DELIVER = "deliver"
    LOG = "log"
    REWRITE = "rewrite"
    TAG = "tag"
    HOLD = "hold"
    QUARANTINE = "quarantine"

    @property
    def rank(self) -> int:
        return _ACTION_ORDER.index(self)

    @classmethod
    def most_severe(cls, actions: list[Action]) -> Action:
        return max(actions, key=lambda a: a.rank, default=cls.DELIVER)


_ACTION_ORDER = [Action.DELIVER, Action.LOG, Action.REWRITE, Action.TAG, Action.HOLD, Action.QUARANTINE]
#: Actions that leave the message in the mailbox.
DELIVERING = frozenset({Action.DELIVER, Action.LOG, Action.REWRITE, Action.TAG})


def finding_json(f: Finding, weight: float | None = None) -> dict[str, Any]:
    """A finding as the reports show it; ``weight`` is its contribution to a message score."""
    out: dict[str, Any] = {"name": f.name, "score": f.score, "reason": f.reason, "evidence": f.evidence}
    if weight is not None:
        out["weight"] = weight
    return out


class UrlResult(BaseModel):
    """One distinct URL of a message and what URL Protect made of it."""

    url: str
    display_url: str
    verdict: Verdict = Verdict.CLEAN
    score: float = 0.0
    findings: list[Finding] = Field(default_factory=list)
    #: Where it appeared: "body.html:a_href", "attachment:invoice.pdf:pdf_annotation", ...
    sources: list[str] = Field(default_factory=list)
    link_texts: list[str] = Field(default_factory=list)
    wrappers: list[str] = Field(default_factory=list)
    #: The exclusion entry that matched, when excluded by policy.
    excluded_by: str | None = None
    #: The signed redirector link that replaced it, when it was rewritten.
    rewritten: str | None = None

    @property
    def reasons(self) -> list[str]:
        return [f.name for f in self.findings]

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "display_url": self.display_url,
            "verdict": self.verdict.value,
            "score": round(self.score, 2),
            "reasons": self.reasons,
            "findings": [finding_json(f) for f in self.findings],
            "sources": self.sources,
            "link_texts": self.link_texts,
            "wrappers": self.wrappers,
            "excluded_by": self.excluded_by,
            "rewritten": self.rewritten,
        }


class Decision(BaseModel):
    """The outcome for one message in one mailbox."""

    verdict: Verdict
    action: Action
    #: The message score of the learned model (log-odds of phishing), against its thresholds.
    score: float = 0.0
    #: One short sentence per reason for the action, the findings that weighed most first.
    reasons: list[str] = Field(default_factory=list)
    urls: list[UrlResult] = Field(default_factory=list)
    #: Per attachment results (shape owned by Attachment Protect).
    attachments: list[dict[str, Any]] = Field(default_factory=list)
    #: ``{hits, indicators: [{name, evidence}], action}`` from Impersonation Protect.
    impersonation: dict[str, Any] = Field(default_factory=dict)
    #: URL Protect's message score: the highest URL score plus the message-level findings.
    url_score: float = 0.0
    #: Every finding the message score counted (one per name), strongest first.
    findings: list[Finding] = Field(default_factory=list)
    #: Each finding's contribution to ``score``, by name.
    weights: dict[str, float] = Field(default_factory=dict)
    #: New bodies to write back when the action delivers the message (None: unchanged).
    rewritten_html: str | None = None
    rewritten_text: str | None = None
    #: Categories to add in Outlook.
    categories: list[str] = Field(default_factory=list)
    #: Why the bodies were not rewritten although links were clean (signed, excluded, policy).
    rewrite_skipped: str | None = None
    #: True when attachments must go to the sandbox before a final verdict.
    needs_sandbox: bool = False
    #: Each pipeline's own outcome: URL and attachment verdicts, the impersonation action.
    pipelines: dict[str, str] = Field(default_factory=dict)
    #: The registered domains the message's links lead to (neither popular nor the tenant's):
    #: what delivering it teaches the organisation's history (first contact).
    link_domains: list[str] = Field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "action": self.action.value,
            "score": round(self.score, 3),
            "reasons": self.reasons,
            "urls": [u.to_json() for u in self.urls],
            "attachments": self.attachments,
            "impersonation": self.impersonation,
            "url_score": self.url_score,
            "findings": [finding_json(f, self.weights.get(f.name, 0.0)) for f in self.findings],
            "rewrite_skipped": self.rewrite_skipped,
            "categories": self.categories,
            "needs_sandbox": self.needs_sandbox,
            "pipelines": self.pipelines,
        }
