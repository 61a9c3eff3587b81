"""``tap365 scan`` loads only what the scan uses: without feeds, not the intelligence loader and
the blob storage SDK it brings (a third of a short scan's start). Run in a fresh interpreter;
the start's time is measured by bench/pipeline_vs_spamassassin.py, never asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAIL = ROOT / "tests" / "fixtures" / "mail" / "02-paypal-lookalike-phish.eml"
#: Needed by the service and by ``--intel``, not by a scan of mail alone.
NOT_FOR_A_SCAN = ("connectors.intel_feeds", "connectors.storage.intel", "azure.storage.blob")


def test_a_scan_without_feeds_does_not_load_the_intelligence_loader(tmp_path: Path) -> None:
    probe = (
        "import contextlib, io, json, sys\n"
        "from connectors.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    code = main(['scan', {str(MAIL)!r}, '--json', '--no-progress'])\n"
        "print(json.dumps({'code': code, 'record': json.loads(out.getvalue().splitlines()[0]),"
        " 'modules': sorted(sys.modules)}))\n"
    )
    env = {**os.environ, "TAP365_STATE_DIR": str(tmp_path), "TAP365_INTEL_FEEDS": ""}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.splitlines()[-1])
    assert answer["code"] == 0 and answer["record"]["verdict"] in ("suspicious", "malicious")
    loaded = [m for m in answer["modules"] if m in NOT_FOR_A_SCAN]
    assert loaded == []
