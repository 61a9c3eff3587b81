"""The shipped message model loads, and reproduces its model card's validation figures from the
validation features stored beside it (no corpus needed); where the training corpus is present,
the pipeline still extracts those very features from the mail (no drift since training)."""

from __future__ import annotations

import gzip
import json
import os
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from connectors.training import SAMPLE_JSON, extract, finding_from_spec
from tap_core.data import data_text
from tap_core.detect.model import feature_of, shipped_model
from tap_core.detect.rules import rulebook
from tap_core.detect.training import Sample, figures, is_validation, message_findings
from tap_core.model.findings import Verdict

DETECT_DATA = Path(__file__).resolve().parents[2] / "tap_core" / "data" / "detect"
CORPUS = Path(os.environ.get("TAP365_TRAIN_CORPUS", Path(__file__).resolve().parents[3] / "shared/corpus/train"))


@cache
def _validation() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(gzip.decompress((DETECT_DATA / SAMPLE_JSON).read_bytes()))
    return data


def _samples() -> list[tuple[Sample, dict[str, Any]]]:
    data = _validation()
    specs = {k: finding_from_spec(v) for k, v in data["findings"].items()}
    out = []
    for row in data["messages"]:
        record = dict(zip(data["columns"], row, strict=True))
        sample = Sample(record["name"], record["corpus"], record["label"],
                        tuple(specs[k] for k in record["findings"]), frozenset(record["words"]))
        out.append((sample, record))
    return out


def test_the_shipped_model_loads_and_names_only_known_rules() -> None:
    model = shipped_model()
    t = model.thresholds
    assert t.suspicious <= (t.hold if t.hold is not None else t.suspicious) <= t.malicious
    assert model.words and model.weights
    book = rulebook()
    unknown = [k for k in model.weights if book.get(k.split(":", 1)[0]) is None]
    assert not unknown, f"weights of findings no rule defines (retrain: make train): {unknown}"
    assert all(w >= 0 for w in model.weights.values())


def test_the_stored_validation_messages_score_as_the_card_says() -> None:
    model = shipped_model()
    scored = []
    for sample, record in _samples():
        result = model.score(message_findings(sample, model))
        assert (result.score, result.verdict.value, result.hold) == (
            record["score"], record["verdict"], record["hold"]), sample.name
        assert is_validation(sample.name)
        scored.append((sample, result))
    reproduced = {c: f.rates() | {"confusion": f.confusion} for c, f in figures(scored).items()}
    assert reproduced == model.card["validation"]
    assert sum(f["messages"] for f in reproduced.values()) == model.card["validation_messages"]


def test_the_card_meets_the_bar_on_validation() -> None:
    """Phishing flagged >= 97 %, ham held or quarantined <= 0.5 % (each ham set), ham
    quarantined <= 0.1 %."""
    validation = shipped_model().card["validation"]
    assert validation["phish"]["flagged_pct"] >= 97.0
    for ham in ("ham-2002", "ham-lists"):
        assert validation[ham]["held_pct"] <= 0.5
        assert validation[ham]["quarantined_pct"] <= 0.1


def test_the_model_card_shows_the_models_own_figures() -> None:
    card = data_text("detect", "message_model.md")
    for name, fig in shipped_model().card["validation"].items():
        assert f"| {name} | {fig['messages']} | {fig['flagged_pct']:.2f} % | {fig['held_pct']:.2f} % |" in card


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"training corpus not at {CORPUS} (TAP365_TRAIN_CORPUS)")
def test_the_pipeline_still_extracts_the_trained_features() -> None:
    """Features drift when a rule changes after training: then `make train` must run again."""
    model = shipped_model()
    stored = _samples()
    picked = [stored[i] for i in range(0, len(stored), max(1, len(stored) // 40))]
    drift = []
    for sample, _ in picked:
        fresh = extract(str(CORPUS / sample.corpus / sample.name), sample.corpus, sample.label)
        before = Counter(feature_of(f) for f in sample.findings)
        after = Counter(feature_of(f) for f in fresh.findings)
        known = frozenset(w for w in fresh.words if w in model.words)
        if before != after or known != sample.words:
            drift.append((sample.name, sorted((after - before).elements()), sorted((before - after).elements())))
    assert not drift, f"features changed since training (run make train): {drift[:5]}"


def test_strong_evidence_still_decides_with_the_learned_weights() -> None:
    model = shipped_model()
    hit = rulebook()["intel"].finding("feed: x", named="intel_phishing", category="phishing", feed="f")
    assert model.score([hit]).verdict is Verdict.MALICIOUS
    malware = rulebook()["known_malware_hash"].finding("sha256", source="list", label="")
    assert model.score([malware]).verdict is Verdict.MALICIOUS
