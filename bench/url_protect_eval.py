"""URL Protect on real mail: detection on phishing, holds on ham, with no feed loaded.

Runs the same pipeline as ``tap365 scan`` over ``phishing/real``, ``phishing/nazario-2004`` and
``ham`` of the evaluation corpus, twice: URL Protect alone (attachments and impersonation off)
and all pipelines. Prints, per set, the share flagged (verdict suspicious or malicious), the
share held or quarantined, which message-level findings fired, and messages per second.

    .venv/bin/python bench/url_protect_eval.py [--corpus ../shared/corpus] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.attachment_engine import build_attachment_engine
from connectors.cli import _iter_mail_files
from connectors.logs import quiet_third_party_loggers
from connectors.settings import Settings
from tap_core.parsing.mime import parse_eml, split_mbox
from tap_core.pipeline import Pipeline
from tap_core.policy import parse_policy
from tap_core.urls.links import LinkCodec, LinkKeyring

SETS = ("phishing/real", "phishing/nazario-2004", "ham/easy_ham", "ham/hard_ham")


def evaluate(folder: Path, pipeline: Pipeline) -> dict[str, object]:
    files = [m for path in _iter_mail_files([str(folder)]) for m in split_mbox(path.read_bytes())]
    flagged = held = 0
    findings: Counter[str] = Counter()
    start = time.perf_counter()
    for data in files:
        decision = pipeline.run(parse_eml(data, str(folder)), tenant_id="eval")
        flagged += decision.verdict.value != "clean"
        held += decision.action.value in ("hold", "quarantine")
        findings.update(f.name for f in decision.findings)
        findings.update(r for u in decision.urls if u.verdict.value != "clean" for r in u.reasons)
    elapsed = time.perf_counter() - start
    n = len(files) or 1
    return {"messages": len(files), "flagged_rate": round(flagged / n, 4), "held_rate": round(held / n, 4),
            "messages_per_second": round(len(files) / elapsed, 1) if elapsed else 0.0,
            "top_findings": dict(findings.most_common(8))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="../shared/corpus")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    quiet_third_party_loggers()  # as the CLI: malformed PDFs are findings, not warnings
    corpus = Path(args.corpus)
    codec = LinkCodec("https://tap.example/api/r", LinkKeyring({"eval": os.urandom(32)}, "eval"))
    url_only = Pipeline(parse_policy("impersonation: {enabled: false}"), codec=codec)
    everything = Pipeline(codec=codec, attachment_engine=build_attachment_engine(Settings()))
    report: dict[str, dict[str, object]] = {}
    for name in SETS:
        folder = corpus / name
        if not folder.is_dir():
            continue
        report[name] = {"url_protect_alone": evaluate(folder, url_only),
                        "all_pipelines": evaluate(folder, everything)}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{'set':<24}{'mode':<20}{'msgs':>6}{'flagged':>9}{'held/quar':>10}{'msg/s':>8}")
    for name, modes in report.items():
        for mode, r in modes.items():
            print(f"{name:<24}{mode:<20}{r['messages']:>6}{r['flagged_rate']:>9.1%}{r['held_rate']:>10.1%}"
                  f"{r['messages_per_second']:>8}")
    for name, modes in report.items():
        print(f"{name}: top findings (URL Protect alone): {modes['url_protect_alone']['top_findings']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
