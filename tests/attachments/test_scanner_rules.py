"""The attachment scanners' findings are rules as data (tap_core/data/attachments/scanner_rules.toml).

Every name a scanner records with ``ctx.add``/``ctx.limit`` is a rule there (``ctx.add_external``:
a prefix rule, ``yara_<rule>`` and ``unparseable_<type>``), every rule is used, and a call fills the
placeholders of the wording it picks.
"""

from __future__ import annotations

import ast
import string
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tap_core.attachments.context import Budget, ScanContext, UnknownRule, scanner_rules
from tap_core.attachments.filetype import FileKind
from tap_core.attachments.model import ScanLimits
from tap_core.data import data_text
from tap_core.model.findings import Verdict

ATTACHMENTS = Path(__file__).resolve().parents[2] / "tap_core" / "attachments"


def _table() -> dict[str, Any]:
    return tomllib.loads(data_text("attachments", "scanner_rules.toml"))


def _placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def _call_sites() -> list[tuple[str, int, str, str, set[str]]]:
    """(file, line, rule name, variant, keyword fields) of every ``ctx.add``/``ctx.limit``/
    ``ctx.add_external`` call naming its rule with a string literal (``self.add``/``self.limit``
    inside context.py)."""
    sites = []
    for path in sorted(ATTACHMENTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in ("add", "limit", "add_external"):
                continue
            receiver = ast.unparse(node.func.value)
            if not (receiver.endswith("ctx") or (path.name == "context.py" and receiver == "self")):
                continue
            first = node.args[0] if node.args else None
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue
            keywords = {k.arg: k.value for k in node.keywords if k.arg}
            variant = keywords.pop("variant", None)
            variant_name = variant.value if isinstance(variant, ast.Constant) else ""
            for own in ("score", "verdict", "reason", "evidence"):
                keywords.pop(own, None)
            where = str(path.relative_to(ATTACHMENTS))
            sites.append((where, node.lineno, first.value, str(variant_name), set(keywords)))
    return sites


def _ctx() -> ScanContext:
    limits = ScanLimits()
    return ScanContext("a.bin", FileKind("bin"), 0, Budget.start(limits))


def test_every_rule_has_a_score_and_a_reason() -> None:
    table = _table()
    assert table
    for name, spec in table.items():
        assert isinstance(spec.get("reason"), str) and spec["reason"].strip(), name
        assert isinstance(spec.get("weight"), (int, float)), f"{name} has no weight"
        for variant, score in spec.get("weights", {}).items():
            assert isinstance(score, (int, float)), f"{name}.weights.{variant}"
        for variant, reason in spec.get("reasons", {}).items():
            assert isinstance(reason, str) and reason.strip(), f"{name}.reasons.{variant}"
        assert set(spec) <= {"group", "description", "weight", "reason", "weights", "reasons", "verdict", "prefix"}, name
    assert set(scanner_rules()) == set(table)


def test_call_sites_name_rules_and_every_rule_is_used() -> None:
    sites = _call_sites()
    assert len(sites) > 50  # the scan of the sources found the calls
    rules = scanner_rules()
    unknown = [f"{where}:{line} {name}" for where, line, name, _, _ in sites if name not in rules]
    assert not unknown, f"not in scanner_rules.toml: {unknown}"
    # static_malicious is the engine's own verdict (engine._decide), not a scanner's finding.
    unused = set(rules) - {name for _, _, name, _, _ in sites} - {"static_malicious"}
    assert not unused, f"rules no scanner records: {sorted(unused)}"


def test_call_sites_use_defined_variants_and_fill_the_reason() -> None:
    table = _table()
    used_variants: set[tuple[str, str]] = set()
    for where, line, name, variant, fields in _call_sites():
        spec = table[name]
        if variant:
            assert variant in spec.get("weights", {}) or variant in spec.get("reasons", {}), (
                f"{where}:{line} {name} has no variant {variant!r}"
            )
            used_variants.add((name, variant))
        if name == "yara":
            continue  # worded by each YARA rule's meta (reason=...)
        reason = spec.get("reasons", {}).get(variant, spec["reason"])
        assert _placeholders(reason) == fields, f"{where}:{line} {name}: {reason!r} given {sorted(fields)}"
    defined = {(name, v) for name, spec in table.items() for v in spec.get("reasons", {})}
    assert defined <= used_variants, f"wordings no scanner uses: {sorted(defined - used_variants)}"


def test_unknown_names_and_variants_raise() -> None:
    ctx = _ctx()
    with pytest.raises(UnknownRule, match="no_such_finding"):
        ctx.add("no_such_finding", "x")
    with pytest.raises(UnknownRule):
        ctx.limit("limit_nonsense", "x")
    with pytest.raises(UnknownRule, match="no_such_variant"):
        ctx.add("dde_link", "x", variant="no_such_variant")
    assert ctx.findings == []


def test_add_takes_score_and_reason_from_the_rule() -> None:
    ctx = _ctx()
    ctx.add("pdf_javascript", "app.alert(1)", count=2)
    ctx.add("dde_link", "DDEAUTO", variant="workbook")
    finding, dde = ctx.findings
    assert (finding.name, finding.score, finding.evidence) == ("pdf_javascript", 4.0, "app.alert(1)")
    assert finding.reason == "PDF contains JavaScript (2 scripts)"
    assert dde.reason == scanner_rules()["dde_link"].reasons["workbook"] != scanner_rules()["dde_link"].reason
    assert dde.score == scanner_rules()["dde_link"].weight


def test_merge_is_shared_by_rules_and_external_findings() -> None:
    ctx = _ctx()
    ctx.add("vba_suspicious", "Shell", score=1.5)
    ctx.add("vba_suspicious", "CreateObject", score=3.0, verdict=Verdict.SUSPICIOUS)
    ctx.add_external("yara", "test", "a", score=5.0, reason="A YARA rule")
    ctx.add_external("yara", "test", "b", score=2.0, reason="Another reason", verdict=Verdict.MALICIOUS)
    ctx.add_external("unparseable", "pdf", "pdf: broken xref", type="pdf")
    vba, yara, unparseable = ctx.findings
    assert (vba.score, vba.evidence, vba.verdict) == (3.0, "Shell; CreateObject", Verdict.SUSPICIOUS)
    assert (yara.score, yara.reason, yara.evidence, yara.verdict) == (
        5.0,
        "A YARA rule",
        "a; b",
        Verdict.MALICIOUS,
    )
    assert (unparseable.name, unparseable.score, unparseable.group) == ("unparseable_pdf", 2.0, "file_container")
    assert unparseable.reason == "Looks like pdf but cannot be parsed (evasion or damage)"
    with pytest.raises(UnknownRule, match="dde_link"):
        ctx.add_external("dde_link", "x")  # not a prefix rule


def test_limits_are_rules_counted_once() -> None:
    ctx = _ctx()
    ctx.limit("limit_time", "zip", seconds=30.0)
    ctx.limit("limit_time", "pdf", seconds=30.0)
    (finding,) = ctx.findings
    assert (finding.score, finding.reason, finding.evidence) == (2.0, "Analysis took over 30 s", "zip")
    assert all(name in scanner_rules() for name in (ScanLimits.__doc__ or "").split("``")[1::2])
