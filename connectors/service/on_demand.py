"""Detonation on demand: files run in the configured sandboxes as the service would run a held
message's attachments (the local emulators; CAPE when ``TAP365_SANDBOX_URL`` is set), their
behaviour merged into the static report of ``tap365 scan-file`` (``--detonate``) or of a
report's triage.

The merged report keeps its static fields; the sandbox's findings join ``findings`` (each with
``evidence`` naming the registry key, the file or the host) and ``reasons``; ``verdict`` is the
worse of the two; ``sandbox`` says which backend ran it, how it ended and what it did.
"""

from __future__ import annotations

from typing import Any

from tap_core.attachments.policy import AttachmentPolicy
from tap_core.attachments.sandbox.model import SandboxReport
from tap_core.attachments.sandbox.orchestration import Concluded, Terminal, TimedOut
from tap_core.model.findings import Verdict

#: How long one file may run when no policy says otherwise (the attachment policy's default).
DEFAULT_TIMEOUT_SECONDS = AttachmentPolicy().sandbox_timeout_seconds


def behaviour(report: SandboxReport) -> dict[str, list[str]]:
    """What the run did, by kind: registry keys written, files dropped, hosts contacted."""
    registry = [
        f"{c.key}\\{c.value_name}" if c.value_name else c.key
        for c in report.registry_changes if c.action in ("create_key", "set_value")
    ]
    hosts = [n.host or n.ip or n.url for n in report.network if n.host or n.ip or n.url]
    return {
        "registry": list(dict.fromkeys(registry)),
        "files": list(dict.fromkeys(f.path for f in report.files_dropped)),
        "hosts": list(dict.fromkeys(hosts)),
        "processes": list(dict.fromkeys(p.command or p.target for p in report.processes)),
    }


def merge(static: dict[str, Any], step: Terminal) -> dict[str, Any]:
    """``static`` (a scan-file report) with the sandbox's outcome merged in."""
    merged = dict(static)
    if not isinstance(step, Concluded):
        status = "timed_out" if isinstance(step, TimedOut) else "unanalysed"
        merged["sandbox"] = {"status": status, "reason": step.reason}
        return merged
    findings = list(merged.get("findings") or [])
    reasons = list(merged.get("reasons") or [])
    for finding in step.findings:
        findings.append({"name": finding.name, "score": finding.score, "reason": finding.reason,
                         "evidence": finding.evidence, "source": "sandbox"})
        if finding.name not in reasons:
            reasons.append(finding.name)
    static_verdict = merged.get("verdict")
    verdicts = [step.verdict] + ([Verdict(static_verdict)] if static_verdict else [])
    merged.update(
        findings=findings,
        reasons=reasons,
        verdict=Verdict.worst(verdicts).value,
        sandbox={
            "status": "concluded",
            "provider": step.report.provider,
            "verdict": step.verdict.value,
            "behaviour": behaviour(step.report),
            "timed_out": step.report.timed_out,
            "errors": step.report.errors,
            "duration_seconds": step.report.duration_seconds,
        },
    )
    return merged
