"""Traces of phishing kits: a kit's own name in the page's code (left there by the kit), and
code idioms kits share (``kit_names.txt``, ``kit_markers.txt``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from tap_core.click.rules.parse import Page
from tap_core.data import data_lines
from tap_core.detect.rules import Rule
from tap_core.model.findings import Finding


@cache
def kit_markers() -> re.Pattern[str]:
    return _whole_tokens(data_lines("click", "kit_markers.txt"))


@cache
def kit_names() -> re.Pattern[str]:
    return _whole_tokens(data_lines("click", "kit_names.txt"))


def _whole_tokens(entries: Iterable[str]) -> re.Pattern[str]:
    """Entries as whole tokens of lower-cased source: "log.txt" is not in "build-log.txt" nor
    "scama" in "scamadviser"; an entry's own punctuation ("$_session['") needs no boundary."""
    alternatives = []
    for entry in sorted(set(entries), key=len, reverse=True):
        head = r"(?<![\w-])" if entry[0].isalnum() else ""
        tail = r"(?![a-z0-9])" if entry[-1].isalnum() else ""
        alternatives.append(head + re.escape(entry) + tail)
    return re.compile("|".join(alternatives))


def _page_code(page: Page) -> str:
    """What the page's author wrote for machines, not readers: HTML comments, scripts and
    attribute values (paths, ids, classes), lower-cased."""
    parts = [page.scripts]
    root = page.tree.root
    document = root.parent if root is not None and root.parent is not None else root
    if document is None:
        return page.scripts.lower()
    for node in document.traverse(include_text=False):  # the document: comments around <html> too
        if node.tag == "-comment":
            parts.append(node.html or "")
        else:
            parts.extend(v for v in node.attributes.values() if v)
    return "\n".join(parts).lower()


def marker_findings(page: Page, rules: dict[str, Rule]) -> list[Finding]:
    """Kit names in the page's code (left there by the kit) and kit traces anywhere; a kit name
    only in the visible text (an article about the kit) is a trace. Several markers are
    stronger, up to a bound (the ``*_several`` variants)."""
    names = list(dict.fromkeys(kit_names().findall(page.lower)))
    named = list(dict.fromkeys(kit_names().findall(_page_code(page)))) if names else []
    traces = [m for m in dict.fromkeys([*names, *kit_markers().findall(page.lower)]) if m not in named]
    hits = [*named, *traces]
    if not hits:
        return []
    variant = "in_code" if named else "trace"
    if len(hits) > 1:
        variant += "_several"
    return [rules["page_kit_marker"].finding(", ".join(hits[:5]), variant, marker=hits[0])]
