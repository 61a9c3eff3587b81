"""Speakeasy on Windows programs compiled at test time, box-js on a tiny JScript dropper, and the
LocalSandbox dispatcher. Needs mingw-w64 and speakeasy-emulator (Node.js + box-js for box-js)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.sandbox.boxjs_provider import BoxJsProvider, find_boxjs, parse_results, wsf_to_jscript
from connectors.sandbox.dispatcher import LocalSandbox, run_to_completion
from connectors.sandbox.local import RunLimits
from connectors.sandbox.speakeasy_provider import SpeakeasyProvider, speakeasy_available
from tap_core.attachments.sandbox import (
    SandboxReport,
    SandboxStatus,
    UnsupportedFile,
    behaviour_findings,
    sandbox_verdict,
)
from tap_core.model.findings import Verdict
from tests.sandbox.conftest import need

RUN_KEY = r"HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Run"
DROPPER_JS = Path(__file__).parent / "programs" / "dropper.js"


@pytest.fixture(scope="module")
def speakeasy() -> Iterator[SpeakeasyProvider]:
    need(speakeasy_available(), "speakeasy not installed: pip install speakeasy-emulator==1.5.11")
    provider = SpeakeasyProvider()
    yield provider
    provider.close()


def detonate(
    provider: SpeakeasyProvider | BoxJsProvider | LocalSandbox, name: str, data: bytes
) -> SandboxReport:
    return run_to_completion(provider, name, data, timeout_seconds=60)


def test_drop_file(speakeasy: SpeakeasyProvider, windows_programs: dict[str, bytes]) -> None:
    report = detonate(speakeasy, "drop_file.exe", windows_programs["drop_file"])
    assert [f.path for f in report.files_dropped] == [r"C:\Windows\Temp\payload.exe"]
    assert report.files_dropped[0].size == 50 and report.files_dropped[0].sha256
    assert "sandbox_dropped_executable" in {f.name for f in behaviour_findings(report)}
    assert sandbox_verdict(report) is Verdict.MALICIOUS


def test_run_key(speakeasy: SpeakeasyProvider, windows_programs: dict[str, bytes]) -> None:
    report = detonate(speakeasy, "run_key.exe", windows_programs["run_key"])
    assert report.errors == []  # the registry hooks kept the emulation going
    values = [(r.action, r.key, r.value_name, r.data) for r in report.registry_changes]
    assert ("create_key", RUN_KEY, "", "") in values
    assert ("set_value", RUN_KEY, "Updater", r"C:\Windows\Temp\payload.exe") in values
    assert "sandbox_autorun_registry" in {f.name for f in behaviour_findings(report)}
    assert sandbox_verdict(report) is Verdict.MALICIOUS


def test_c2_beacon(speakeasy: SpeakeasyProvider, windows_programs: dict[str, bytes]) -> None:
    report = detonate(speakeasy, "c2_beacon.exe", windows_programs["c2_beacon"])
    assert "http://c2.test/beacon" in {n.url for n in report.network}
    assert {n.host for n in report.network} == {"c2.test"}
    assert {f.name for f in behaviour_findings(report)} == {"sandbox_http_request"}
    assert (
        sandbox_verdict(report) is Verdict.SUSPICIOUS
    )  # a callback alone holds; with a drop it is malicious


def test_downloader(speakeasy: SpeakeasyProvider, windows_programs: dict[str, bytes]) -> None:
    report = detonate(speakeasy, "downloader.exe", windows_programs["downloader"])
    assert ("download", "http://c2.test/stage2.exe") in {(n.kind, n.url) for n in report.network}
    assert [f.path for f in report.files_dropped] == [r"C:\Windows\Temp\stage2.exe"]
    names = {f.name for f in behaviour_findings(report)}
    assert {"sandbox_download", "sandbox_dropped_executable", "sandbox_network_contact"} <= names
    assert sandbox_verdict(report) is Verdict.MALICIOUS


def test_spawn_shell(speakeasy: SpeakeasyProvider, windows_programs: dict[str, bytes]) -> None:
    report = detonate(speakeasy, "spawn_shell.exe", windows_programs["spawn_shell"])
    assert [p.command for p in report.processes] == ["cmd.exe /c whoami"]
    assert "sandbox_shell_command" in {f.name for f in behaviour_findings(report)}
    assert sandbox_verdict(report) is Verdict.MALICIOUS


def test_benign(speakeasy: SpeakeasyProvider, windows_programs: dict[str, bytes]) -> None:
    report = detonate(speakeasy, "benign.exe", windows_programs["benign"])
    assert report.observed_nothing and report.errors == [] and not report.timed_out
    assert sandbox_verdict(report) is Verdict.CLEAN


def test_wall_time_limit_kills_and_reports_timeout(windows_programs: dict[str, bytes]) -> None:
    need(speakeasy_available(), "speakeasy not installed")
    provider = SpeakeasyProvider(limits=RunLimits(wall_seconds=0.05))
    try:
        submission = provider.submit("benign.exe", windows_programs["benign"], 60)
        while provider.status(submission) is SandboxStatus.RUNNING:
            time.sleep(0.05)
        assert provider.report(submission).timed_out
    finally:
        provider.close()


def test_cpu_limit_ends_a_spinning_sample(windows_programs: dict[str, bytes]) -> None:
    need(speakeasy_available(), "speakeasy not installed")
    provider = SpeakeasyProvider(limits=RunLimits(cpu_seconds=3, wall_seconds=60))
    try:
        report = detonate(provider, "spin.exe", windows_programs["spin"])
    finally:
        provider.close()
    assert report.timed_out and "CPU-time limit" in report.errors[0]


def test_speakeasy_refuses_non_pe() -> None:
    need(speakeasy_available(), "speakeasy not installed")
    provider = SpeakeasyProvider()
    with pytest.raises(UnsupportedFile):
        provider.submit("a.pdf", b"%PDF-1.7\n", 60)


def _boxjs() -> BoxJsProvider:
    if not (shutil.which("node") and find_boxjs()):
        pytest.skip("box-js needs Node.js and `npm install box-js@1.9.27` (or TAP365_BOXJS=<path>/box-js)")
    return BoxJsProvider()


def test_boxjs_dropper() -> None:
    provider = _boxjs()
    try:
        report = detonate(provider, "invoice.js", DROPPER_JS.read_bytes())
    finally:
        provider.close()
    assert {(n.kind, n.url) for n in report.network} == {("download", "http://evil.test/payload.exe")}
    assert [f.path for f in report.files_dropped] == [r"C:\Users\Public\payload.exe"]
    assert [p.command for p in report.processes] == [r"C:\Users\Public\payload.exe"]
    names = {f.name for f in behaviour_findings(report)}
    assert {"sandbox_download", "sandbox_dropped_executable", "sandbox_process_created"} <= names
    assert sandbox_verdict(report) is Verdict.MALICIOUS


def test_dispatcher_routes_by_kind(windows_programs: dict[str, bytes]) -> None:
    need(speakeasy_available(), "speakeasy not installed")
    sandbox = LocalSandbox(speakeasy=SpeakeasyProvider())
    try:
        assert sandbox.route("x.exe", windows_programs["benign"]) == "speakeasy"
        with pytest.raises(UnsupportedFile, match="box-js backend is not installed"):
            sandbox.route("x.js", DROPPER_JS.read_bytes())
        with pytest.raises(UnsupportedFile, match="configure CAPE"):
            sandbox.route("x.pdf", b"%PDF-1.7\n")
        report = detonate(sandbox, "run_key.exe", windows_programs["run_key"])
        assert report.provider == "speakeasy" and sandbox_verdict(report) is Verdict.MALICIOUS
    finally:
        sandbox.close()


def test_from_environment_uses_what_is_installed() -> None:
    sandbox = LocalSandbox.from_environment()
    try:
        assert ("speakeasy" in sandbox.backends) == speakeasy_available()
        assert ("box-js" in sandbox.backends) == bool(shutil.which("node") and find_boxjs())
    finally:
        sandbox.close()


def test_boxjs_results_mapping_without_node() -> None:
    """box-js's results folder (a real run's IOC.json plus RegWrite/CommandExec entries) -> report."""
    results = Path(__file__).parent / "fixtures" / "boxjs_results"
    report = parse_results(results, SandboxReport(provider="box-js"))
    assert {(n.kind, n.url) for n in report.network} == {
        ("download", "http://evil.test/payload.exe"),
        ("http", "http://cdn.test/ping"),
    }
    assert [f.path for f in report.files_dropped] == [r"C:\Users\Public\payload.exe"]
    assert [(r.key, r.value_name) for r in report.registry_changes] == [
        (r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run", "upd")
    ]
    assert [p.command for p in report.processes] == [
        r"C:\Users\Public\payload.exe",
        "powershell -nop -w hidden -c iex(1)",
    ]
    names = {f.name for f in behaviour_findings(report)}
    assert {"sandbox_autorun_registry", "sandbox_shell_command", "sandbox_download"} <= names


def test_wsf_jscript_extraction() -> None:
    wsf = (
        b'<job><script language="VBScript">MsgBox 1</script>'
        b'<script language="JScript"><![CDATA[var a = 1;]]></script>'
        b"<script language='javascript'>var b = 2;</script></job>"
    )
    assert wsf_to_jscript(wsf) == b"var a = 1;\n;\nvar b = 2;"
    with pytest.raises(UnsupportedFile, match="VBScript"):
        wsf_to_jscript(b'<job><script language="VBScript">MsgBox 1</script></job>')


def test_boxjs_wsf() -> None:
    provider = _boxjs()
    wsf = b'<job id="x"><script language="JScript">\n' + DROPPER_JS.read_bytes() + b"\n</script></job>"
    try:
        report = detonate(provider, "order.wsf", wsf)
    finally:
        provider.close()
    assert sandbox_verdict(report) is Verdict.MALICIOUS
