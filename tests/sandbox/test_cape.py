"""The CAPEv2 client against the CAPE simulator: submit, status progression, report mapping,
the orchestration's timeout, token and HTTP errors."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from connectors.sandbox.cape import CapeProvider, map_report
from connectors.sandbox.dispatcher import LocalSandbox, run_to_completion
from tap_core.attachments.policy import AttachmentPolicy
from tap_core.attachments.sandbox import (
    Concluded,
    Poll,
    SandboxError,
    SandboxStatus,
    SubmissionId,
    TimedOut,
    advance,
    outcome,
    sandbox_verdict,
    start_job,
)
from tap_core.model.findings import Verdict
from tests.sandbox.cape_sim import CapeSimulator

SAMPLE = b"%PDF-1.7\n% pretend sample\n"
MALWARE_REPORT = {
    "network": {
        "hosts": [{"ip": "203.0.113.7", "country_name": "", "hostname": ""}],
        "domains": [{"domain": "c2.test", "ip": "203.0.113.7"}],
        "http": [{"host": "c2.test", "port": 80, "uri": "http://c2.test/gate.php", "method": "POST"}],
        "tcp": [{"src": "192.168.1.2", "dst": "203.0.113.7", "sport": 49152, "dport": 80}],
    },
    "behavior": {
        "summary": {
            "write_files": [r"C:\Users\u\AppData\Roaming\upd.exe"],
            "write_keys": [r"HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Run\upd"],
            "delete_keys": [],
            "executed_commands": [r"cmd.exe /c start C:\Users\u\AppData\Roaming\upd.exe"],
        }
    },
    "dropped": [{"name": "upd.exe", "guest_paths": [r"C:\Users\u\AppData\Roaming\upd.exe"], "size": 4096,
                 "sha256": "cd" * 32, "type": "PE32 executable (GUI) Intel 80386, for MS Windows"}],
    "signatures": [{"name": "persistence_autorun", "description": "Installs itself for autorun", "severity": 3}],
    "debug": {"errors": []},
}  # fmt: skip


def test_submit_poll_report(cape_sim: tuple[CapeSimulator, str]) -> None:
    sim, url = cape_sim
    sim.reports[hashlib.sha256(SAMPLE).hexdigest()] = MALWARE_REPORT
    cape = CapeProvider(url, token=sim.token)
    try:
        task = cape.submit("invoice.pdf", SAMPLE, 200)
        assert sim.tasks[int(task)].timeout == 200 and sim.tasks[int(task)].name == "invoice.pdf"
        with pytest.raises(SandboxError, match="still being analyzed"):
            cape.report(task)
        statuses = [cape.status(task) for _ in range(4)]
        assert statuses == [
            SandboxStatus.PENDING,
            SandboxStatus.RUNNING,
            SandboxStatus.RUNNING,
            SandboxStatus.DONE,
        ]
        report = cape.report(task)
    finally:
        cape.close()
    assert report.provider == "cape" and report.sample_name == "invoice.pdf"
    assert {(n.kind, n.url or n.host or n.ip) for n in report.network} == {
        ("tcp", "203.0.113.7"), ("dns", "c2.test"), ("http", "http://c2.test/gate.php")
    }  # fmt: skip
    assert [f.path for f in report.files_dropped] == [r"C:\Users\u\AppData\Roaming\upd.exe"]
    assert report.files_dropped[0].kind == "exe"
    assert report.registry_changes[0].key.endswith(r"CurrentVersion\Run\upd")
    assert report.processes[0].command.startswith("cmd.exe")
    assert report.signatures[0].severity == 3
    assert sandbox_verdict(report) is Verdict.MALICIOUS


def test_clean_report_and_orchestration(cape_sim: tuple[CapeSimulator, str]) -> None:
    sim, url = cape_sim
    sim.default_report = {"network": {}, "behavior": {"summary": {}}, "dropped": [], "signatures": []}
    cape = CapeProvider(url, token=sim.token)
    policy = AttachmentPolicy(sandbox_timeout_seconds=300)
    t0 = datetime(2026, 11, 30, tzinfo=UTC)
    try:
        job = start_job(cape, "a.docx", b"PK\x03\x04", "ee" * 32, t0, policy)
        assert not isinstance(job, Poll) and hasattr(job, "submission_id")
        steps = []
        now = t0
        for _ in range(4):
            job, step = advance(job, now, cape)  # type: ignore[arg-type]
            steps.append(step)
            now += timedelta(seconds=20)
    finally:
        cape.close()
    assert [s.kind for s in steps] == ["poll", "poll", "poll", "verdict"]
    final = steps[-1]
    assert isinstance(final, Concluded) and final.verdict is Verdict.CLEAN
    assert outcome(final, policy).action == "deliver"


def test_never_finishing_task_times_out(cape_sim: tuple[CapeSimulator, str]) -> None:
    sim, url = cape_sim
    sim.progression = ["pending", "running"]
    cape = CapeProvider(url, token=sim.token)
    policy = AttachmentPolicy(sandbox_timeout_seconds=60, timeout_action="deliver_with_warning")
    t0 = datetime(2026, 11, 30, tzinfo=UTC)
    try:
        job = start_job(cape, "a.exe", b"MZ", "ee" * 32, t0, policy)
        now, step = t0, None
        for _ in range(20):
            job, step = advance(job, now, cape)  # type: ignore[arg-type]
            if not isinstance(step, Poll):
                break
            now += timedelta(seconds=step.after_seconds)
    finally:
        cape.close()
    assert isinstance(step, TimedOut) and now == t0 + timedelta(seconds=60)
    result = outcome(step, policy)
    assert (result.action, result.banner) == ("tag", True)


def test_failed_analysis_status(cape_sim: tuple[CapeSimulator, str]) -> None:
    sim, url = cape_sim
    sim.progression = ["pending", "failed_analysis"]
    with CapeProviderContext(url, sim.token) as cape:
        task = cape.submit("a.exe", b"MZ", 60)
        assert [cape.status(task), cape.status(task)] == [SandboxStatus.PENDING, SandboxStatus.FAILED]
        with pytest.raises(SandboxError):
            run_to_completion(cape, "b.exe", b"MZ", 5, poll_seconds=0.01)


def test_http_errors_and_token(cape_sim: tuple[CapeSimulator, str]) -> None:
    sim, url = cape_sim
    with CapeProviderContext(url, "wrong") as cape, pytest.raises(SandboxError, match="refused the token"):
        cape.submit("a.exe", b"MZ", 60)
    with CapeProviderContext(url, sim.token) as cape:
        sim.fail_next = 1
        with pytest.raises(SandboxError, match="HTTP 500"):
            cape.submit("a.exe", b"MZ", 60)
        with pytest.raises(SandboxError, match="Task does not exist"):
            cape.status(SubmissionId("999"))
    sim.delay_seconds = 1.0
    with (
        CapeProviderContext(url, sim.token, timeout=0.2) as cape,
        pytest.raises(SandboxError, match="in time"),
    ):
        cape.submit("a.exe", b"MZ", 60)


def test_unreachable() -> None:
    with (
        CapeProviderContext("http://127.0.0.1:9/apiv2", "t") as cape,
        pytest.raises(SandboxError, match="unreachable"),
    ):
        cape.status(SubmissionId("1"))


def test_dispatcher_sends_other_kinds_to_cape(cape_sim: tuple[CapeSimulator, str]) -> None:
    sim, url = cape_sim
    sandbox = LocalSandbox(cape=CapeProvider(url, token=sim.token))
    try:
        report = run_to_completion(sandbox, "a.pdf", SAMPLE, 30, poll_seconds=0.01)
    finally:
        sandbox.close()
    assert report.provider == "cape" and sandbox_verdict(report) is Verdict.CLEAN


def test_map_report_tolerates_missing_sections() -> None:
    report = map_report({"network": None, "behavior": {"summary": []}, "dropped": "x"}, SubmissionId("1"))
    assert report.observed_nothing


class CapeProviderContext:
    def __init__(self, url: str, token: str, timeout: float = 5.0) -> None:
        self.provider = CapeProvider(url, token=token, timeout=timeout)

    def __enter__(self) -> CapeProvider:
        return self.provider

    def __exit__(self, *exc: object) -> None:
        self.provider.close()
