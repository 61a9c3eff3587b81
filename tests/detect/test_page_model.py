"""The shipped page scorer: it loads, names only known page rules, reproduces its model card's
validation figures from the validation pages' features stored beside it (no corpus needed), meets
the issue's bar on those pages, and (where the corpus is present) the page rules still extract
the features it was trained on."""

from __future__ import annotations

import gzip
import json
import os
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from connectors.page_training import PAGE_SETS, PAGE_VALIDATION, extract_page, on_url_scale
from connectors.training import finding_from_spec
from tap_core.data import data_text
from tap_core.detect.model import MessageModel, feature_of, shipped_page_model
from tap_core.detect.rules import rulebook
from tap_core.detect.scoring import Thresholds
from tap_core.detect.training import Sample, figures, is_validation
from tap_core.model.findings import Verdict

DETECT_DATA = Path(__file__).resolve().parents[2] / "tap_core" / "data" / "detect"
CORPUS = Path(os.environ.get("TAP365_CORPUS", Path(__file__).resolve().parents[3] / "shared/corpus"))
PHISHING_SETS = {Path(folder).name for folder, label, _ in PAGE_SETS if label == 1}
LEGITIMATE_SETS = {Path(folder).name for folder, label, _ in PAGE_SETS if label == 0}


@cache
def _stored() -> list[Sample]:
    data: dict[str, Any] = json.loads(gzip.decompress((DETECT_DATA / PAGE_VALIDATION).read_bytes()))
    return [
        Sample(name, corpus, label, tuple(finding_from_spec(spec) for spec in findings))
        for name, corpus, label, findings in data["pages"]
    ]


def test_the_page_model_loads_and_names_only_known_rules() -> None:
    model = shipped_page_model()
    assert model.weights, "no page model shipped (make train)"
    book = rulebook()
    unknown = [k for k in model.weights if book.get(k.split(":", 1)[0]) is None]
    assert not unknown, f"weights of findings no rule defines (retrain: make train): {unknown}"
    assert all(w >= 0 for w in model.weights.values())
    # On the URL thresholds' scale: a tenant's url.thresholds mean the same as before.
    assert (model.thresholds.suspicious, model.thresholds.malicious) == (5.0, 9.0)


def test_the_stored_validation_pages_score_as_the_card_says() -> None:
    model = shipped_page_model()
    pages = _stored()
    assert pages and all(is_validation(s.name) for s in pages)
    scored = [(s, model.score(s.findings)) for s in pages]
    reproduced = {c: f.rates() | {"confusion": f.confusion} for c, f in figures(scored).items()}
    assert reproduced == model.card["shipped"]["validation"]


def test_the_card_meets_the_bar_on_validation() -> None:
    """Issue 16's bar, on pages never trained on: every phishing page flagged (>= 95 %); the kit
    brand clones (pages-phish) MALICIOUS >= 80 %; the legitimate sign-up pages (pages-benign)
    MALICIOUS <= 1 % and SUSPICIOUS <= 5 %. (The dev reconstructions and attachments are lures
    without a brand's form, mostly SUSPICIOUS; the model card reports them.)"""
    model = shipped_page_model()
    results = [(s, model.score(s.findings).verdict) for s in _stored()]
    phish = [v for s, v in results if s.label == 1]
    kits = [v for s, v in results if s.corpus == "pages-phish"]
    signups = [v for s, v in results if s.corpus == "pages-benign"]
    assert phish and kits and signups
    assert sum(v is not Verdict.CLEAN for v in phish) / len(phish) >= 0.95
    assert sum(v is Verdict.MALICIOUS for v in kits) / len(kits) >= 0.80
    assert sum(v is Verdict.MALICIOUS for v in signups) / len(signups) <= 0.01
    assert sum(v is Verdict.SUSPICIOUS for v in signups) / len(signups) <= 0.05


def test_the_model_card_shows_the_models_own_figures() -> None:
    card = data_text("detect", "page_model.md")
    for name, fig in shipped_page_model().card["shipped"]["validation"].items():
        assert f"| {name} | {fig['messages']} | {fig['flagged_pct']:.2f} % | {fig['quarantined_pct']:.2f} % |" in card


def test_the_url_scale_is_an_exact_affine_map() -> None:
    learned = MessageModel(bias=-1.0, cap_scale=0.5, prior_scale=0.5, weights={"page_password_field": 0.4},
                           thresholds=Thresholds(suspicious=0.5, malicious=2.5))
    mapped = on_url_scale(learned)
    finding = rulebook()["page_password_field"].finding("1 password field(s)")
    raw = learned.score([finding]).score
    assert mapped.score([finding]).score == pytest.approx(2.0 * raw + 4.0, abs=1e-3)  # a = 4 / 2, c = 5 - a * 0.5
    assert (mapped.thresholds.suspicious, mapped.thresholds.malicious) == (5.0, 9.0)


def test_a_deciding_page_finding_still_decides_with_the_learned_weights() -> None:
    clone = rulebook()["page_brand_clone"].finding("x", brand="PayPal", secret="password")
    assert shipped_page_model().score([clone]).verdict is Verdict.MALICIOUS


@pytest.mark.skipif(not (CORPUS / "train").is_dir(), reason=f"corpus not at {CORPUS} (TAP365_CORPUS)")
def test_the_page_rules_still_extract_the_trained_features() -> None:
    """Features drift when a page rule changes after training: then `make train` must run again."""
    served = {Path(folder).name: (folder, label, how) for folder, label, how in PAGE_SETS}
    drift = []
    for sample in _stored()[::3]:
        _folder, label, how = served[sample.corpus]
        fresh = extract_page(CORPUS / sample.name, CORPUS, sample.corpus, label, how)
        before = Counter(feature_of(f) for f in sample.findings)
        after = Counter(feature_of(f) for f in fresh.findings)
        if before != after:
            drift.append((sample.name, sorted((after - before).elements()), sorted((before - after).elements())))
    assert not drift, f"page features changed since training (run make train): {drift[:5]}"
    assert PHISHING_SETS and LEGITIMATE_SETS
