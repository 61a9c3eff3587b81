"""``tap365 train``: read the labelled training mail, extract every message's evidence with the
very pipeline the service runs, fit the message model, write it and its model card.

    tap365 train [--corpus ../shared/corpus/train] [--out tap_core/data/detect]

The corpus folder holds ``phish/`` (label 1), ``ham-2002/`` and ``ham-lists/`` (label 0). The
pipeline runs with the default policy, no threat intelligence and no tenant (the training mail
has no tenant history): what a message says, not what a tenant knows about it.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tap_core.attachments import AttachmentEngine
from tap_core.detect.groups import groups
from tap_core.detect.model import MessageModel
from tap_core.detect.rules import rulebook
from tap_core.detect.training import Sample, TrainingConfig, is_validation, message_findings, train
from tap_core.model.findings import Finding, Verdict
from tap_core.parsing.mime import parse_eml
from tap_core.pipeline import Pipeline

#: Corpus folder -> label.
SETS: dict[str, int] = {"phish": 1, "ham-2002": 0, "ham-lists": 0}
MODEL_JSON = "message_model.json"
MODEL_CARD = "message_model.md"
SAMPLE_JSON = "message_model_validation.json.gz"

_PIPELINE: Pipeline | None = None


def _pipeline() -> Pipeline:
    global _PIPELINE  # one per worker process: the YARA rules compile once
    if _PIPELINE is None:
        # The words are read as words: no shipped model is needed (the first training has none).
        _PIPELINE = Pipeline(attachment_engine=AttachmentEngine(cache_size=0), model=MessageModel())
    return _PIPELINE


def extract(path: str, corpus: str, label: int) -> Sample:
    """One message's sample: the pipeline's findings and words."""
    evidence = _pipeline().evidence(parse_eml(Path(path).read_bytes(), path))
    return Sample(Path(path).name, corpus, label, tuple(evidence.findings), evidence.words)


def _extract_star(job: tuple[str, str, int]) -> Sample:
    return extract(*job)


def corpus_jobs(root: Path) -> list[tuple[str, str, int]]:
    jobs = []
    for corpus, label in SETS.items():
        folder = root / corpus
        if not folder.is_dir():
            raise FileNotFoundError(f"no {corpus}/ folder in {root}")
        jobs += [(str(p), corpus, label) for p in sorted(folder.iterdir()) if p.is_file()]
    return jobs


def extract_all(jobs: Sequence[tuple[str, str, int]], workers: int | None = None) -> list[Sample]:
    workers = workers or min(4, os.cpu_count() or 1)
    if workers <= 1:
        return [extract(*job) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_extract_star, jobs, chunksize=32))


# --- outputs ---------------------------------------------------------------------------------------


def _feature_spec(f: Finding) -> list[Any]:
    return [f.name, f.variant, f.group, f.score, f.verdict.value if f.verdict else None]


def finding_from_spec(spec: Sequence[Any]) -> Finding:
    """A finding as the validation file stores it (name, variant, group, default weight, verdict)."""
    name, variant, group, weight, verdict = spec
    return Finding(name=name, variant=variant, group=group, score=float(weight), reason="",
                   verdict=Verdict(verdict) if verdict else None)


def validation_file(model: MessageModel, samples: Iterable[Sample]) -> dict[str, Any]:
    """Every validation message's features (findings, and the words the model knows) with the
    result the model gives it, so that a test reproduces the model card's validation figures
    without the corpus."""
    specs: dict[str, list[Any]] = {}
    rows = []
    for s in sorted((s for s in samples if is_validation(s.name)), key=lambda s: (s.corpus, s.name)):
        keys = []
        for f in s.findings:
            key = f"{f.name}|{f.variant}|{f.score}"
            specs.setdefault(key, _feature_spec(f))
            keys.append(key)
        scored = model.score(message_findings(s, model))
        rows.append([s.name, s.corpus, s.label, keys, sorted(w for w in s.words if w in model.words),
                     scored.score, scored.verdict.value, scored.hold])
    return {"columns": ["name", "corpus", "label", "findings", "words", "score", "verdict", "hold"],
            "findings": specs, "messages": rows}


def _pct(value: float) -> str:
    return f"{value:.2f} %"


def model_card(model: MessageModel, *, corpus: str, date: str) -> str:
    card = model.card
    cfg = card.get("config", {})
    lines = [
        "# Model card: the message model",
        "",
        "The weights behind the message verdict (`message_model.json`), learned by `make train`",
        "(`tap365 train`) from labelled mail. Regenerated with the weights; do not edit by hand.",
        "",
        "## Data",
        f"- Corpus: `{corpus}` (public material; see its README for sources and licences).",
        "- Sets: " + ", ".join(f"{k}: {v}" for k, v in sorted(card.get("messages", {}).items()))
        + " messages; phish is label 1, both ham sets label 0.",
        f"- Split: deterministic by SHA-256 of the file name; one message in {cfg.get('validation_fraction')}"
        f" is validation ({card.get('validation_messages')} messages), never used by training nor by the"
        f" choice of thresholds; {card.get('training_messages')} training messages.",
        f"- Trained: {date}.",
        "",
        "## Features",
        "- Every named finding of the detection contract (links, message, files, impersonation,"
        " authentication, reputation) as `name` or `name:variant`, one per message; the pipeline runs"
        " with the default policy, no threat intelligence and no tenant.",
        f"- Words of the subject and visible body (letters only, accents folded, function words, web"
        f" and mail addresses and the recipients' names left out) that appear in at least"
        f" {cfg.get('min_word_messages')} training messages: {card.get('vocabulary')} words kept, weighed"
        " together as the finding `learned_words` in the `text` group (capped both ways, and never"
        " above SUSPICIOUS on its own).",
        "- Not features: dates, mailer names, list headers, header order, or whether authentication"
        " headers are present (only what they report).",
        "",
        "## Training",
        "- Logistic regression, group sums clipped at their caps (`groups.toml` x `cap_scale`), finding"
        " weights non-negative, L2 towards each rule's default weight x `prior_scale` (findings the"
        " training mail never shows keep that prior), classes weighted equally; projected Adam,"
        f" {cfg.get('iterations')} full-batch steps, no randomness (the same mail gives the same weights).",
        f"- prior_scale = cap_scale = {model.prior_scale} log-odds per default-weight point, fitted on"
        f" the findings seen at least {cfg.get('prior_support')} times; bias {model.bias}.",
        f"- Thresholds from out-of-fold scores ({cfg.get('folds')} folds) of the training part: suspicious"
        f" {model.thresholds.suspicious} (ham flagged <= {cfg.get('ham_flag_rate', 0) * 100:g} %), hold"
        f" {model.thresholds.hold} (ham held <= {cfg.get('ham_hold_rate', 0) * 100:g} %), malicious"
        f" {model.thresholds.malicious} (ham quarantined <= {cfg.get('ham_quarantine_rate', 0) * 100:g} %)."
        " A tenant policy's `thresholds` replace them.",
        "- Config: " + ", ".join(f"{k}={v}" for k, v in cfg.items()),
        "",
        "## Validation figures",
        "",
        "| set | messages | flagged | held or quarantined | quarantined | confusion |",
        "|---|---|---|---|---|---|",
    ]
    for name, fig in sorted(card.get("validation", {}).items()):
        confusion = ", ".join(f"{k} {v}" for k, v in sorted(fig.get("confusion", {}).items()))
        lines.append(f"| {name} | {fig['messages']} | {_pct(fig['flagged_pct'])} | {_pct(fig['held_pct'])} |"
                     f" {_pct(fig['quarantined_pct'])} | {confusion} |")
    lines += ["", "Out of fold (training part, final thresholds) and on the training part itself:", "",
              "| set | part | flagged | held or quarantined | quarantined |", "|---|---|---|---|---|"]
    for part in ("out_of_fold", "training"):
        for name, fig in sorted(card.get(part, {}).items()):
            lines.append(f"| {name} | {part} | {_pct(fig['flagged_pct'])} | {_pct(fig['held_pct'])} |"
                         f" {_pct(fig['quarantined_pct'])} |")
    top = sorted(model.weights.items(), key=lambda kv: -kv[1])
    lines += ["", "## Largest weights", "", "Findings (log-odds each adds before its group's cap):", ""]
    lines += [f"- `{k}` {v:+.3f}" for k, v in top[:20]]
    zero = sorted(k for k, v in model.weights.items() if v == 0)
    if zero:
        lines += ["", "Findings the training mail gave no weight (rarer in phishing than in ham, or only"
                  " alongside stronger evidence): " + ", ".join(f"`{k}`" for k in zero[:40]) + "."]
    words = sorted(model.words.items(), key=lambda kv: -kv[1])
    lines += ["", "Words towards phishing: " + ", ".join(f"{w} {v:+.2f}" for w, v in words[:30]) + ".",
              "", "Words towards ham: " + ", ".join(f"{w} {v:+.2f}" for w, v in words[::-1][:30]) + ".",
              "", "## Limits", "",
              "- The ham is from 2002 (SpamAssassin) and from one technical mailing list; real mail of a"
              " tenant is neither. Words are capped and can only flag (SUSPICIOUS), never quarantine;"
              " tenants tune `thresholds` in their policy.",
              "- Findings that need a tenant (VIP and colleague display names, look-alikes of the tenant's"
              " domains, first contact), a feed (threat intelligence) or the network (domain age through"
              " RDAP) never occur in the training mail: they keep their rule's default weight x"
              " prior_scale, and intelligence and malware decide alone.", ""]
    lines += _priors(model)
    return "\n".join(lines)


#: Findings of run-time knowledge (the tenant's history, RDAP) the training mail cannot show.
RUNTIME_PRIORS = (
    "org_first_seen_sender_domain",
    "org_first_seen_sender_address",
    "org_first_seen_link_domain",
    "domain_registered_recently",
    "domain_age_unknown",
)


def _priors(model: MessageModel) -> list[str]:
    """The priors of the run-time findings: default weight x prior_scale, and their group's cap."""
    book, caps = rulebook(), groups()
    lines = ["## Priors of run-time findings", "",
             "First contact across the organisation and domain age (RDAP) need a tenant's history and"
             " the registries, which the training corpus has not got: their weights are priors, the"
             " rule's default weight x prior_scale, until labelled mail with those answers exists.", "",
             "| finding | default weight | log-odds | group (cap in log-odds, highest verdict) |",
             "|---|---|---|---|"]
    for name in RUNTIME_PRIORS:
        rule = book[name]
        group = caps[rule.group]
        cap = f"{rule.group} ({group.max_score * model.cap_scale:.2f}, {group.max_verdict.value})"
        variants = [("", rule.weight), *sorted(rule.weights.items())]
        for variant, weight in variants:
            feature = f"{name}:{variant}" if variant else name
            prior = model.weight_of(rule.finding("", variant))
            lines.append(f"| `{feature}` | {weight:g} | {prior:.3f} | {cap} |")
    return [*lines, ""]


def write_model(model: MessageModel, samples: Sequence[Sample], out: Path, *, corpus: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    date = datetime.now(UTC).date().isoformat()
    (out / MODEL_JSON).write_text(model.to_json(), encoding="utf-8")
    payload = json.dumps(validation_file(model, samples), sort_keys=True, separators=(",", ":"))
    (out / SAMPLE_JSON).write_bytes(gzip.compress(payload.encode("utf-8"), mtime=0))
    (out / MODEL_CARD).write_text(model_card(model, corpus=corpus, date=date), encoding="utf-8")


def run_training(corpus: Path, out: Path, *, workers: int | None = None,
                 config: TrainingConfig | None = None) -> MessageModel:
    jobs = corpus_jobs(corpus)
    print(f"extracting evidence from {len(jobs)} messages", flush=True)
    samples = extract_all(jobs, workers)
    model = train(samples, config, progress=lambda line: print(line, flush=True))
    write_model(model, samples, out, corpus=str(corpus))
    for name, fig in sorted(model.card["validation"].items()):
        print(f"validation {name:10} flagged {fig['flagged_pct']:6.2f} %  held {fig['held_pct']:6.2f} %  "
              f"quarantined {fig['quarantined_pct']:6.2f} %  ({fig['messages']} messages)")
    print(f"wrote {out / MODEL_JSON}, {out / MODEL_CARD}, {out / SAMPLE_JSON}")
    return model


__all__ = ["extract", "finding_from_spec", "run_training", "validation_file"]
