"""Attachment Protect static analysis over the shared corpus: what is flagged, by which finding, how fast.

Sets:
* ``office``: the python-oletools test files (macros, XLM, DDE, OLE objects, encryption, clean ones);
* ``pdf``: pdf.js test files (``MANIFEST.tsv`` lists the active-content keywords of each; the
  ``clean_*`` files have none) and the spam PDFs of pdfinfo2;
* ``phishing``: the attachments of ``phishing/real/*.eml`` (parsed with ``tap_core.parsing.mime``).

For every set: files, verdict counts, per-finding counts (files whose tree carries the finding),
files per second. For pdf.js also: per manifest keyword, how many files carrying it were found by
the matching finding, and how many ``clean_*`` files were flagged.

    .venv/bin/python bench/attachments_eval.py [--corpus ../shared/corpus] [--json] [--show 10]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.logs import quiet_third_party_loggers
from tap_core.attachments.engine import AttachmentEngine
from tap_core.attachments.model import FileResult
from tap_core.attachments.protect import iter_attachments
from tap_core.model.findings import Verdict
from tap_core.parsing.mime import parse_eml

_SKIP = {"LICENSE", "LICENSE.md", "MANIFEST.tsv", "info.t"}
# Manifest keyword -> findings that account for it.
_KEYWORD_FINDINGS: dict[str, set[str]] = {
    "/JavaScript": {"pdf_javascript"},
    "/JS": {"pdf_javascript"},
    "/OpenAction": {"pdf_auto_action", "pdf_javascript", "pdf_launch"},
    "/AA": {"pdf_auto_action", "pdf_javascript"},
    "/Launch": {"pdf_launch"},
    "/EmbeddedFile": {"pdf_embedded_file", "encrypted_document"},
    "/XFA": {"pdf_xfa"},
    "/GoToR": {"pdf_remote_goto"},
    "/Encrypt": {"pdf_encrypted", "encrypted_document", "decrypted_with_password"},
}


def _files(folder: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name not in _SKIP:
            yield str(path.relative_to(folder)), path.read_bytes()


def _phishing(folder: Path) -> Iterator[tuple[str, bytes, list[str]]]:
    from tap_core.attachments.passwords import message_passwords

    for path in sorted(folder.glob("*.eml")):
        message = parse_eml(path.read_bytes(), source=str(path))
        passwords = message_passwords(message)
        for name, attachment in iter_attachments(message):
            yield f"{path.name}/{name}", attachment.data, passwords


def _run(
    engine: AttachmentEngine, items: list[tuple[str, bytes, list[str]]]
) -> tuple[list[FileResult], float]:
    started = time.perf_counter()
    results = [engine.scan(name, data, passwords=pw) for name, data, pw in items]
    return results, time.perf_counter() - started


def _summary(
    label: str,
    items: list[tuple[str, bytes, list[str]]],
    results: list[FileResult],
    elapsed: float,
    show: int,
) -> dict[str, Any]:
    verdicts = Counter(r.verdict.value for r in results)
    findings: Counter[str] = Counter()
    for result in results:
        findings.update({f.name for f in result.all_findings()})
    size = sum(len(data) for _, data, _ in items)
    extracted = sum(sum(1 for _ in r.walk()) - 1 for r in results)
    flagged = [
        {
            "file": r.name,
            "verdict": r.verdict.value,
            "score": r.score,
            "findings": sorted({f.name for f in r.all_findings()}),
        }
        for r in sorted(results, key=lambda r: r.score, reverse=True)
        if r.verdict is not Verdict.CLEAN
    ]
    return {
        "set": label,
        "files": len(results),
        "extracted_children": extracted,
        "bytes": size,
        "seconds": round(elapsed, 3),
        "files_per_second": round(len(results) / elapsed, 1) if elapsed else None,
        "megabytes_per_second": round(size / 1e6 / elapsed, 2) if elapsed else None,
        "verdicts": dict(verdicts),
        "flagged": len(flagged),
        "per_finding": dict(findings.most_common()),
        "urls": sum(len(r.all_urls()) for r in results),
        "scanner_errors": sum(1 for r in results for n in r.walk() if n.errors),
        "top_flagged": flagged[:show],
    }


def _pdfjs_manifest(folder: Path, results: dict[str, FileResult]) -> dict[str, Any]:
    manifest = folder / "pdfjs" / "MANIFEST.tsv"
    if not manifest.exists():
        return {}
    coverage: dict[str, dict[str, int]] = {}
    for line in manifest.read_text().splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        result = results.get(f"pdfjs/{parts[0]}")
        if result is None:
            continue
        names = {f.name for f in result.all_findings()}
        for keyword in parts[2].split():
            wanted = _KEYWORD_FINDINGS.get(keyword)
            if wanted is None:
                continue
            entry = coverage.setdefault(keyword, {"files": 0, "found": 0})
            entry["files"] += 1
            entry["found"] += bool(names & wanted)
    clean = [r for name, r in results.items() if name.startswith("pdfjs/clean_")]
    return {
        "keyword_coverage": coverage,
        "clean_files": len(clean),
        "clean_flagged": [r.name for r in clean if r.verdict is not Verdict.CLEAN],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="../shared/corpus", type=Path)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--show", type=int, default=10, help="flagged files listed per set")
    args = parser.parse_args()
    quiet_third_party_loggers()  # as the CLI: malformed PDFs are findings, not warnings
    logging.disable(logging.WARNING)  # parsers log every oddity of hostile files
    corpus: Path = args.corpus
    engine = AttachmentEngine(cache_size=0)  # measure analysis, not the cache
    sets = {
        "office": [(n, d, []) for n, d in _files(corpus / "attachments" / "office")],
        "pdf": [(n, d, []) for n, d in _files(corpus / "attachments" / "pdf")],
        "phishing": list(_phishing(corpus / "phishing" / "real")),
    }
    report: dict[str, Any] = {"sets": []}
    total_files = 0
    total_time = 0.0
    for label, items in sets.items():
        results, elapsed = _run(engine, items)
        total_files += len(results)
        total_time += elapsed
        summary = _summary(label, items, results, elapsed, args.show)
        if label == "pdf":
            summary["pdfjs"] = _pdfjs_manifest(corpus / "attachments" / "pdf", {r.name: r for r in results})
        report["sets"].append(summary)
    report["total"] = {
        "files": total_files,
        "seconds": round(total_time, 3),
        "files_per_second": round(total_files / total_time, 1) if total_time else None,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    return 0


def _print(report: dict[str, Any]) -> None:
    for summary in report["sets"]:
        print(
            f"== {summary['set']}: {summary['files']} files ({summary['extracted_children']} extracted), "
            f"{summary['seconds']} s, {summary['files_per_second']} files/s, "
            f"{summary['megabytes_per_second']} MB/s"
        )
        print("   verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(summary["verdicts"].items())))
        print(
            f"   flagged {summary['flagged']}/{summary['files']}; urls {summary['urls']}; "
            f"files with scanner errors {summary['scanner_errors']}"
        )
        print("   per finding: " + ", ".join(f"{k} {v}" for k, v in summary["per_finding"].items()))
        pdfjs = summary.get("pdfjs")
        if pdfjs:
            print(
                "   pdf.js manifest keywords found: "
                + ", ".join(
                    f"{k} {v['found']}/{v['files']}" for k, v in sorted(pdfjs["keyword_coverage"].items())
                )
            )
            print(f"   pdf.js clean_* files flagged: {len(pdfjs['clean_flagged'])}/{pdfjs['clean_files']}")
        for item in summary["top_flagged"]:
            print(
                f"   - {item['verdict']:10} {item['score']:5.1f} {item['file'][:60]:60} "
                + ", ".join(item["findings"])
            )
    total = report["total"]
    print(f"== total: {total['files']} files in {total['seconds']} s = {total['files_per_second']} files/s")


if __name__ == "__main__":
    raise SystemExit(main())
