"""The rule family of threat intelligence: one ``intel_<category>`` finding per feed and
category that lists the URL, its host or its domain. Such a finding decides alone."""

from __future__ import annotations

from tap_core.model.findings import Finding
from tap_core.urls.intel import IntelIndex
from tap_core.urls.rules.parse import rules


def intel_findings(url: str, intel: IntelIndex) -> list[Finding]:
    rule = rules()["intel"]
    out: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for hit in intel.match(url):
        if (hit.feed, hit.category) in seen:
            continue
        seen.add((hit.feed, hit.category))
        out.append(rule.finding(f"{hit.feed}: {hit.indicator} ({hit.kind.value})",
                                named=f"intel_{hit.category}", category=hit.category, feed=hit.feed))
    return out
