"""`make bench` runs bench/run_all.py: every measurement script is in its list, none is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN_ALL = ROOT / "bench" / "run_all.py"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RUN_ALL), *args], capture_output=True, text=True, check=False)


def test_every_bench_script_is_run_by_make_bench() -> None:
    assert "bench/run_all.py" in (ROOT / "Makefile").read_text()
    listed = set(_run("--list").stdout.split())
    present = {p.name for p in (ROOT / "bench").glob("*.py")}
    assert listed == {p for p in present if p != "run_all.py" and not p.startswith("make_")}


def test_unknown_script_and_missing_corpus_are_usage_errors() -> None:
    unknown = _run("--only", "nope")
    assert unknown.returncode == 2 and "unknown script" in unknown.stderr
    missing = _run("--corpus", str(ROOT / "no-such-corpus"), "--only", "url_extraction")
    assert missing.returncode == 2 and "no corpus" in missing.stderr
