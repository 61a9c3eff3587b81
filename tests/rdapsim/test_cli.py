"""``python -m rdapsim``: the ready line, ``--default not_found``, a clean stop; simulated_rdap's
failure report."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import requests

from connectors.devstack.rdap import PROJECT_ROOT, simulated_rdap


def test_python_m_rdapsim_prints_its_url_and_stops_cleanly() -> None:
    process = subprocess.Popen([sys.executable, "-m", "rdapsim", "--port", "0", "--default", "not_found"],
                               cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("rdapsim ready http://127.0.0.1:") and line.endswith("\n")
        base = line.split()[-1]
        unknown = requests.get(f"{base}/domain/example.com", timeout=10)
        assert unknown.status_code == 404 and unknown.json()["errorCode"] == 404
        requests.put(f"{base}/_sim/domains/example.com", json={"registered_days_ago": 30}, timeout=10)
        assert requests.get(f"{base}/domain/example.com", timeout=10).json()["objectClassName"] == "domain"
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=15)
        stderr = process.stderr.read() if process.stderr else ""
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()
    assert code == 0, stderr
    assert "Traceback" not in stderr


def test_simulated_rdap_reports_a_process_that_does_not_start() -> None:
    with pytest.raises(RuntimeError, match="did not start") as failure, simulated_rdap(default="bogus"):
        pass
    assert "invalid choice" in str(failure.value)  # argparse's reason, from stderr


def test_simulated_rdap_stops_the_process_when_the_block_fails() -> None:
    with pytest.raises(KeyError), simulated_rdap() as rdap:
        base = rdap.base_url
        raise KeyError("boom")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base}/help", timeout=5)
