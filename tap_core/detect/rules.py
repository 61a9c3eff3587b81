"""Detection rules as data: a TOML table of named findings, each with a score and a reason.

    [rule_name]
    score = 2.0                      # or, for rules with strengths:
    reason = "Sentence with {field} placeholders."
    [rule_name.scores]
    strong = 5.0
    [rule_name.reasons]              # optional: another wording for a variant
    strong = "Other sentence."

The URL heuristics, the message-level URL rules, the click-time page rules and the attachment
scanners share this loader.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from typing import Any

from tap_core.model.findings import Finding

_MAX_EVIDENCE = 300


class _Fields(dict[str, Any]):
    """Placeholders a call did not fill show as "?" rather than failing the scan."""

    def __missing__(self, key: str) -> str:
        return "?"


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    reason: str
    score: float
    scores: dict[str, float]
    reasons: dict[str, str] = field(default_factory=dict)

    def has_variant(self, variant: str) -> bool:
        return variant in self.scores or variant in self.reasons

    def finding(self, evidence: str = "", variant: str = "", **fields: Any) -> Finding:
        """The finding with ``evidence`` and the reason filled from ``fields``; ``variant`` picks
        one of the rule's ``scores`` and ``reasons`` (the plain ones when empty or unknown)."""
        score = self.scores.get(variant, self.score) if variant else self.score
        reason = self.reasons.get(variant, self.reason) if variant else self.reason
        return Finding(name=self.name, score=score, reason=reason.format_map(_Fields(fields)),
                       evidence=evidence[:_MAX_EVIDENCE])


def load_rules(text: str) -> dict[str, Rule]:
    """The rules of a TOML rule table, by finding name."""
    return {
        name: Rule(name, spec["reason"], float(spec.get("score", 0.0)),
                   {k: float(v) for k, v in spec.get("scores", {}).items()},
                   {k: str(v) for k, v in spec.get("reasons", {}).items()})
        for name, spec in tomllib.loads(text).items()
    }
