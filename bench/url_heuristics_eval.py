"""False positives and detection of the static URL heuristics (no threat intelligence loaded).

* False-positive rate: ``assess_url("https://<domain>/")`` over the Tranco top 10k
  (share flagged SUSPICIOUS or MALICIOUS). Also reported on Tranco ranks 10,001-50,000, a
  held-out set the rules were never looked at against.
* Detection rate: ``assess_url`` over the OpenPhish feed snapshot (heuristics only: the feed
  is not loaded as intelligence), share flagged.

    .venv/bin/python bench/url_heuristics_eval.py [--corpus ../shared/corpus] [--show 20]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tap_core.model.findings import Verdict
from tap_core.urls.rules import assess_url

TRANCO_10K = "urls/popular/tranco_top_10k.csv"
TRANCO_50K = "urls/popular/tranco_top_50k.csv.gz"
OPENPHISH = "urls/intel/openphish_feed_HEAD_2026-08-22.txt"


def _tranco(path: Path, first: int, last: int) -> list[str]:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    out: list[str] = []
    for row in csv.reader(io.StringIO(raw.decode("utf-8"))):
        if len(row) >= 2 and row[0].isdigit() and first <= int(row[0]) <= last:
            out.append(f"https://{row[1].strip().lower()}/")
    return out


def _run(urls: Iterable[str]) -> tuple[int, list[tuple[str, float, list[str]]], Counter[str], float]:
    flagged: list[tuple[str, float, list[str]]] = []
    fired: Counter[str] = Counter()
    total = 0
    start = time.perf_counter()
    for url in urls:
        total += 1
        result = assess_url(url)
        fired.update(result.reasons)
        if result.verdict is not Verdict.CLEAN:
            flagged.append((url, result.score, result.reasons))
    return total, flagged, fired, time.perf_counter() - start


def _report(title: str, urls: list[str], show: int) -> float:
    total, flagged, fired, elapsed = _run(urls)
    share = len(flagged) / total if total else 0.0
    print(f"{title}: {len(flagged)}/{total} flagged = {share:.2%}  ({total / elapsed:,.0f} URLs/s)")
    print("  findings fired (any score):", ", ".join(f"{k}={v}" for k, v in fired.most_common()))
    for url, score, reasons in flagged[:show]:
        print(f"    {score:5.1f} {url}  {reasons}")
    return share


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", default="../shared/corpus", type=Path)
    parser.add_argument("--show", type=int, default=15, help="flagged examples to print per set")
    args = parser.parse_args()
    corpus: Path = args.corpus

    fp = _report("Tranco top 10k (false positives)", _tranco(corpus / TRANCO_10K, 1, 10_000), args.show)
    held_out = corpus / TRANCO_50K
    fp_held = None
    if held_out.exists():
        fp_held = _report(
            "Tranco 10,001-50,000 held out (false positives)", _tranco(held_out, 10_001, 50_000), args.show
        )
    phish = [
        line.strip()
        for line in (corpus / OPENPHISH).read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    det = _report("OpenPhish HEAD, heuristics only (detection)", phish, 0)
    print()
    print(f"FP rate Tranco top 10k:      {fp:.2%}")
    if fp_held is not None:
        print(f"FP rate Tranco 10k-50k:      {fp_held:.2%}")
    print(f"Detection rate OpenPhish:    {det:.2%}")


if __name__ == "__main__":
    main()
