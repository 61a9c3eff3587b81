"""``tap365 train-pages``: learn the page scorer's weights from labelled pages, as the message
model is learned from labelled mail (:mod:`tap_core.detect.training`, the same fit).

    tap365 train-pages [--corpus ../shared/corpus] [--out tap_core/data/detect]

Pages (``PAGE_SETS``): the training corpus's ``train/pages-benign`` (legitimate sign-up pages,
label 0) and ``train/pages-phish`` (phishing-kit pages, label 1), and the dev sets
``pages/login-benign`` (0), ``pages/phish-html`` and ``pages/kit-museum`` (1). Each page is read
as the redirector reads it (:func:`tap_core.click.rules.analyze_html`) at the address it would be
served from: a legitimate page under the host it was saved from (:func:`origin_host`), a phishing
page under a neutral host, as a kit is. One page in five (by the SHA-256 of its path under the
corpus, :func:`page_name`) is validation, never seen by training nor by the thresholds.

The model is learned in log-odds, then mapped onto the URL thresholds' scale (an affine map that
sends the learned SUSPICIOUS threshold to 5 and the MALICIOUS one to 9: :func:`on_url_scale`), so
a tenant's ``url.thresholds`` keep their meaning and a cached verdict is re-thresholded as before.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser

from tap_core.click.rules import analyze_html
from tap_core.detect.model import PAGE_MODEL_FILE, MessageModel
from tap_core.detect.scoring import Thresholds
from tap_core.detect.training import Sample, TrainingConfig, figures, is_validation, train
from tap_core.urls.policy import DEFAULT_THRESHOLDS

#: (folder under the corpus, label, where it is served: "origin" or "neutral").
PAGE_SETS: tuple[tuple[str, int, str], ...] = (
    ("train/pages-benign", 0, "origin"),
    ("train/pages-phish", 1, "neutral"),
    ("pages/login-benign", 0, "origin"),
    ("pages/phish-html", 1, "neutral"),
    ("pages/kit-museum", 1, "neutral"),
)
NEUTRAL_SUFFIX = ".pages-eval.example"
PAGE_CARD = "page_model.md"
PAGE_VALIDATION = "page_model_validation.json.gz"
#: Thresholds well inside the operating point issue 16 sets for legitimate pages (SUSPICIOUS
#: <= 5 %, MALICIOUS <= 1 %), on out-of-fold scores of the training part.
PAGE_CONFIG = TrainingConfig(
    iterations=1500,
    l2_findings=3.0,
    prior_support=10,
    ham_flag_rate=0.02,
    ham_hold_rate=0.02,
    ham_quarantine_rate=0.003,
)


def page_files(folder: Path) -> list[Path]:
    """The HTML pages of a set (``.html``, ``.htm`` and their ``.txt`` copies)."""
    return [
        p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and (p.suffix in (".html", ".htm") or p.name.endswith((".html.txt", ".htm.txt")))
    ]


def page_name(path: Path, corpus: Path) -> str:
    """A page's name in the split: its path under the corpus (the kit museum's pages are all
    ``index.html``)."""
    return path.resolve().relative_to(corpus.resolve()).as_posix()


def origin_host(html: str) -> str:
    """Where a saved page lived: the address its saving tool recorded (``<link rel="original">``,
    as Memento and SingleFile write it), else the host its password form posts to, else its
    canonical or og:url address; "" when it does not tell. Saved pages keep absolute form actions,
    so serving a saved login page under another name would make it post credentials elsewhere."""
    tree = LexborHTMLParser(html[:1_500_000])
    node = tree.css_first('link[rel="original"]')
    value = (node.attributes.get("href") or "") if node else ""
    if value.lower().startswith(("http://", "https://")) and urlsplit(value).hostname:
        return (urlsplit(value).hostname or "").lower()
    for form in tree.css("form"):
        action = (form.attributes.get("action") or "").strip()
        has_pw = any((i.attributes.get("type") or "").lower() == "password" for i in form.css("input"))
        host = urlsplit(action).hostname if action.lower().startswith(("http://", "https://")) else None
        if has_pw and host:
            return host.lower()
    for selector, attr in (('link[rel="canonical"]', "href"), ('meta[property="og:url"]', "content")):
        node = tree.css_first(selector)
        value = (node.attributes.get(attr) or "") if node else ""
        host = urlsplit(value).hostname if value.lower().startswith(("http://", "https://")) else None
        if host:
            return host.lower()
    return ""


def serving_host(name: str, html: str, served: str) -> str:
    """The host a page is read under: its origin for a legitimate page that tells it, else a
    neutral name derived from the page's name."""
    origin = origin_host(html) if served == "origin" else ""
    return origin or f"p{hashlib.sha256(name.encode()).hexdigest()[:10]}{NEUTRAL_SUFFIX}"


def read_page(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "replace")


def page_jobs(corpus: Path) -> list[tuple[Path, str, int, str]]:
    """(path, set, label, served) for every page of ``PAGE_SETS``."""
    jobs = []
    for folder, label, served in PAGE_SETS:
        root = corpus / folder
        if not root.is_dir():
            raise FileNotFoundError(f"no {folder}/ folder in {corpus}")
        jobs += [(p, Path(folder).name, label, served) for p in page_files(root)]
    return jobs


def extract_page(path: Path, corpus: Path, set_name: str, label: int, served: str) -> Sample:
    name = page_name(path, corpus)
    html = read_page(path)
    url = f"http://{serving_host(name, html, served)}/index.html"
    return Sample(name, set_name, label, tuple(analyze_html(html, url)))


def on_url_scale(model: MessageModel, target: Thresholds = DEFAULT_THRESHOLDS) -> MessageModel:
    """``model`` (log-odds) mapped onto ``target``'s scale: score' = a * score + c, with the learned
    SUSPICIOUS threshold sent to ``target.suspicious`` and MALICIOUS to ``target.malicious``. Exact:
    weights, caps and bias scale together. Findings the training never saw weigh their rule's
    default weight (prior_scale 1: the URL scale is the rules' own)."""
    t = model.thresholds
    span = t.malicious - t.suspicious
    a = (target.malicious - target.suspicious) / span if span > 1e-6 else 1.0
    c = target.suspicious - a * t.suspicious
    return model.model_copy(
        update={
            "bias": round(a * model.bias + c, 4),
            "cap_scale": round(a * model.cap_scale, 4),
            "prior_scale": 1.0,
            "weights": {k: round(a * v, 4) for k, v in model.weights.items()},
            "thresholds": Thresholds(suspicious=target.suspicious, malicious=target.malicious),
            "card": {**model.card, "scale": {"a": round(a, 4), "c": round(c, 4),
                                             "learned_thresholds": t.model_dump()}},
        }
    )


def rescored_card(model: MessageModel, samples: Sequence[Sample]) -> dict[str, Any]:
    """Validation and training figures of the model as shipped (on the URL scale)."""
    parts: dict[str, list[Sample]] = {"validation": [], "training": []}
    for s in samples:
        parts["validation" if is_validation(s.name) else "training"].append(s)
    out: dict[str, Any] = {}
    for part, members in parts.items():
        scored = [(s, model.score(s.findings)) for s in members]
        out[part] = {c: f.rates() | {"confusion": f.confusion} for c, f in figures(scored).items()}
    return out


def page_card(model: MessageModel, corpus: str, date: str) -> str:
    card = model.card
    cfg = card.get("config", {})
    scale = card.get("scale", {})
    lines = [
        "# Model card: the page scorer",
        "",
        "The weights behind the time-of-click page verdict (`page_model.json`), learned by",
        "`make train` (`tap365 train-pages`) from labelled pages. Regenerated with the weights; do not",
        "edit by hand.",
        "",
        "## Data",
        f"- Corpus: `{corpus}` (public material; see its README for sources and licences).",
        "- Sets: " + ", ".join(f"{k}: {v}" for k, v in sorted(card.get("messages", {}).items()))
        + " pages; pages-phish, phish-html and kit-museum are label 1, pages-benign and login-benign 0.",
        "- Each page is read as the redirector reads it, at the address it would be served from: a"
        " legitimate page under the host it was saved from (its password form's action, else its"
        " canonical address), a phishing page under a neutral host as a kit is.",
        f"- Split: deterministic by SHA-256 of the page's path under the corpus; one page in"
        f" {cfg.get('validation_fraction')} is validation ({card.get('validation_messages')} pages), never"
        f" used by training nor by the choice of thresholds; {card.get('training_messages')} training pages.",
        f"- Trained: {date}.",
        "",
        "## Features",
        "- Every finding of the page rules (`tap_core/data/click/page_rules.toml`) as `name` or"
        " `name:variant`. URL findings of the link itself are not features (the pages' addresses are"
        " the evaluation's, not a phisher's): at click time they weigh their rule's default weight.",
        "- `page_brand_clone` decides alone (MALICIOUS): a page presenting a brand beyond doubt, asking"
        " for a secret, off the brand's domains. Its weight here matters only below that.",
        "",
        "## Training",
        "- The message model's fit (`tap_core/detect/training.py`): logistic regression, group sums"
        " clipped at their caps, weights non-negative, L2 towards each rule's default weight,"
        " classes weighted equally, no randomness.",
        f"- Thresholds from out-of-fold scores ({cfg.get('folds')} folds) of the training part, in"
        f" log-odds: suspicious {scale.get('learned_thresholds', {}).get('suspicious')} (legitimate pages"
        f" flagged <= {cfg.get('ham_flag_rate', 0) * 100:g} %), malicious"
        f" {scale.get('learned_thresholds', {}).get('malicious')} (legitimate pages MALICIOUS <="
        f" {cfg.get('ham_quarantine_rate', 0) * 100:g} %).",
        f"- Then mapped onto the URL thresholds' scale (score x {scale.get('a')} + {scale.get('c')}): the"
        " learned thresholds become 5 (SUSPICIOUS) and 9 (MALICIOUS), a tenant's `url.thresholds` move"
        " them; bias on that scale " + f"{model.bias}, cap_scale {model.cap_scale}.",
        "- Config: " + ", ".join(f"{k}={v}" for k, v in cfg.items()),
        "",
        "## Validation figures (pages never seen by training)",
        "",
        "| set | pages | flagged | MALICIOUS | confusion |",
        "|---|---|---|---|---|",
    ]
    for part in ("validation", "training"):
        if part == "training":
            lines += ["", "On the training part itself:", "",
                      "| set | pages | flagged | MALICIOUS | confusion |", "|---|---|---|---|---|"]
        for name, fig in sorted(card.get("shipped", {}).get(part, {}).items()):
            confusion = ", ".join(f"{k} {v}" for k, v in sorted(fig.get("confusion", {}).items()))
            lines.append(f"| {name} | {fig['messages']} | {fig['flagged_pct']:.2f} % |"
                         f" {fig['quarantined_pct']:.2f} % | {confusion} |")
    top = sorted(model.weights.items(), key=lambda kv: -kv[1])
    lines += ["", "## Weights (URL-threshold points each adds before its group's cap)", ""]
    lines += [f"- `{k}` {v:+.3f}" for k, v in top]
    lines += [
        "",
        "## Limits",
        "",
        "- Few phishing pages (kit pages of one public tool, seven real attachments, fifteen kit"
        " reconstructions): the validation part holds only a handful of them, so its phishing rates"
        " move in steps of several percent. The brand identification that decides most kit pages is"
        " rules and data (`page_brands.toml`), not learned.",
        "- Legitimate pages are sign-up and login pages saved in 2018-2020 (Fathom); a page that does"
        " not say where it lived is read under a neutral host, where a saved brand page is"
        " indistinguishable from a kit.",
        "",
    ]
    return "\n".join(lines)


def run_page_training(corpus: Path, out: Path, config: TrainingConfig | None = None) -> MessageModel:
    jobs = page_jobs(corpus)
    print(f"reading {len(jobs)} pages", flush=True)
    samples = [extract_page(path, corpus, set_name, label, served) for path, set_name, label, served in jobs]
    learned = train(samples, config or PAGE_CONFIG, progress=lambda line: print(line, flush=True))
    model = on_url_scale(learned)
    shipped = rescored_card(model, samples)
    model = model.model_copy(update={"card": {**model.card, "shipped": shipped}})
    out.mkdir(parents=True, exist_ok=True)
    date = datetime.now(UTC).date().isoformat()
    (out / PAGE_MODEL_FILE[1]).write_text(model.to_json(), encoding="utf-8")
    (out / PAGE_CARD).write_text(page_card(model, str(corpus), date), encoding="utf-8")
    rows = [
        [s.name, s.corpus, s.label,
         [[f.name, f.variant, f.group, f.score, f.verdict.value if f.verdict else None] for f in s.findings]]
        for s in sorted(samples, key=lambda s: s.name) if is_validation(s.name)
    ]
    payload = json.dumps({"columns": ["name", "corpus", "label", "findings"], "pages": rows},
                         sort_keys=True, separators=(",", ":"))
    (out / PAGE_VALIDATION).write_bytes(gzip.compress(payload.encode("utf-8"), mtime=0))
    for name, fig in sorted(shipped["validation"].items()):
        print(f"validation {name:14} flagged {fig['flagged_pct']:6.2f} %  "
              f"malicious {fig['quarantined_pct']:6.2f} %  ({fig['messages']} pages)")
    print(f"wrote {out / PAGE_MODEL_FILE[1]}, {out / PAGE_CARD}, {out / PAGE_VALIDATION}")
    print("sets:", dict(Counter(s.corpus for s in samples)))
    return model


__all__ = ["PAGE_SETS", "origin_host", "page_name", "run_page_training", "serving_host"]
