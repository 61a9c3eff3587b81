"""Behaviour -> findings -> verdict. The rules are data: one row per behaviour worth a finding.

Each rule looks at one kind of event of the report (``on``) and matches when every field regex of
``where`` matches (case-insensitive ``re.search``) on that event. A matching rule gives one
finding (its score counted once, the matching events as evidence). Scores add up against the
attachment thresholds; a rule with ``verdict`` decides on its own (an executable dropped, an
autorun key, injection).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from tap_core.attachments.model import AttachmentThresholds
from tap_core.attachments.sandbox.model import SandboxReport
from tap_core.model.findings import Finding, Verdict

EventKind = Literal["file", "registry", "network", "process", "api", "signature"]

_EXECUTABLE_EXT = r"\.(exe|dll|scr|com|pif|sys|cpl|ocx|msi)$"
_SCRIPT_EXT = r"\.(js|jse|vbs|vbe|wsf|wsh|hta|ps1|psm1|bat|cmd|lnk)$"
_AUTORUN_KEYS = (
    r"\\(Run|RunOnce|RunServices|RunOnceEx)(\\|$)|\\Winlogon(\\|$)|\\Image File Execution Options\\"
    r"|\\CurrentControlSet\\Services\\|\\Policies\\Explorer\\Run|\\Shell Folders|\\Startup"
)
_LOLBINS = (
    r"(^|[\\/\s\"'])(powershell|pwsh|cmd|wscript|cscript|mshta|rundll32|regsvr32|certutil|bitsadmin"
    r"|schtasks)(\.exe)?\b"
)
_INJECTION_APIS = (
    r"^(WriteProcessMemory|CreateRemoteThread(Ex)?|NtWriteVirtualMemory|NtCreateThreadEx|QueueUserAPC|"
    r"NtQueueApcThread|SetThreadContext|NtMapViewOfSection|NtUnmapViewOfSection|RtlCreateUserThread)$"
)


@dataclass(frozen=True, slots=True)
class BehaviourRule:
    name: str
    on: EventKind
    score: float
    reason: str
    where: dict[str, str] = field(default_factory=dict)
    verdict: Verdict | None = None
    #: Signatures only: the lowest severity this rule applies to.
    min_severity: int = 0


BEHAVIOUR_RULES: tuple[BehaviourRule, ...] = (
    # files
    BehaviourRule(
        "sandbox_dropped_executable",
        "file",
        15.0,
        "Wrote an executable file",
        where={"path": _EXECUTABLE_EXT},
        verdict=Verdict.MALICIOUS,
    ),
    BehaviourRule(
        "sandbox_dropped_executable",
        "file",
        15.0,
        "Wrote an executable file",
        where={"kind": r"^(exe|dll|elf)$"},
        verdict=Verdict.MALICIOUS,
    ),
    BehaviourRule(
        "sandbox_dropped_script", "file", 10.0, "Wrote a script or shortcut", where={"path": _SCRIPT_EXT}
    ),
    BehaviourRule("sandbox_dropped_file", "file", 3.0, "Wrote files"),
    # registry
    BehaviourRule(
        "sandbox_autorun_registry",
        "registry",
        15.0,
        "Made itself start with Windows",
        where={"action": r"^(set_value|create_key)$", "key": _AUTORUN_KEYS},
        verdict=Verdict.MALICIOUS,
    ),
    BehaviourRule(
        "sandbox_registry_write",
        "registry",
        2.0,
        "Changed the registry",
        where={"action": r"^(set_value|delete_key|delete_value)$"},
    ),
    # network
    BehaviourRule(
        "sandbox_download",
        "network",
        15.0,
        "Downloaded a file from the internet",
        where={"kind": r"^download$"},
        verdict=Verdict.MALICIOUS,
    ),
    BehaviourRule(
        "sandbox_http_request",
        "network",
        10.0,
        "Sent HTTP requests (possible C2 callback)",
        where={"kind": r"^http$"},
    ),
    BehaviourRule(
        "sandbox_network_contact",
        "network",
        6.0,
        "Contacted hosts on the network",
        where={"kind": r"^(dns|tcp|udp)$"},
    ),
    # processes and APIs
    BehaviourRule(
        "sandbox_process_injection",
        "process",
        20.0,
        "Injected code into another process",
        where={"action": r"^inject$"},
        verdict=Verdict.MALICIOUS,
    ),
    BehaviourRule(
        "sandbox_shell_command",
        "process",
        15.0,
        "Started a shell or script host (LOLBin)",
        where={"action": r"^create$", "command": _LOLBINS},
        verdict=Verdict.MALICIOUS,
    ),
    BehaviourRule(
        "sandbox_process_created", "process", 6.0, "Started other programs", where={"action": r"^create$"}
    ),
    BehaviourRule(
        "sandbox_process_injection",
        "api",
        20.0,
        "Called process-injection APIs",
        where={"name": _INJECTION_APIS},
        verdict=Verdict.MALICIOUS,
    ),
    BehaviourRule("sandbox_api_of_note", "api", 2.0, "Called APIs of note"),
    # provider signatures (CAPE)
    BehaviourRule(
        "sandbox_signature_severe",
        "signature",
        15.0,
        "Sandbox signatures of high severity",
        min_severity=3,
        verdict=Verdict.MALICIOUS,
    ),
    BehaviourRule("sandbox_signature", "signature", 3.0, "Sandbox signatures", min_severity=2),
)

_EVIDENCE_ITEMS = 5


def behaviour_findings(
    report: SandboxReport, rules: Iterable[BehaviourRule] = BEHAVIOUR_RULES
) -> list[Finding]:
    """One finding per rule name that matched at least one event of ``report``.

    Events matched by a more specific rule (earlier in the table, same event kind) are not
    counted again by the generic rules after it (a dropped .exe is not also "wrote files").
    """
    findings: dict[str, tuple[BehaviourRule, list[str]]] = {}
    claimed: set[tuple[str, int]] = set()
    for rule in rules:
        for index, (event, text) in enumerate(_events(report, rule.on)):
            if (rule.on, index) in claimed or not _matches(rule, event):
                continue
            claimed.add((rule.on, index))
            findings.setdefault(rule.name, (rule, []))[1].append(text)
    result = [
        Finding(
            name=rule.name,
            score=rule.score,
            reason=rule.reason,
            evidence=_evidence(evidence),
            verdict=rule.verdict,
        )
        for rule, evidence in findings.values()
    ]
    if report.timed_out:
        result.append(
            Finding(
                name="sandbox_timed_out",
                score=0.0,
                reason="The run hit its time limit",
                evidence=report.provider,
            )
        )
    if report.errors and report.observed_nothing:
        result.append(
            Finding(
                name="sandbox_incomplete",
                score=0.0,
                reason="The run stopped on an error before showing any behaviour",
                evidence="; ".join(report.errors)[:300],
            )
        )
    return result


def sandbox_verdict(
    report: SandboxReport,
    thresholds: AttachmentThresholds | None = None,
    rules: Iterable[BehaviourRule] = BEHAVIOUR_RULES,
) -> Verdict:
    """The worst of the deciding findings and the thresholded score; CLEAN when nothing was seen."""
    return verdict_of(behaviour_findings(report, rules), thresholds)


def verdict_of(findings: list[Finding], thresholds: AttachmentThresholds | None = None) -> Verdict:
    thresholds = thresholds or AttachmentThresholds()
    deciding = [f.verdict for f in findings if f.verdict is not None]
    return Verdict.worst([thresholds.verdict(sum(f.score for f in findings)), *deciding])


def _evidence(items: list[str]) -> str:
    unique = list(dict.fromkeys(items))
    more = f" (+{len(unique) - _EVIDENCE_ITEMS} more)" if len(unique) > _EVIDENCE_ITEMS else ""
    return "; ".join(unique[:_EVIDENCE_ITEMS])[:500] + more


def _matches(rule: BehaviourRule, event: dict[str, object]) -> bool:
    if rule.on == "signature" and int(event.get("severity") or 0) < rule.min_severity:  # type: ignore[call-overload]
        return False
    return all(_regex(pattern).search(str(event.get(key) or "")) for key, pattern in rule.where.items())


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _events(report: SandboxReport, kind: EventKind) -> list[tuple[dict[str, object], str]]:
    if kind == "file":
        return [(f.model_dump(), f.path) for f in report.files_dropped]
    if kind == "registry":
        return [
            (r.model_dump(), f"{r.key}\\{r.value_name}" if r.value_name else r.key)
            for r in report.registry_changes
        ]
    if kind == "network":
        return [(n.model_dump(), n.url or n.host or n.ip) for n in report.network]
    if kind == "process":
        return [(p.model_dump(), p.command or p.target) for p in report.processes]
    if kind == "api":
        return [(a.model_dump(), f"{a.name} {a.detail}".strip()) for a in report.api_calls]
    return [(s.model_dump(), s.name) for s in report.signatures]
