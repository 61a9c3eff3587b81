"""Time-of-click page analysis: what a fetched HTML page does, as named findings with evidence.

Pure: takes the page's text and its URL, returns findings. Every finding is a rule of
``tap_core/data/click/page_rules.toml`` (weights, variants and wordings are data); the word
lists are data too (see :mod:`tap_core.click.rules.words`). One module per family of rules:
credential forms (``forms``), sensitive-data forms and consent screens (``sensitive``), brands
and banks (``brand``), scripts (``scripts``), redirects and hidden frames (``redirects``), kit
markers (``markers``), what the page says (``text``); ``parse`` reads the page once for all.
"""

from __future__ import annotations

from functools import cache

from tap_core.click.rules.brand import bank_name_findings, brand_findings
from tap_core.click.rules.forms import form_findings, password_findings
from tap_core.click.rules.markers import marker_findings
from tap_core.click.rules.parse import parse, password_inputs
from tap_core.click.rules.redirects import iframe_findings, redirect_findings, redirect_targets
from tap_core.click.rules.scripts import script_findings
from tap_core.click.rules.sensitive import consent_findings, sensitive_form_findings
from tap_core.click.rules.text import attachment_findings, text_findings
from tap_core.detect.rules import Rule, family_rules
from tap_core.model.findings import Finding

__all__ = ["analyze_html", "page_rules", "redirect_targets"]


@cache
def page_rules() -> dict[str, Rule]:
    """The time-of-click rules (pages, downloads, what analysis could not do), by name."""
    return family_rules("click", "page_rules.toml")


def analyze_html(html: str, url: str) -> list[Finding]:
    """Findings for one HTML page as served at ``url`` (its final URL after redirects)."""
    rules = page_rules()
    page = parse(html, url)
    passwords = password_inputs(page)
    has_password = bool(passwords)
    findings = password_findings(passwords, rules)
    findings += form_findings(page, rules, has_password)
    sensitive = sensitive_form_findings(page, rules)
    findings += sensitive
    findings += consent_findings(page, rules)
    findings += bank_name_findings(page, rules, has_password)
    findings += brand_findings(page, rules, has_password)
    findings += script_findings(page, rules)
    findings += redirect_findings(page, rules)
    findings += iframe_findings(page, rules)
    findings += marker_findings(page, rules)
    findings += attachment_findings(page, rules)
    findings += text_findings(page, rules, has_password, bool(sensitive))
    return findings
