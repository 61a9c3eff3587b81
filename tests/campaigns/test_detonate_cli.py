"""``tap365 scan-file --detonate``: the files run in the local sandboxes as the service runs a
held message's attachments, their behaviour merged into the scan-file JSON (``reasons``, and
findings whose ``evidence`` names the registry key, the dropped file and the host)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from connectors.sandbox.boxjs_provider import find_boxjs
from connectors.sandbox.speakeasy_provider import speakeasy_available
from tests.sandbox.conftest import PROGRAMS, need, windows_programs  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[2]


def _scan_file(tmp_path: Path, *args: str) -> list[dict[str, Any]]:
    env = {**os.environ, "TAP365_STATE_DIR": str(tmp_path / "state")}
    env.pop("TAP365_SANDBOX_URL", None)  # the local emulators only
    done = subprocess.run([sys.executable, "-m", "connectors.cli", "scan-file", "--json", *args],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def test_detonate_merges_behaviour_into_the_scan_file_json(
    tmp_path: Path, windows_programs: dict[str, bytes]  # noqa: F811
) -> None:
    need(speakeasy_available(), "speakeasy not installed: pip install speakeasy-emulator==1.5.11")
    need(bool(shutil.which("node") and find_boxjs()), "box-js needs Node.js and box-js")
    run_key = tmp_path / "run_key.exe"
    run_key.write_bytes(windows_programs["run_key"])
    benign = tmp_path / "notes.txt"
    benign.write_text("nothing to run here\n")
    dropper = PROGRAMS / "dropper.js"

    static = {r["source"]: r for r in _scan_file(tmp_path, str(run_key), str(dropper))}
    reports = {r["source"]: r for r in _scan_file(tmp_path, "--detonate", str(run_key), str(dropper),
                                                   str(benign))}
    assert all("sandbox" not in r for r in static.values())

    js = reports[str(dropper)]
    assert js["sandbox"]["status"] == "concluded" and js["sandbox"]["provider"] == "box-js"
    assert js["verdict"] == "malicious"  # static alone says suspicious
    assert static[str(dropper)]["verdict"] != "malicious"
    assert set(static[str(dropper)]["reasons"]) < set(js["reasons"])  # static reasons kept, sandbox's added
    evidence = {f["name"]: f["evidence"] for f in js["findings"] if f.get("source") == "sandbox"}
    assert "C:\\Users\\Public\\payload.exe" in evidence["sandbox_dropped_executable"]
    assert "evil.test" in evidence["sandbox_download"]
    assert js["sandbox"]["behaviour"]["files"] == ["C:\\Users\\Public\\payload.exe"]
    assert "evil.test" in js["sandbox"]["behaviour"]["hosts"]

    exe = reports[str(run_key)]
    assert exe["sandbox"]["provider"] == "speakeasy"
    sandbox_evidence = " ".join(f["evidence"] for f in exe["findings"] if f.get("source") == "sandbox")
    assert "CurrentVersion\\Run" in sandbox_evidence
    assert any("CurrentVersion\\Run" in key for key in exe["sandbox"]["behaviour"]["registry"])

    # No sandbox runs a text file: said, not guessed; the static verdict stands.
    text = reports[str(benign)]
    assert text["sandbox"]["status"] == "unanalysed" and text["sandbox"]["reason"]
    assert text["verdict"] == "clean"
