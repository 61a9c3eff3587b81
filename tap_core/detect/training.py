"""Learning the message model from labelled mail (``make train``; numpy, at training time only).

The way SpamAssassin learns its scores from mass-check results, with rspamd's group caps:

- every message gives its findings (the features: rule names, ``name:variant`` for rules with
  strengths) and its words; the label is phishing (1) or ham (0);
- the split is deterministic by file-name hash: a fifth of every set is validation, never seen by
  training, nor by the choice of thresholds;
- logistic regression over the findings and the words, the groups' sums clipped at their caps,
  weights kept non-negative (a finding is evidence of an attack, never of innocence; a word can
  only add to the ``text`` group), L2 towards each rule's default weight (so a rule the mail
  rarely shows keeps its prior), classes weighted equally; plain full-batch gradient steps, no
  randomness: the same mail gives the same weights;
- thresholds from out-of-fold scores of the training part (5 folds): MALICIOUS where at most
  ``ham_quarantine_rate`` of ham would be quarantined, hold and suspicious likewise.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tap_core.detect.groups import groups
from tap_core.detect.model import MessageModel, feature_of
from tap_core.detect.scoring import Scored, Thresholds, verdict_for
from tap_core.model.findings import Finding, Verdict

_TEXT_GROUP = "text"


@dataclass(frozen=True, slots=True)
class Sample:
    """One labelled message: where it came from, its findings and its words."""

    name: str
    corpus: str
    label: int
    findings: tuple[Finding, ...]
    words: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    """Every knob of the training, recorded in the model card."""

    validation_fraction: int = 5  # one in this many messages is validation
    folds: int = 5
    iterations: int = 1500
    learning_rate: float = 0.05
    l2_findings: float = 2.0
    l2_words: float = 4.0
    min_word_messages: int = 8  # a word must appear in this many training messages
    #: Words may weigh towards ham too (within the text group's min_score).
    signed_words: bool = True
    prior_support: int = 30  # findings seen this often fix the default-to-learned scale
    ham_quarantine_rate: float = 0.0005
    ham_hold_rate: float = 0.0025
    ham_flag_rate: float = 0.01
    #: Decimals kept of the learned weights (the same mail gives the same file).
    round_to: int = 4


@dataclass(slots=True)
class Figures:
    """What a model does on one set of messages."""

    messages: int = 0
    flagged: int = 0
    held: int = 0
    quarantined: int = 0
    confusion: dict[str, int] = field(default_factory=dict)

    def rates(self) -> dict[str, float]:
        n = self.messages or 1
        return {
            "messages": self.messages,
            "flagged_pct": round(100 * self.flagged / n, 2),
            "held_pct": round(100 * self.held / n, 2),
            "quarantined_pct": round(100 * self.quarantined / n, 2),
        }


def is_validation(name: str, every: int = 5) -> bool:
    """The deterministic split: one message in ``every``, by the SHA-256 of its file name."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big") % every == 0


def _fold(name: str, folds: int) -> int:
    return int.from_bytes(hashlib.sha256(("fold:" + name).encode("utf-8")).digest()[:8], "big") % folds


def message_findings(sample: Sample, model: MessageModel) -> list[Finding]:
    """The findings the model scores for a sample: its own, plus its words as one finding."""
    words = model.words_finding(sample.words)
    return [*sample.findings, words] if words is not None else list(sample.findings)


# --- the fit ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Design:
    """Samples as flat arrays: each entry is (group slot, parameter); slots belong to samples."""

    params: list[str]  # feature keys, then "word:<w>"
    prior: Any  # np.ndarray of prior means
    is_word: Any
    entry_slot: Any
    entry_param: Any
    slot_sample: Any
    slot_group: list[str]
    labels: Any
    weights: Any


def _design(samples: Sequence[Sample], config: TrainingConfig, prior_scale: float) -> _Design:
    import numpy as np

    seen: dict[str, tuple[str, float]] = {}
    for s in samples:
        for f in s.findings:
            seen.setdefault(feature_of(f), (f.group, f.score))
    counts = Counter(w for s in samples for w in s.words)
    vocabulary = sorted(w for w, n in counts.items() if n >= config.min_word_messages)
    keys = sorted(seen)
    params = keys + [f"word:{w}" for w in vocabulary]
    index = {p: i for i, p in enumerate(params)}
    prior = np.array([max(0.0, seen[k][1] * prior_scale) for k in keys] + [0.0] * len(vocabulary))
    is_word = np.array([False] * len(keys) + [True] * len(vocabulary))
    entry_slot: list[int] = []
    entry_param: list[int] = []
    slot_sample: list[int] = []
    slot_group: list[str] = []
    for i, s in enumerate(samples):
        members: dict[str, set[int]] = {}
        for f in s.findings:
            members.setdefault(f.group, set()).add(index[feature_of(f)])
        words = [index[f"word:{w}"] for w in s.words if f"word:{w}" in index]
        if words:
            members.setdefault(_TEXT_GROUP, set()).update(words)
        for group in sorted(members):
            slot = len(slot_sample)
            slot_sample.append(i)
            slot_group.append(group)
            for p in sorted(members[group]):
                entry_slot.append(slot)
                entry_param.append(p)
    labels = np.array([s.label for s in samples], dtype=float)
    positives = labels.mean() if len(labels) else 0.5
    class_weights = np.where(labels == 1, 0.5 / max(positives, 1e-9), 0.5 / max(1 - positives, 1e-9))
    return _Design(params, prior, is_word, np.array(entry_slot, dtype=np.int64),
                   np.array(entry_param, dtype=np.int64), np.array(slot_sample, dtype=np.int64),
                   slot_group, labels, class_weights)


def _fit(design: _Design, config: TrainingConfig, cap_scale: float | None) -> tuple[float, Any]:
    """(bias, weights) by projected Adam on the capped logistic loss; caps off when None."""
    import numpy as np

    table = groups()
    n = len(design.labels)
    caps = np.array([table[g].max_score * cap_scale if cap_scale is not None and g in table else np.inf
                     for g in design.slot_group])
    floors = np.array([table[g].min_score * cap_scale if cap_scale is not None and g in table else -np.inf
                       for g in design.slot_group])
    w = design.prior.copy()
    b = 0.0
    lam = np.where(design.is_word, config.l2_words, config.l2_findings)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    mb = vb = 0.0
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    n_slots = len(design.slot_sample)
    for step in range(1, config.iterations + 1):
        sums = np.bincount(design.entry_slot, weights=w[design.entry_param], minlength=n_slots)
        clipped = np.clip(sums, floors, caps)
        z = b + np.bincount(design.slot_sample, weights=clipped, minlength=n)
        p = 1.0 / (1.0 + np.exp(-z))
        dz = (p - design.labels) * design.weights / n
        dslot = dz[design.slot_sample] * ((sums < caps) & (sums > floors))
        grad = np.bincount(design.entry_param, weights=dslot[design.entry_slot], minlength=len(w))
        grad += lam * (w - design.prior) / n
        gb = float(dz.sum())
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad * grad
        mb = beta1 * mb + (1 - beta1) * gb
        vb = beta2 * vb + (1 - beta2) * gb * gb
        correction1, correction2 = 1 - beta1**step, 1 - beta2**step
        w -= config.learning_rate * (m / correction1) / (np.sqrt(v / correction2) + eps)
        b -= config.learning_rate * (mb / correction1) / (np.sqrt(vb / correction2) + eps)
        w[~design.is_word] = np.maximum(w[~design.is_word], 0.0)
        if not config.signed_words:
            np.maximum(w, 0.0, out=w)
    return b, w


def _prior_scale(samples: Sequence[Sample], config: TrainingConfig) -> float:
    """Learned weight per default-weight point, fitted on the well-supported rules (findings
    only: the words would take over part of their weight and shrink the scale)."""
    import numpy as np

    without_words = [Sample(s.name, s.corpus, s.label, s.findings) for s in samples]
    design = _design(without_words, config, prior_scale=0.0)
    _, w = _fit(design, config, cap_scale=None)
    support = Counter(feature_of(f) for s in samples for f in s.findings)
    defaults = {feature_of(f): f.score for s in samples for f in s.findings}
    pairs = [(w[i], defaults[k]) for i, k in enumerate(design.params)
             if not design.is_word[i] and support[k] >= config.prior_support and defaults[k] > 0]
    if not pairs:
        return 1.0
    learned, default = np.array(pairs).T
    return float(np.clip((learned * default).sum() / (default * default).sum(), 0.05, 2.0))


def _model(design: _Design, bias: float, w: Any, config: TrainingConfig, *, prior_scale: float,
           cap_scale: float, thresholds: Thresholds, card: dict[str, Any] | None = None) -> MessageModel:
    digits = config.round_to
    weights = {p: round(float(x), digits) for p, x, word in zip(design.params, w, design.is_word, strict=True)
               if not word}
    words = {p.removeprefix("word:"): round(float(x), digits)
             for p, x, word in zip(design.params, w, design.is_word, strict=True)
             if word and round(float(x), digits) != 0}
    return MessageModel(bias=round(bias, digits), cap_scale=round(cap_scale, digits),
                        prior_scale=round(prior_scale, digits), thresholds=thresholds,
                        weights=weights, words=words, card=card or {})


# --- thresholds and figures ------------------------------------------------------------------------


def _quantile_threshold(ham_scores: list[float], rate: float) -> float:
    """The lowest threshold above which at most ``rate`` of ``ham_scores`` lie."""
    ordered = sorted(ham_scores, reverse=True)
    allowed = int(rate * len(ordered))
    if allowed >= len(ordered):
        return ordered[-1] if ordered else 0.0
    return round(ordered[allowed] + 1e-3, 3)


def choose_thresholds(ham: Sequence[Scored], config: TrainingConfig) -> Thresholds:
    """Thresholds from ham scores: suspicious, hold and malicious at the configured ham rates."""
    suspicious = [s.reach[Verdict.SUSPICIOUS] for s in ham]
    malicious = [s.reach[Verdict.MALICIOUS] for s in ham]
    t_flag = _quantile_threshold(suspicious, config.ham_flag_rate)
    t_hold = max(t_flag, _quantile_threshold(suspicious, config.ham_hold_rate))
    t_mal = max(t_hold, _quantile_threshold(malicious, config.ham_quarantine_rate))
    return Thresholds(suspicious=t_flag, hold=t_hold, malicious=t_mal)


def figures(scored: Iterable[tuple[Sample, Scored]]) -> dict[str, Figures]:
    """Per corpus: how many messages were flagged, held, quarantined; and the confusion matrix."""
    out: dict[str, Figures] = {}
    for sample, result in scored:
        fig = out.setdefault(sample.corpus, Figures())
        fig.messages += 1
        flagged = result.verdict is not Verdict.CLEAN
        fig.flagged += flagged
        fig.held += result.hold
        fig.quarantined += result.verdict is Verdict.MALICIOUS
        key = f"{'phish' if sample.label else 'ham'}->{result.verdict.value}"
        fig.confusion[key] = fig.confusion.get(key, 0) + 1
    return out


# --- the whole training ----------------------------------------------------------------------------


def train(samples: Sequence[Sample], config: TrainingConfig | None = None, *,
          progress: Callable[[str], None] = lambda _: None) -> MessageModel:
    """Fit the model on the training part of ``samples``; its card holds the validation figures."""
    config = config or TrainingConfig()
    training = [s for s in samples if not is_validation(s.name, config.validation_fraction)]
    validation = [s for s in samples if is_validation(s.name, config.validation_fraction)]
    if not training or not {0, 1} <= {s.label for s in training}:
        raise ValueError("training needs both phishing and ham messages outside the validation part")
    progress(f"{len(training)} training and {len(validation)} validation messages")
    prior_scale = _prior_scale(training, config)
    cap_scale = prior_scale
    progress(f"prior scale {prior_scale:.4f} log-odds per default-weight point")
    placeholder = Thresholds(suspicious=0.0, malicious=0.0)
    out_of_fold: list[tuple[Sample, Scored]] = []
    for k in range(config.folds):
        fit_part = [s for s in training if _fold(s.name, config.folds) != k]
        held_out = [s for s in training if _fold(s.name, config.folds) == k]
        design = _design(fit_part, config, prior_scale)
        bias, w = _fit(design, config, cap_scale)
        fold_model = _model(design, bias, w, config, prior_scale=prior_scale, cap_scale=cap_scale,
                            thresholds=placeholder)
        out_of_fold += [(s, fold_model.score(message_findings(s, fold_model))) for s in held_out]
        progress(f"fold {k + 1}/{config.folds} done")
    thresholds = choose_thresholds([r for s, r in out_of_fold if s.label == 0], config)
    design = _design(training, config, prior_scale)
    bias, w = _fit(design, config, cap_scale)
    model = _model(design, bias, w, config, prior_scale=prior_scale, cap_scale=cap_scale,
                   thresholds=thresholds)
    scored_validation = [(s, model.score(message_findings(s, model))) for s in validation]
    scored_training = [(s, model.score(message_findings(s, model))) for s in training]
    card = {
        "config": {k: getattr(config, k) for k in config.__dataclass_fields__},
        "messages": dict(Counter(s.corpus for s in samples)),
        "training_messages": len(training),
        "validation_messages": len(validation),
        "vocabulary": len(model.words),
        "validation": {c: f.rates() | {"confusion": f.confusion}
                       for c, f in figures(scored_validation).items()},
        "training": {c: f.rates() for c, f in figures(scored_training).items()},
        "out_of_fold": {c: f.rates() for c, f in figures(
            (s, _rethreshold(r, thresholds)) for s, r in out_of_fold).items()},
    }
    return model.model_copy(update={"card": card})


def _rethreshold(result: Scored, thresholds: Thresholds) -> Scored:
    """An out-of-fold result judged with the final thresholds."""
    verdict, hold = verdict_for(result.reach, thresholds,
                                [f.verdict for f in result.deciding if f.verdict is not None])
    return Scored(result.score, verdict, hold, result.contributions, result.deciding, result.reach)

