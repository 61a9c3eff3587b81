"""Rules as data: every detection is a named rule whose metadata lives in a TOML table.

    [rule_name]
    group = "url_host"               # a group of tap_core/data/detect/groups.toml
    description = "What the rule looks for, for a reviewer."
    reason = "Sentence shown to admins, with {field} placeholders."
    weight = 2.0                     # default weight (the prior of the learned message model)
    verdict = "malicious"            # optional: the finding decides the verdict on its own
    prefix = true                    # optional: the name is a family prefix (yara_<rule>)
    [rule_name.weights]              # optional: other strengths, by variant
    strong = 5.0
    [rule_name.reasons]              # optional: other wordings, by variant
    strong = "Other sentence."

Every rule family (URL, message, page, file, impersonation, authentication, reputation) loads
its table through :func:`family_rules`; :func:`rulebook` holds them all, names unique across
families, so that one scorer and one learned model read every finding the same way.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from tap_core.data import data_text
from tap_core.detect.groups import groups
from tap_core.model.findings import Finding, Verdict

_MAX_EVIDENCE = 300
_KEYS = frozenset({"group", "description", "reason", "weight", "weights", "reasons", "verdict", "prefix"})

#: The rule tables, one per family, under tap_core/data/.
RULE_FILES: tuple[tuple[str, str], ...] = (
    ("urls", "url_rules.toml"),
    ("message", "message_rules.toml"),
    ("message", "limit_rules.toml"),
    ("click", "page_rules.toml"),
    ("attachments", "scanner_rules.toml"),
    ("attachments", "file_rules.toml"),
    ("attachments", "sandbox_rules.toml"),
    ("impersonation", "indicator_rules.toml"),
    ("auth", "auth_rules.toml"),
    ("reputation", "reputation_rules.toml"),
    ("detect", "text_rules.toml"),
    ("detect", "defect_rules.toml"),
)


class RuleError(LookupError):
    """A rule table that cannot be used, or a finding named that no table defines."""


class _Fields(dict[str, Any]):
    """Placeholders a call did not fill show as "?" rather than failing the scan."""

    def __missing__(self, key: str) -> str:
        return "?"


@dataclass(frozen=True, slots=True)
class Rule:
    """One named detection and its metadata."""

    name: str
    group: str
    description: str
    reason: str
    weight: float
    weights: Mapping[str, float] = field(default_factory=dict)
    reasons: Mapping[str, str] = field(default_factory=dict)
    #: When set, a finding of this rule decides the verdict on its own (an intel hit, malware).
    verdict: Verdict | None = None
    #: The rule names a family of findings: ``yara_<rule>``, ``intel_<category>``...
    prefix: bool = False

    def has_variant(self, variant: str) -> bool:
        return variant in self.weights or variant in self.reasons

    def finding(
        self,
        evidence: str = "",
        variant: str = "",
        *,
        named: str = "",
        weight: float | None = None,
        reason: str = "",
        verdict: Verdict | None = None,
        **fields: Any,
    ) -> Finding:
        """The finding of this rule with ``evidence`` and the reason filled from ``fields``.

        ``variant`` picks one of the rule's weights and wordings; ``named`` the member of a
        prefix family; ``weight`` and ``reason`` replace the rule's only for values computed at run time
        (a YARA rule's own score, a child file's verdict)."""
        if variant and not self.has_variant(variant):
            raise RuleError(f"rule {self.name!r} has no variant {variant!r}")
        if named and (not self.prefix or not named.startswith(self.name)):
            raise RuleError(f"rule {self.name!r} does not name {named!r}")
        return Finding(
            name=named or self.name,
            score=self.weights.get(variant, self.weight) if weight is None else weight,
            reason=reason or self.reasons.get(variant, self.reason).format_map(_Fields(fields)),
            evidence=evidence[:_MAX_EVIDENCE],
            verdict=verdict or self.verdict,
            group=self.group,
            variant=variant,
        )


def load_rules(text: str, *, source: str = "rules") -> dict[str, Rule]:
    """The rules of one TOML table, by name; :class:`RuleError` names what is wrong."""
    known_groups = groups()
    out: dict[str, Rule] = {}
    for name, spec in tomllib.loads(text).items():
        unknown = set(spec) - _KEYS
        if unknown:
            raise RuleError(f"{source}: rule {name!r} has unknown keys {sorted(unknown)}")
        for key in ("group", "description", "reason"):
            if not isinstance(spec.get(key), str) or not spec[key].strip():
                raise RuleError(f"{source}: rule {name!r} needs a {key}")
        if spec["group"] not in known_groups:
            raise RuleError(f"{source}: rule {name!r} is in unknown group {spec['group']!r}")
        verdict = spec.get("verdict")
        out[name] = Rule(
            name=name,
            group=spec["group"],
            description=" ".join(spec["description"].split()),
            reason=spec["reason"],
            weight=float(spec.get("weight", 0.0)),
            weights={k: float(v) for k, v in spec.get("weights", {}).items()},
            reasons={k: str(v) for k, v in spec.get("reasons", {}).items()},
            verdict=Verdict(verdict) if verdict else None,
            prefix=bool(spec.get("prefix", False)),
        )
    return out


@cache
def family_rules(area: str, file: str) -> dict[str, Rule]:
    """The rules of one family's table (``tap_core/data/<area>/<file>``)."""
    return load_rules(data_text(area, file), source=f"tap_core/data/{area}/{file}")


@dataclass(frozen=True, slots=True)
class RuleBook:
    """Every rule of every family, by name."""

    rules: Mapping[str, Rule]
    prefixes: tuple[Rule, ...]

    def get(self, name: str) -> Rule | None:
        """The rule of finding ``name`` (prefix families included), or None."""
        rule = self.rules.get(name)
        if rule is not None:
            return rule
        return next((r for r in self.prefixes if name.startswith(r.name)), None)

    def __getitem__(self, name: str) -> Rule:
        rule = self.get(name)
        if rule is None:
            tables = ", ".join("/".join(f) for f in RULE_FILES)
            raise RuleError(f"no rule {name!r} in the rule tables ({tables})")
        return rule


@cache
def rulebook() -> RuleBook:
    merged: dict[str, Rule] = {}
    for parts in RULE_FILES:
        for name, rule in family_rules(*parts).items():
            if name in merged:
                raise RuleError(f"rule {name!r} is defined twice (second time in {'/'.join(parts)})")
            merged[name] = rule
    prefixes = sorted((r for r in merged.values() if r.prefix), key=lambda r: -len(r.name))
    return RuleBook(merged, tuple(prefixes))
