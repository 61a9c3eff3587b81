"""The message verdict on labelled mail: what it flags, holds and quarantines, and why.

Runs the pipeline of ``tap365 scan`` (default policy, no feed, the shipped message model) over
the training and validation parts of ``train/`` (the split of ``tap365 train``) and the older dev
sets, and prints per set: flagged % (suspicious or malicious), held % (hold or quarantine),
quarantined %, the confusion matrix, and the ten findings that carry most weight in each
direction (towards phishing, and towards ham: only learned words weigh that way).

    .venv/bin/python bench/detection_eval.py [--corpus ../shared/corpus] [--only NAME...] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.cli import _iter_mail_files, scan_path
from connectors.logs import quiet_third_party_loggers
from tap_core.attachments import AttachmentEngine
from tap_core.detect.training import is_validation
from tap_core.pipeline import Pipeline

#: Set name -> (folder under the corpus, label, which part of it: all, training or validation).
SETS: dict[str, tuple[str, int, str]] = {
    "train/phish (training part)": ("train/phish", 1, "training"),
    "train/phish (validation)": ("train/phish", 1, "validation"),
    "train/ham-2002 (training part)": ("train/ham-2002", 0, "training"),
    "train/ham-2002 (validation)": ("train/ham-2002", 0, "validation"),
    "train/ham-lists (training part)": ("train/ham-lists", 0, "training"),
    "train/ham-lists (validation)": ("train/ham-lists", 0, "validation"),
    "phishing/real (dev)": ("phishing/real", 1, "all"),
    "phishing/nazario-2004 (dev)": ("phishing/nazario-2004", 1, "all"),
    "ham/easy_ham (dev)": ("ham/easy_ham", 0, "all"),
    "ham/hard_ham (dev)": ("ham/hard_ham", 0, "all"),
}
_PIPELINE: Pipeline | None = None


def _judge(path: str) -> list[dict[str, Any]]:
    """``tap365 scan``'s record of every message of the file (an mbox holds several)."""
    global _PIPELINE
    if _PIPELINE is None:
        quiet_third_party_loggers()
        _PIPELINE = Pipeline(attachment_engine=AttachmentEngine())
    return scan_path(_PIPELINE, Path(path), "eval")


def files_of(corpus: Path, folder: str, part: str) -> list[str]:
    paths = [str(p) for p in _iter_mail_files([str(corpus / folder)])]
    if part == "all":
        return paths
    wanted = part == "validation"
    return [p for p in paths if is_validation(Path(p).name) == wanted]


def summarise(label: int, results: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(results) or 1
    confusion = Counter(f"{'phish' if label else 'ham'}->{r['verdict']}" for r in results)
    up: dict[str, float] = defaultdict(float)
    down: dict[str, float] = defaultdict(float)
    for r in results:
        for f in r.get("findings") or []:
            if f["weight"]:
                (up if f["weight"] > 0 else down)[f["name"]] += f["weight"]
    return {
        "messages": len(results),
        "flagged_pct": round(100 * sum(r["verdict"] != "clean" for r in results) / n, 2),
        "held_pct": round(100 * sum(r["action"] in ("hold", "quarantine") for r in results) / n, 2),
        "quarantined_pct": round(100 * sum(r["action"] == "quarantine" for r in results) / n, 2),
        "errors": sum(r["error"] is not None for r in results),
        "confusion": dict(sorted(confusion.items())),
        "towards_phishing": [(k, round(v / n, 3)) for k, v in sorted(up.items(), key=lambda kv: -kv[1])[:10]],
        "towards_ham": [(k, round(v / n, 3)) for k, v in sorted(down.items(), key=lambda kv: kv[1])[:10]],
        "ms_per_message": round(sum(r["elapsed_ms"] for r in results) / n, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="../shared/corpus")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="sets whose name contains one of these")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    corpus = Path(args.corpus)
    report: dict[str, Any] = {}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for name, (folder, label, part) in SETS.items():
            if args.only and not any(o in name for o in args.only):
                continue
            if not (corpus / folder).is_dir():
                print(f"{name}: no {corpus / folder}, skipped", file=sys.stderr)
                continue
            results = [r for rs in pool.map(_judge, files_of(corpus, folder, part), chunksize=16) for r in rs]
            report[name] = summary = summarise(label, results)
            if args.json:
                continue
            print(f"\n{name}: {summary['messages']} messages  flagged {summary['flagged_pct']:.2f} %  "
                  f"held {summary['held_pct']:.2f} %  quarantined {summary['quarantined_pct']:.2f} %  "
                  f"({summary['ms_per_message']} ms/message)")
            print("  confusion: " + ", ".join(f"{k} {v}" for k, v in summary["confusion"].items()))
            print("  towards phishing (mean weight per message): "
                  + ", ".join(f"{k} {v:+.2f}" for k, v in summary["towards_phishing"]))
            if summary["towards_ham"]:
                print("  towards ham: " + ", ".join(f"{k} {v:+.2f}" for k, v in summary["towards_ham"]))
    if args.json:
        print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
