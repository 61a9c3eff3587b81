"""The tap365 command line: JSON contract, exit codes, decode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "mail"
ROOT = Path(__file__).resolve().parent.parent
REQUIRED = {"source", "verdict", "action", "score", "reasons", "findings", "urls", "attachments", "impersonation",
            "elapsed_ms", "error"}


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "connectors.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=full_env, timeout=120)


@pytest.fixture
def state(tmp_path: Path) -> dict[str, str]:
    return {"TAP365_STATE_DIR": str(tmp_path / "state")}


def test_scan_json_contract_and_decode_round_trip(state: dict[str, str]) -> None:
    result = run("scan", str(FIXTURES), "--json", env=state)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 6
    for r in records:
        assert REQUIRED <= r.keys()
        assert r["verdict"] in ("clean", "suspicious", "malicious")
        assert r["action"] in ("deliver", "log", "rewrite", "tag", "hold", "quarantine")
        assert isinstance(r["score"], float)
        weights = [f["weight"] for f in r["findings"]]
        assert weights == sorted(weights, reverse=True)  # the message score's contributions, strongest first
        contributing = [f["name"] for f in r["findings"] if f["weight"] > 0]
        named = [reason.split(" ", 1)[0] for reason in r["reasons"]]
        assert [n for n in named if n in contributing[:6]] == contributing[:6]  # most weight first
        for u in r["urls"]:
            assert {"url", "verdict", "reasons", "rewritten"} <= u.keys()
    rewritten = [(u["url"], u["rewritten"]) for r in records for u in r["urls"] if u["rewritten"]]
    assert rewritten
    decoded = run("decode", "--verify", *[link for _, link in rewritten], env=state)
    assert decoded.returncode == 0, decoded.stdout + decoded.stderr
    lines = decoded.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == [url for url, _ in rewritten]
    assert all("\tvalid" in line for line in lines)


def test_decode_without_key_and_forged_link(state: dict[str, str]) -> None:
    result = run("scan", str(FIXTURES / "01-newsletter-clean.eml"), "--json", env=state)
    link = next(u["rewritten"] for u in json.loads(result.stdout)["urls"] if u["rewritten"])
    other_state = {"TAP365_STATE_DIR": state["TAP365_STATE_DIR"] + "-other"}
    plain = run("decode", link, env=other_state)
    assert plain.returncode == 0 and plain.stdout.strip() == link.split("?", 1)[1]
    forged = run("decode", "--verify", link, env=other_state)
    assert forged.returncode == 1 and "INVALID" in forged.stdout
    assert run("decode", "https://example.com/?x=1", env=state).returncode == 1


def test_usage_errors_exit_2(state: dict[str, str], tmp_path: Path) -> None:
    assert run("scan", str(tmp_path / "missing"), env=state).returncode == 2
    assert run("scan", env=state).returncode == 2
    bad_policy = tmp_path / "p.yaml"
    bad_policy.write_text("url: {malicious_action: explode}\n")
    r = run("scan", str(FIXTURES), "--policy", str(bad_policy), env=state)
    assert r.returncode == 2 and "malicious_action" in r.stderr
    assert run("nonsense", env=state).returncode == 2


def test_unreadable_file_is_an_error_record_not_a_crash(state: dict[str, str], tmp_path: Path) -> None:
    good = tmp_path / "m.eml"
    good.write_bytes((FIXTURES / "01-newsletter-clean.eml").read_bytes())
    garbage = tmp_path / "g.eml"
    garbage.write_bytes(b"\x00\xff" * 5000)
    r = run("scan", str(tmp_path), "--json", env=state)
    assert r.returncode == 0
    records = {Path(x["source"]).name: x for x in map(json.loads, r.stdout.splitlines())}
    assert records["m.eml"]["error"] is None
    assert records["g.eml"]["verdict"] is not None  # parsed with defects, still decided


def test_policy_and_intel_options(state: dict[str, str], tmp_path: Path) -> None:
    feed = tmp_path / "feed.txt"
    feed.write_text("https://www.example.org/calendar\n")
    r = run("scan", str(FIXTURES / "01-newsletter-clean.eml"), "--json", "--intel", str(feed), env=state)
    record = json.loads(r.stdout)
    assert record["verdict"] == "malicious" and record["action"] == "quarantine"
    policy = tmp_path / "p.yaml"
    policy.write_text("url: {malicious_action: hold}\n")
    r = run("scan", str(FIXTURES / "01-newsletter-clean.eml"), "--json", "--intel", str(feed),
            "--policy", str(policy), env=state)
    assert json.loads(r.stdout)["action"] == "hold"


def test_scan_file_json(state: dict[str, str], tmp_path: Path) -> None:
    sample = tmp_path / "eicar.txt"
    sample.write_bytes(b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")
    r = run("scan-file", str(sample), "--json", env=state)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert {"source", "type", "sha256", "verdict", "reasons", "children"} <= report.keys()
    assert report["verdict"] == "malicious"


def test_a_malformed_pdf_is_a_finding_not_library_noise_on_stderr(state: dict[str, str], tmp_path: Path) -> None:
    import base64

    broken = b"\n\x89garbage %PDF-1.7\n1 0 obj << /Type /Catalog >>\n"  # no xref, no trailer, no EOF
    eml = tmp_path / "broken.eml"
    eml.write_text(
        "From: a@b.example\nTo: c@d.example\nSubject: pdf\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nsee file\n"
        "--b\nContent-Type: application/pdf; name=x.pdf\nContent-Disposition: attachment; filename=x.pdf\n"
        f"Content-Transfer-Encoding: base64\n\n{base64.b64encode(broken).decode()}\n--b--\n")
    result = run("scan", str(eml), "--json", env=state)
    assert result.returncode == 0
    assert result.stderr == ""
    record = json.loads(result.stdout)
    assert any("pdf" in r for a in record["attachments"] for r in a.get("reasons", [])), record["attachments"]


def _age_mail(path: Path) -> Path:
    path.write_text(
        "From: Accounts <mark@northwind-ledger.com>\nTo: alice@contoso.com\nSubject: Q4 statement\n"
        "Date: Tue, 08 Dec 2026 08:59:00 +0000\nMessage-ID: <q4@cli.test>\nContent-Type: text/html\n\n"
        '<p>Your statement: <a href="https://northwind-docs.com/files/q4">Q4 statement</a></p>\n'
    )
    return path


def test_scan_rdap_looks_domains_up_only_when_asked(state: dict[str, str], tmp_path: Path, rdap_sim) -> None:
    from datetime import UTC, datetime, timedelta

    registered = datetime.now(UTC) - timedelta(days=2, hours=1)  # the scan's clock is now
    rdap_sim.set_domain("northwind-docs.com", registered=registered.strftime("%Y-%m-%dT%H:%M:%SZ"))
    rdap_sim.set_domain("northwind-ledger.com", behaviour="error", status=503)
    env = {**state, "TAP365_RDAP_BOOTSTRAP": str(rdap_sim.write_bootstrap(tmp_path / "dns.json", ["com"]))}
    message = _age_mail(tmp_path / "q4.eml")

    offline = run("scan", str(message), "--json", env=env)
    assert offline.returncode == 0, offline.stderr
    assert rdap_sim.stats()["requests"] == 0  # the command stays offline unless asked
    assert not [f for f in json.loads(offline.stdout)["findings"] if f["name"].startswith("domain_")]

    asked = run("scan", str(message), "--json", "--rdap", env=env)
    assert asked.returncode == 0, asked.stderr
    record = json.loads(asked.stdout)
    findings = {f["name"]: f for f in record["findings"]}
    recent = findings["domain_registered_recently"]
    assert recent["evidence"].startswith("northwind-docs.com registered ")
    assert "2 days before the message (the link's domain)" in recent["evidence"]
    assert recent["weight"] > 0
    unknown = findings["domain_age_unknown"]
    assert "northwind-ledger.com" in unknown["evidence"] and "503" in unknown["evidence"]
    assert unknown["weight"] == 0
    assert rdap_sim.stats()["by_domain"].keys() == {"northwind-docs.com", "northwind-ledger.com"}


def test_scan_rdap_with_an_unusable_bootstrap_is_a_usage_error(state: dict[str, str], tmp_path: Path) -> None:
    bootstrap = tmp_path / "dns.json"
    bootstrap.write_text(json.dumps({"version": "1.0", "services": [[["com"], ["http://rdap.example.net/"]]]}))
    result = run("scan", str(_age_mail(tmp_path / "q4.eml")), "--rdap", env={**state, "TAP365_RDAP_BOOTSTRAP": str(bootstrap)})
    assert result.returncode == 2
    assert "https" in result.stderr
