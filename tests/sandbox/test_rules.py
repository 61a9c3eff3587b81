"""Behaviour rules: each behaviour gives its finding and the verdict follows."""

from __future__ import annotations

import pytest

from tap_core.attachments.sandbox import (
    BEHAVIOUR_RULES,
    ApiCall,
    DroppedFile,
    NetworkContact,
    ProcessEvent,
    RegistryChange,
    SandboxReport,
    Signature,
    behaviour_findings,
    sandbox_rules,
    sandbox_verdict,
    timeout_finding,
)
from tap_core.model.findings import Verdict

RUN_KEY = r"HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Run"


def report(**kwargs: object) -> SandboxReport:
    return SandboxReport(provider="test", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sample", "finding", "verdict"),
    [
        (report(), None, Verdict.CLEAN),
        (report(files_dropped=[DroppedFile(path=r"C:\Temp\a.exe")]), "sandbox_dropped_executable", Verdict.MALICIOUS),
        (report(files_dropped=[DroppedFile(path=r"C:\Temp\x.bin", kind="exe")]), "sandbox_dropped_executable",
         Verdict.MALICIOUS),
        (report(files_dropped=[DroppedFile(path=r"C:\Temp\a.ps1")]), "sandbox_dropped_script", Verdict.SUSPICIOUS),
        (report(files_dropped=[DroppedFile(path=r"C:\Temp\notes.txt")]), "sandbox_dropped_file", Verdict.CLEAN),
        (report(registry_changes=[RegistryChange(action="set_value", key=RUN_KEY, value_name="x")]),
         "sandbox_autorun_registry", Verdict.MALICIOUS),
        (report(registry_changes=[RegistryChange(action="set_value", key=r"HKCU\Software\Acme")]),
         "sandbox_registry_write", Verdict.CLEAN),
        (report(network=[NetworkContact(kind="http", url="http://c2.test/beacon")]), "sandbox_http_request",
         Verdict.SUSPICIOUS),
        (report(network=[NetworkContact(kind="download", url="http://x.test/a.exe")]), "sandbox_download",
         Verdict.MALICIOUS),
        (report(network=[NetworkContact(kind="dns", host="c2.test")]), "sandbox_network_contact", Verdict.SUSPICIOUS),
        (report(processes=[ProcessEvent(action="inject", target="explorer.exe")]), "sandbox_process_injection",
         Verdict.MALICIOUS),
        (report(api_calls=[ApiCall(name="WriteProcessMemory")]), "sandbox_process_injection", Verdict.MALICIOUS),
        (report(processes=[ProcessEvent(action="create", command="powershell -enc AAAA")]), "sandbox_shell_command",
         Verdict.MALICIOUS),
        (report(processes=[ProcessEvent(action="create", command=r"C:\Temp\b.exe")]), "sandbox_process_created",
         Verdict.SUSPICIOUS),
        (report(signatures=[Signature(name="injection_rwx", severity=3)]), "sandbox_signature_severe",
         Verdict.MALICIOUS),
        (report(signatures=[Signature(name="antivm", severity=2)]), "sandbox_signature", Verdict.CLEAN),
    ],
)  # fmt: skip
def test_behaviour_to_finding_and_verdict(
    sample: SandboxReport, finding: str | None, verdict: Verdict
) -> None:
    names = [f.name for f in behaviour_findings(sample)]
    assert (finding in names) if finding else names == []
    assert sandbox_verdict(sample) is verdict


def test_specific_rule_claims_the_event() -> None:
    findings = behaviour_findings(
        report(files_dropped=[DroppedFile(path=r"C:\a.exe"), DroppedFile(path=r"C:\b.txt")])
    )
    assert {f.name: f.evidence for f in findings} == {
        "sandbox_dropped_executable": r"C:\a.exe",
        "sandbox_dropped_file": r"C:\b.txt",
    }


def test_scores_add_up() -> None:
    # a script drop plus an HTTP request: two suspicious behaviours make a malicious verdict
    sample = report(
        files_dropped=[DroppedFile(path="a.vbs")], network=[NetworkContact(kind="http", host="h.test")]
    )
    assert sandbox_verdict(sample) is Verdict.MALICIOUS


def test_timeout_and_errors_are_visible_but_not_scored() -> None:
    findings = behaviour_findings(report(timed_out=True, errors=["unsupported_api"]))
    assert {f.name for f in findings} == {"sandbox_timed_out", "sandbox_incomplete"}
    assert sandbox_verdict(report(timed_out=True, errors=["x"])) is Verdict.CLEAN


def test_rules_are_data() -> None:
    table = sandbox_rules()
    assert all(rule.name.startswith("sandbox_") and rule.reason for rule in BEHAVIOUR_RULES)
    assert {rule.name for rule in BEHAVIOUR_RULES} | {
        "sandbox_timed_out", "sandbox_incomplete", "sandbox_timeout"
    } == set(table)  # fmt: skip
    assert all(rule.group == "file_sandbox" for rule in table.values())
    injection = [f for f in behaviour_findings(report(api_calls=[ApiCall(name="QueueUserAPC")]))]
    assert [(f.name, f.score, f.reason, f.verdict) for f in injection] == [
        ("sandbox_process_injection", 20.0, "Called process-injection APIs", Verdict.MALICIOUS)
    ]


def test_timeout_note_is_a_rule() -> None:
    note = timeout_finding("the sandbox did not answer within 300 s")
    assert (note.name, note.score, note.reason) == (
        "sandbox_timeout", 0.0, "the sandbox did not answer within 300 s"
    )  # fmt: skip
    assert timeout_finding().reason == sandbox_rules()["sandbox_timeout"].reason
