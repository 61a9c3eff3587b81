"""bench/pipeline_vs_spamassassin.py runs both scanners on the same mail and prints both times and
the ratio, and says clearly when SpamAssassin is missing. The figures are the bench's to report,
never asserted here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "pipeline_vs_spamassassin.py"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False, env=env)


def test_a_missing_spamassassin_is_said_and_nothing_measured(tmp_path: Path) -> None:
    done = _run("--corpus", str(ROOT / "tests" / "fixtures"), "--set", "mail", "--limit", "2",
                env={**os.environ, "PATH": str(tmp_path)})
    assert done.returncode == 2
    assert "spamassassin is missing" in done.stderr and "make system-deps" in done.stderr
    assert done.stdout == ""


def test_both_run_on_the_same_mail_and_the_ratio_is_printed() -> None:
    if shutil.which("spamassassin") is None:
        if os.environ.get("CI"):
            pytest.fail("spamassassin missing (make system-deps installs the Debian package)")
        pytest.skip("spamassassin not installed: make system-deps (as root)")
    done = _run("--corpus", str(ROOT / "tests" / "fixtures"), "--set", "mail", "--limit", "3")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("3 messages of mail")
    assert any(line.strip().startswith("CPU :") and "tap365 scan" in line and "spamassassin -L" in line
               and "ratio" in line for line in lines)
    assert "per core (CPU):" in lines[-1]
