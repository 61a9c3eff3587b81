"""Behaviour -> findings -> verdict. Each behaviour worth a finding is a rule of
``tap_core/data/attachments/sandbox_rules.toml`` (group ``file_sandbox``: weight, wording, a
verdict when it decides alone); which events it matches is here, keyed by the rule's name.

A matcher looks at one kind of event of the report (``on``) and matches when every field regex of
``where`` matches (case-insensitive ``re.search``) on that event. A rule with a matching event
gives one finding (its weight counted once, the matching events as evidence). The findings are
scored by :func:`tap_core.detect.scoring.score` against the file thresholds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from tap_core.attachments.model import FILE_THRESHOLDS
from tap_core.attachments.sandbox.model import SandboxReport
from tap_core.detect.rules import Rule, family_rules
from tap_core.detect.scoring import Thresholds, score
from tap_core.model.findings import Finding, Verdict

EventKind = Literal["file", "registry", "network", "process", "api", "signature"]
_RULES_FILE = ("attachments", "sandbox_rules.toml")

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


def sandbox_rules() -> dict[str, Rule]:
    """The behaviour rules' weights and wordings, by name."""
    return family_rules(*_RULES_FILE)


@dataclass(frozen=True, slots=True)
class BehaviourRule:
    """Which events give the finding of rule ``name`` (worded as its ``variant``)."""

    name: str
    on: EventKind
    where: dict[str, str] = field(default_factory=dict)
    #: Signatures only: the lowest severity this rule applies to.
    min_severity: int = 0
    #: The rule's wording for these events ("" for its default).
    variant: str = ""

    @property
    def rule(self) -> Rule:
        return sandbox_rules()[self.name]

    @property
    def reason(self) -> str:
        rule = self.rule
        return rule.reasons.get(self.variant, rule.reason)


BEHAVIOUR_RULES: tuple[BehaviourRule, ...] = (
    # files
    BehaviourRule("sandbox_dropped_executable", "file", where={"path": _EXECUTABLE_EXT}),
    BehaviourRule("sandbox_dropped_executable", "file", where={"kind": r"^(exe|dll|elf)$"}),
    BehaviourRule("sandbox_dropped_script", "file", where={"path": _SCRIPT_EXT}),
    BehaviourRule("sandbox_dropped_file", "file"),
    # registry
    BehaviourRule(
        "sandbox_autorun_registry",
        "registry",
        where={"action": r"^(set_value|create_key)$", "key": _AUTORUN_KEYS},
    ),
    BehaviourRule(
        "sandbox_registry_write", "registry", where={"action": r"^(set_value|delete_key|delete_value)$"}
    ),
    # network
    BehaviourRule("sandbox_download", "network", where={"kind": r"^download$"}),
    BehaviourRule("sandbox_http_request", "network", where={"kind": r"^http$"}),
    BehaviourRule("sandbox_network_contact", "network", where={"kind": r"^(dns|tcp|udp)$"}),
    # processes and APIs
    BehaviourRule("sandbox_process_injection", "process", where={"action": r"^inject$"}),
    BehaviourRule("sandbox_shell_command", "process", where={"action": r"^create$", "command": _LOLBINS}),
    BehaviourRule("sandbox_process_created", "process", where={"action": r"^create$"}),
    BehaviourRule("sandbox_process_injection", "api", where={"name": _INJECTION_APIS}, variant="api"),
    BehaviourRule("sandbox_api_of_note", "api"),
    # provider signatures (CAPE)
    BehaviourRule("sandbox_signature_severe", "signature", min_severity=3),
    BehaviourRule("sandbox_signature", "signature", min_severity=2),
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
    table = sandbox_rules()
    result = [
        table[rule.name].finding(_evidence(evidence), rule.variant) for rule, evidence in findings.values()
    ]
    if report.timed_out:
        result.append(table["sandbox_timed_out"].finding(report.provider))
    if report.errors and report.observed_nothing:
        result.append(table["sandbox_incomplete"].finding("; ".join(report.errors)))
    return result


def sandbox_verdict(
    report: SandboxReport,
    thresholds: Thresholds | None = None,
    rules: Iterable[BehaviourRule] = BEHAVIOUR_RULES,
) -> Verdict:
    """The worst of the deciding findings and the thresholded score; CLEAN when nothing was seen."""
    return verdict_of(behaviour_findings(report, rules), thresholds)


def verdict_of(findings: list[Finding], thresholds: Thresholds | None = None) -> Verdict:
    """The verdict of sandbox ``findings`` (:func:`tap_core.detect.scoring.score`, file thresholds)."""
    return score(findings, thresholds or FILE_THRESHOLDS).verdict


def timeout_finding(reason: str = "") -> Finding:
    """The note on a message delivered without a sandbox verdict (``reason``: why, in words)."""
    return sandbox_rules()["sandbox_timeout"].finding(reason=reason)


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
