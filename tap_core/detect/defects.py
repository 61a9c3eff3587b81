"""Isolation of rules and extractors: one that raises costs the message only what it would have
found, never its verdict.

A rule or an extractor that raises on some input is a defect of ours, not a property of the
mail. The runner that calls it (each rule family's, URL Protect's extractors) catches the
exception, records the finding ``analysis_defect`` in its place (evidence: where it happened
and the exception's class, never the content that triggered it), logs the defect for the
developers, and goes on with the other rules.

What the finding weighs: nothing in the score (the learned model never saw it), but its rule
decides SUSPICIOUS on its own (``tap_core/data/detect/defect_rules.toml``): the message was not
fully analysed, so it is handled as a limit reached is, held (or tagged, per the policy's
``suspicious_action``) with the reason, never quarantined and never delivered as if clean.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from functools import cache
from typing import TypeVar

from tap_core.detect.rules import Rule, family_rules
from tap_core.model.findings import Finding

__all__ = ["DEFECT_RULE", "defect_finding", "isolated", "isolated_findings"]

DEFECT_RULE = "analysis_defect"
log = logging.getLogger("tap365.defects")
T = TypeVar("T")


@cache
def _rule() -> Rule:
    return family_rules("detect", "defect_rules.toml")[DEFECT_RULE]


def defect_finding(where: str, exc: BaseException) -> Finding:
    """The finding for ``where`` (a rule or an extractor) that raised ``exc``, logged as a
    defect: the exception class and the code's frames, not its message (which may quote mail)."""
    kind = type(exc).__name__
    frames = "".join(traceback.format_tb(exc.__traceback__)[-3:])
    log.error("analysis defect: %s raised %s\n%s", where, kind, frames)
    return _rule().finding(f"{where}: {kind}", where=where, error=kind)


def isolated(where: str, call: Callable[[], T], fallback: T, defects: list[Finding]) -> T:
    """``call()``; when it raises, ``fallback``, with the defect's finding added to ``defects``."""
    try:
        return call()
    except Exception as exc:  # any defect of one rule: recorded, the others still run
        defects.append(defect_finding(where, exc))
        return fallback


def isolated_findings(where: str, call: Callable[[], list[Finding]], defects: list[Finding]) -> list[Finding]:
    """:func:`isolated` for a rule that gives a list of findings (none when it raises)."""
    return isolated(where, call, [], defects)
