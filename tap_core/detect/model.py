"""The learned message model: one score for a message from all its findings and its words.

Weights are learned from labelled mail by ``tap365 train`` (:mod:`tap_core.detect.training`)
and ship as data (``tap_core/data/detect/message_model.json``, with its model card
``message_model.md``). At run time the model is only a table: a finding's feature is its rule
name (``name:variant`` when the rule has strengths); a feature the training mail never showed
(VIP impersonation, threat intelligence, a tenant look-alike) weighs its rule's default weight
times ``prior_scale``; the words of the message weigh together as one finding, ``learned_words``,
in the capped ``text`` group.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tap_core.data import data_text
from tap_core.detect.rules import family_rules
from tap_core.detect.scoring import Scored, Thresholds, score
from tap_core.model.findings import Finding

MODEL_FILE = ("detect", "message_model.json")
#: The page scorer: the same kind of model, learned from labelled pages (``tap365 train-pages``).
PAGE_MODEL_FILE = ("detect", "page_model.json")
WORDS_RULE = "learned_words"
#: Words shown as the evidence of ``learned_words``.
_EVIDENCE_WORDS = 8


def feature_of(finding: Finding) -> str:
    """The model feature of a finding: its name, with its variant when it has one."""
    return f"{finding.name}:{finding.variant}" if finding.variant else finding.name


class MessageModel(BaseModel):
    """Weights, intercept, scales and thresholds of the message verdict."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Log-odds of phishing for a message without any finding.
    bias: float = 0.0
    #: Converts the group caps of groups.toml (default-weight points) into log-odds.
    cap_scale: float = 1.0
    #: Converts a rule's default weight into log-odds for features the training never saw.
    prior_scale: float = 1.0
    thresholds: Thresholds = Field(default_factory=lambda: Thresholds(suspicious=5.0, malicious=9.0))
    weights: dict[str, float] = Field(default_factory=dict)
    words: dict[str, float] = Field(default_factory=dict)
    #: What the model was trained on and how it scored (the model card's numbers).
    card: dict[str, Any] = Field(default_factory=dict)

    def weight_of(self, finding: Finding) -> float:
        if finding.name == WORDS_RULE:
            return finding.score  # the words' learned weights, summed: already log-odds
        key = feature_of(finding)
        weight = self.weights.get(key)
        if weight is None:
            weight = self.weights.get(finding.name)
        if weight is None:
            weight = finding.score * self.prior_scale
        return weight

    def words_finding(self, words: Iterable[str]) -> Finding | None:
        """``learned_words`` for a message's words, weighing their learned weights together."""
        known = ((self.words[w], w) for w in set(words) if w in self.words)
        weighted = sorted(known, key=lambda item: (-abs(item[0]), item[1]))
        if not weighted:
            return None
        total = round(sum(w for w, _ in weighted), 4)
        if total == 0:
            return None
        shown = ", ".join(w for _, w in weighted[:_EVIDENCE_WORDS])
        rule = family_rules("detect", "text_rules.toml")[WORDS_RULE]
        return rule.finding(shown, "" if total > 0 else "ordinary", weight=total, words=shown)

    def score(self, findings: Iterable[Finding], thresholds: Thresholds | None = None) -> Scored:
        """The message's score, verdict and contributions (the one scorer, learned weights)."""
        return score(findings, thresholds or self.thresholds, weight_of=self.weight_of,
                     bias=self.bias, cap_scale=self.cap_scale)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


@cache
def shipped_model() -> MessageModel:
    """The model shipped in tap_core/data/detect/message_model.json."""
    return MessageModel.model_validate_json(data_text(*MODEL_FILE))



@cache
def shipped_page_model() -> MessageModel:
    """The page scorer shipped in tap_core/data/detect/page_model.json (on the URL thresholds'
    scale: see :mod:`connectors.page_training`)."""
    return MessageModel.model_validate_json(data_text(*PAGE_MODEL_FILE))
