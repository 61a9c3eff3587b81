"""One Decision per message: the verdict, the action and everything that led to them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from tap_core.model.findings import Finding, Verdict


class Action(StrEnum):
    """What happens to the message, from least to most severe."""

    DELIVER = "deliver"
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


_ACTION_ORDER = [Action.DELIVER, Action.REWRITE, Action.TAG, Action.HOLD, Action.QUARANTINE]


def finding_json(f: Finding) -> dict[str, Any]:
    return {"name": f.name, "score": f.score, "reason": f.reason, "evidence": f.evidence}


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
    #: One short sentence per reason for the action, for the audit and the admin.
    reasons: list[str] = Field(default_factory=list)
    urls: list[UrlResult] = Field(default_factory=list)
    #: Per attachment results (shape owned by Attachment Protect).
    attachments: list[dict[str, Any]] = Field(default_factory=list)
    #: ``{hits, indicators: [{name, evidence}], action}`` from Impersonation Protect.
    impersonation: dict[str, Any] = Field(default_factory=dict)
    #: URL Protect's message score: the highest URL score plus the message-level findings.
    url_score: float = 0.0
    #: Message-level findings (limits hit, parse defects that matter...).
    findings: list[Finding] = Field(default_factory=list)
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

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.value,
            "action": self.action.value,
            "reasons": self.reasons,
            "urls": [u.to_json() for u in self.urls],
            "attachments": self.attachments,
            "impersonation": self.impersonation,
            "url_score": self.url_score,
            "findings": [finding_json(f) for f in self.findings],
            "rewrite_skipped": self.rewrite_skipped,
            "categories": self.categories,
            "needs_sandbox": self.needs_sandbox,
            "pipelines": self.pipelines,
        }
