"""`tap365 doctor` as an admin runs it, against the simulated tenant."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from m365sim.testing import SimHandle

ROOT = Path(__file__).resolve().parents[2]


def doctor(sim: SimHandle, *args: str) -> subprocess.CompletedProcess[str]:
    app = sim.app(0)
    env = {**os.environ, "TAP365_GRAPH_AUTHORITY_HOST": sim.base_url, "TAP365_GRAPH_BASE_URL": sim.graph_url,
           "TAP365_GRAPH_CLIENT_ID": app["clientId"], "TAP365_GRAPH_CLIENT_SECRET": app["secrets"][0],
           "TAP365_GRAPH_CA_BUNDLE": sim.ca_path}
    return subprocess.run([sys.executable, "-m", "connectors.cli", "doctor", "--tenant", sim.tenant(0)["id"],
                           "--json", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_doctor_reports_roles_and_flags_missing_mail_advanced(sim: SimHandle) -> None:
    ok = doctor(sim)
    report = json.loads(ok.stdout)
    assert report["token_ok"] and "Mail-Advanced.ReadWrite" in report["roles"]
    sim.grant(["Mail.ReadWrite", "User.Read.All"])
    missing = doctor(sim)
    assert missing.returncode == 1
    assert "Mail-Advanced.ReadWrite" in json.loads(missing.stdout)["missing_roles"]


def test_doctor_without_configuration_says_what_to_set() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP365_GRAPH_")}
    r = subprocess.run([sys.executable, "-m", "connectors.cli", "doctor", "--tenant", "x"], capture_output=True,
                       text=True, env=env, cwd=ROOT, timeout=60)
    assert r.returncode == 2 and "TAP365_GRAPH_CLIENT_ID" in r.stderr
