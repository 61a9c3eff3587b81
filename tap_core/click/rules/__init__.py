"""Time-of-click page analysis: what a fetched HTML page does, as named findings with evidence.

Pure: takes the page's text and its URL, returns findings. Every finding is a rule of
``tap_core/data/click/page_rules.toml`` (weights, variants and wordings are data); the word
lists are data too (see :mod:`tap_core.click.rules.words`). One module per family of rules:
credential forms (``forms``), sensitive-data forms and consent screens (``sensitive``), brands
and banks (``brand``), scripts (``scripts``), redirects and hidden frames (``redirects``), kit
markers (``markers``), what the page says (``text``); ``parse`` reads the page once for all.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from selectolax.lexbor import LexborNode

from tap_core.click.rules.brand import bank_name_findings, brand_findings
from tap_core.click.rules.forms import form_findings, password_findings
from tap_core.click.rules.markers import marker_findings
from tap_core.click.rules.parse import parse, password_inputs
from tap_core.click.rules.redirects import iframe_findings, redirect_findings, redirect_targets
from tap_core.click.rules.scripts import script_findings
from tap_core.click.rules.sensitive import consent_findings, sensitive_form_findings
from tap_core.click.rules.text import attachment_findings, text_findings
from tap_core.detect.defects import isolated, isolated_findings
from tap_core.detect.rules import Rule, family_rules
from tap_core.model.findings import Finding

__all__ = ["analyze_html", "page_rules", "redirect_targets"]


@cache
def page_rules() -> dict[str, Rule]:
    """The time-of-click rules (pages, downloads, what analysis could not do), by name."""
    return family_rules("click", "page_rules.toml")


def analyze_html(html: str, url: str) -> list[Finding]:
    """Findings for one HTML page as served at ``url`` (its final URL after redirects).

    Each family runs isolated: one that raises adds ``analysis_defect`` (see
    :mod:`tap_core.detect.defects`) and the others still run."""
    rules = page_rules()
    defects: list[Finding] = []
    page = isolated("page.parse", lambda: parse(html, url), None, defects)
    if page is None:
        return defects
    no_inputs: list[LexborNode] = []
    passwords = isolated("page.password_inputs", lambda: password_inputs(page), no_inputs, defects)
    has_password = bool(passwords)

    def run(name: str, family: Callable[[], list[Finding]]) -> list[Finding]:
        return isolated_findings(f"page.{name}", family, defects)

    findings = run("password_findings", lambda: password_findings(passwords, rules))
    findings += run("form_findings", lambda: form_findings(page, rules, has_password))
    sensitive = run("sensitive_form_findings", lambda: sensitive_form_findings(page, rules))
    findings += sensitive
    consent = run("consent_findings", lambda: consent_findings(page, rules))
    findings += consent
    findings += run("bank_name_findings", lambda: bank_name_findings(page, rules, has_password))
    # The secret the page asks for, as the clone rule names it.
    collects = "password" if has_password else ""
    if sensitive and not collects:
        collects = sensitive[0].evidence.split(" -> ")[0][:60]
    if consent and not collects:
        collects = "approval of a sign-in or of access to the account"
    findings += run("brand_findings", lambda: brand_findings(page, rules, collects))
    findings += run("script_findings", lambda: script_findings(page, rules))
    findings += run("redirect_findings", lambda: redirect_findings(page, rules))
    findings += run("iframe_findings", lambda: iframe_findings(page, rules))
    findings += run("marker_findings", lambda: marker_findings(page, rules))
    findings += run("attachment_findings", lambda: attachment_findings(page, rules))
    findings += run("text_findings", lambda: text_findings(page, rules, has_password, bool(sensitive)))
    return findings + defects
