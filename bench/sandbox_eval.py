"""Dynamic analysis and Safe File, measured.

* ``sandbox``: builds the Windows test programs of ``tests/sandbox/programs`` with mingw-w64,
  detonates each (and the JScript dropper, when box-js is installed) through ``LocalSandbox`` and
  prints the behaviours seen, the findings, the verdict and the time per run;
* ``safefile``: converts the corpus PDFs (pdf.js test files, spam PDFs) and Office files to Safe
  File PDFs and counts conversions, refusals, pages, bytes, time, and any active content left
  (must be zero).

    .venv/bin/python bench/sandbox_eval.py [--corpus ../shared/corpus] [--only sandbox|safefile]
        [--libreoffice] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.sandbox.dispatcher import LocalSandbox, run_to_completion  # noqa: E402
from tap_core.attachments.safefile import SafeFileError, active_content, safe_file  # noqa: E402
from tap_core.attachments.sandbox import SandboxError, behaviour_findings, sandbox_verdict  # noqa: E402

PROGRAMS = ROOT / "tests" / "sandbox" / "programs"
LIBS = {"run_key": ["-ladvapi32"], "c2_beacon": ["-lwininet"], "downloader": ["-lurlmon"]}


def sandbox_runs() -> list[dict[str, Any]]:
    samples: list[tuple[str, bytes]] = []
    if shutil.which("x86_64-w64-mingw32-gcc"):
        with tempfile.TemporaryDirectory() as tmp:
            for source in sorted(PROGRAMS.glob("*.c")):
                if source.stem == "spin":
                    continue  # only meaningful with a CPU limit (a test covers it)
                exe = Path(tmp) / f"{source.stem}.exe"
                cmd = [
                    "x86_64-w64-mingw32-gcc",
                    "-O1",
                    "-s",
                    "-o",
                    str(exe),
                    str(source),
                    *LIBS.get(source.stem, []),
                ]
                subprocess.run(cmd, check=True, timeout=120)
                samples.append((exe.name, exe.read_bytes()))
    else:
        print("mingw-w64 missing: no Windows programs (apt-get install mingw-w64)", file=sys.stderr)
    samples += [(p.name, p.read_bytes()) for p in sorted(PROGRAMS.glob("*.js"))]
    sandbox = LocalSandbox.from_environment()
    rows = []
    try:
        for name, data in samples:
            started = time.monotonic()
            try:
                report = run_to_completion(sandbox, name, data, timeout_seconds=120)
            except SandboxError as exc:
                rows.append({"sample": name, "error": str(exc)})
                continue
            findings = behaviour_findings(report)
            rows.append({
                "sample": name,
                "provider": report.provider,
                "verdict": sandbox_verdict(report).value,
                "findings": {f.name: f.evidence for f in findings},
                "errors": report.errors,
                "seconds": round(time.monotonic() - started, 2),
            })  # fmt: skip
    finally:
        sandbox.close()
    return rows


def safefile_runs(corpus: Path, libreoffice: bool = False) -> dict[str, Any]:
    files = [p for p in sorted((corpus / "attachments").rglob("*")) if p.is_file() and p.suffix.lower() in
             (".pdf", ".doc", ".docx", ".docm", ".xls", ".xlsx", ".xlsm", ".pptx", ".rtf")]  # fmt: skip
    methods: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    leftovers: list[str] = []
    pages = out_bytes = in_bytes = 0
    office = None
    if libreoffice:
        from connectors.sandbox.libreoffice import LibreOfficeConverter

        office = LibreOfficeConverter()
    started = time.monotonic()
    for path in files:
        data = path.read_bytes()
        try:
            result = safe_file(path.name, data, office=office)
        except SafeFileError as exc:
            refused[str(exc).split(":")[0][:60]] += 1
            continue
        methods[result.method] += 1
        pages += result.pages
        in_bytes += len(data)
        out_bytes += len(result.pdf)
        if active_content(result.pdf):
            leftovers.append(path.name)
    seconds = time.monotonic() - started
    return {
        "files": len(files),
        "converted": dict(methods),
        "refused": dict(refused),
        "pages": pages,
        "input_mb": round(in_bytes / 1e6, 2),
        "output_mb": round(out_bytes / 1e6, 2),
        "seconds": round(seconds, 1),
        "files_per_second": round(len(files) / seconds, 2) if seconds else None,
        "active_content_left": leftovers,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--only", choices=["sandbox", "safefile"])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--libreoffice", action="store_true", help="render Office files with LibreOffice")
    args = parser.parse_args()
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # hostile PDFs make pypdf chatty
    out: dict[str, Any] = {}
    if args.only in (None, "sandbox"):
        out["sandbox"] = sandbox_runs()
    if args.only in (None, "safefile"):
        out["safefile"] = safefile_runs(args.corpus, args.libreoffice)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    for row in out.get("sandbox", []):
        if "error" in row:
            print(f"{row['sample']:<18} ERROR {row['error']}")
            continue
        found = ", ".join(row["findings"]) or "-"
        print(
            f"{row['sample']:<18} {row['provider']:<10} {row['verdict']:<11} {row['seconds']:>6.2f}s  {found}"
        )
    if "safefile" in out:
        print(json.dumps(out["safefile"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
