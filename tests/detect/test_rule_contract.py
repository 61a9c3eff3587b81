"""One detection contract for every rule family.

Every rule lives in a table of tap_core/data with its group, description, reason and default
weight; every rule in a table is used by its family's code; no finding is made other than
through a rule (so every finding that can fire is in the data); a call fills the placeholders
of the wording it picks.
"""

from __future__ import annotations

import ast
import string
import tomllib
from pathlib import Path

import pytest

from tap_core.data import data_text
from tap_core.detect.groups import groups
from tap_core.detect.rules import RULE_FILES, RuleError, family_rules, load_rules, rulebook
from tap_core.model.findings import Verdict

TAP_CORE = Path(__file__).resolve().parents[2] / "tap_core"

#: Rule table -> the code that records its findings.
FAMILIES: dict[tuple[str, str], tuple[str, ...]] = {
    ("urls", "url_rules.toml"): ("urls",),
    ("message", "message_rules.toml"): ("message_rules",),
    ("message", "limit_rules.toml"): ("parsing",),
    ("click", "page_rules.toml"): ("click",),
    ("attachments", "scanner_rules.toml"): ("attachments",),
    ("attachments", "file_rules.toml"): ("attachments",),
    ("attachments", "sandbox_rules.toml"): ("attachments",),
    ("impersonation", "indicator_rules.toml"): ("impersonation",),
    ("auth", "auth_rules.toml"): ("auth",),
    ("reputation", "reputation_rules.toml"): ("reputation",),
    ("detect", "text_rules.toml"): ("detect",),
    ("detect", "defect_rules.toml"): ("detect",),
}


def _sources(dirs: tuple[str, ...]) -> list[Path]:
    return sorted(p for d in dirs for p in (TAP_CORE / d).rglob("*.py"))


def _string_constants(paths: list[Path]) -> set[str]:
    found: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return found


def _placeholders(template: str) -> set[str]:
    return {field.split(":")[0] for _, field, _, _ in string.Formatter().parse(template) if field}


def test_every_family_table_is_in_the_rulebook_and_named_in_the_contract_test() -> None:
    assert set(FAMILIES) == set(RULE_FILES)
    book = rulebook()
    for parts in RULE_FILES:
        for name in family_rules(*parts):
            assert book[name].group, name


@pytest.mark.parametrize("parts", RULE_FILES, ids=["/".join(p) for p in RULE_FILES])
def test_every_rule_has_its_metadata(parts: tuple[str, str]) -> None:
    table = tomllib.loads(data_text(*parts))
    assert table, parts
    known = groups()
    for name, spec in table.items():
        assert spec["group"] in known, f"{name}: unknown group {spec['group']}"
        for key in ("description", "reason"):
            assert isinstance(spec.get(key), str) and spec[key].strip(), f"{name} has no {key}"
        assert "{" not in spec["description"], f"{name}: a description is not a template"
        assert isinstance(spec.get("weight", spec.get("weights")), (int, float, dict)), f"{name} has no weight"
        for variant, weight in spec.get("weights", {}).items():
            assert isinstance(weight, (int, float)), f"{name}.weights.{variant}"
        for variant in spec.get("reasons", {}):
            assert variant in spec.get("weights", {}) or variant, f"{name}.reasons.{variant}"
        if "verdict" in spec:
            Verdict(spec["verdict"])


@pytest.mark.parametrize("parts", RULE_FILES, ids=["/".join(p) for p in RULE_FILES])
def test_every_rule_is_used_by_its_family(parts: tuple[str, str]) -> None:
    constants = _string_constants(_sources(FAMILIES[parts]))
    unused = [name for name in family_rules(*parts) if name not in constants]
    assert not unused, f"rules of {'/'.join(parts)} that no code of {FAMILIES[parts]} records: {unused}"


def test_findings_are_made_only_by_rules() -> None:
    """``Finding(...)`` is built in one place: a rule's ``finding()``. Any other finding could
    fire without being in the data."""
    offenders = []
    for path in sorted(TAP_CORE.rglob("*.py")):
        if path == TAP_CORE / "detect" / "rules.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Finding":
                offenders.append(f"{path.relative_to(TAP_CORE)}:{node.lineno}")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "model_copy" and any(
                        isinstance(k.value, ast.Dict) and any(
                            isinstance(key, ast.Constant) and key.value in ("score", "name", "group")
                            for key in k.value.keys) for k in node.keywords)):
                offenders.append(f"{path.relative_to(TAP_CORE)}:{node.lineno} (model_copy)")
    assert not offenders, f"findings made or re-scored outside a rule: {offenders}"


def _finding_calls(paths: list[Path]) -> list[tuple[str, int, str, str, set[str]]]:
    """(file, line, rule, variant, keyword fields) of ``<table>["rule"].finding(...)`` calls."""
    calls = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "finding"):
                continue
            target = node.func.value
            if not (isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant)
                    and isinstance(target.slice.value, str)):
                continue
            variant = node.args[1] if len(node.args) > 1 else next(
                (k.value for k in node.keywords if k.arg == "variant"), None)
            fields = {k.arg for k in node.keywords if k.arg and k.arg not in (
                "variant", "named", "weight", "reason", "verdict")}
            if any(k.arg is None for k in node.keywords):
                continue  # **fields: checked where they are built
            calls.append((path.name, node.lineno, target.slice.value,
                          variant.value if isinstance(variant, ast.Constant) else "", fields))
    return calls


@pytest.mark.parametrize("parts", RULE_FILES, ids=["/".join(p) for p in RULE_FILES])
def test_calls_name_defined_rules_and_variants_and_fill_the_reason(parts: tuple[str, str]) -> None:
    table = family_rules(*parts)
    book = rulebook()
    for where, line, name, variant, fields in _finding_calls(_sources(FAMILIES[parts])):
        rule = book.get(name)
        assert rule is not None, f"{where}:{line}: no rule {name!r}"
        if name not in table:
            continue  # another family's rule read here (checked with that family)
        if variant:
            assert rule.has_variant(variant), f"{where}:{line}: {name} has no variant {variant!r}"
        template = rule.reasons.get(variant, rule.reason)
        assert _placeholders(template) <= fields, f"{where}:{line} {name}: {template!r} given {sorted(fields)}"


def test_the_rulebook_refuses_duplicates_unknown_groups_and_keys() -> None:
    with pytest.raises(RuleError, match="unknown group"):
        load_rules('[x]\ngroup = "nope"\ndescription = "d"\nreason = "r"\n')
    with pytest.raises(RuleError, match="unknown keys"):
        load_rules('[x]\ngroup = "url_host"\ndescription = "d"\nreason = "r"\nscore = 1\n')
    with pytest.raises(RuleError, match="needs a description"):
        load_rules('[x]\ngroup = "url_host"\nreason = "r"\n')
    rule = load_rules('[x]\ngroup = "url_host"\ndescription = "d"\nreason = "r {a}"\nweight = 1\n')["x"]
    with pytest.raises(RuleError, match="no variant"):
        rule.finding("e", "strong")
    finding = rule.finding("e", a="b")
    assert (finding.name, finding.score, finding.reason, finding.group) == ("x", 1.0, "r b", "url_host")
    assert rulebook().get("yara_eicar_test_file") is rulebook()["yara"]
    assert rulebook().get("no_such_rule") is None
